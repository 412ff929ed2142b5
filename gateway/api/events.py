"""``GET /api/v1/events`` and ``GET /api/v1/events/<id>``."""

from __future__ import annotations

import base64

from flask import jsonify, request

from ..responses import ApiError
from ..state import get_state
from . import bp, serialize

MAX_LIMIT = 200


def encode_cursor(received_at: float, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{received_at!r}|{event_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        stamp, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return float(stamp), event_id
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid cursor: pass next_cursor from the previous page unchanged") from None


def _limit() -> int:
    raw = request.args.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}")
    return limit


@bp.get("/events")
def list_events():
    state = get_state()
    limit = _limit()
    cursor = request.args.get("cursor")
    rows = state.db.events.list(
        limit=limit + 1, before=decode_cursor(cursor) if cursor else None,
        source=request.args.get("source") or None, kind=request.args.get("kind") or None,
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].received_at, page[-1].id) if more else None
    return jsonify(items=[serialize.event_summary(row) for row in page], next_cursor=next_cursor)


@bp.get("/events/<event_id>")
def show_event(event_id: str):
    state = get_state()
    row = state.db.events.get(event_id)
    if row is None:
        raise ApiError(404, f"no event {event_id!r}")
    out = serialize.event_summary(row)
    out["event"] = row.body
    out["raw"] = row.raw
    out["decisions"] = [serialize.delivery(d) for d in state.db.deliveries.for_event(event_id)]
    return jsonify(out)

"""``GET /api/v1/events`` and ``GET /api/v1/events/<id>``."""

from __future__ import annotations

from flask import request

from gateway.responses import ApiError
from gateway.host.state import get_state
from gateway.admin.api.blueprint import bp
from gateway.admin.api import serialize
from gateway.admin.api.answers import answer
from gateway.admin.api.paging import decode_cursor, encode_cursor, page_limit


@bp.get("/events")
def list_events():
    state = get_state()
    limit = page_limit()
    cursor = request.args.get("cursor")
    rows = state.db.events.list(
        limit=limit + 1, before=decode_cursor(cursor) if cursor is not None else None,
        source=request.args.get("source") or None, kind=request.args.get("kind") or None,
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].received_at, page[-1].id) if more else None
    return answer("EventPage", {"items": [serialize.event_summary(row) for row in page], "next_cursor": next_cursor})


@bp.get("/events/<event_id>")
def show_event(event_id: str):
    state = get_state()
    row = state.db.events.get(event_id)
    if row is None:
        raise ApiError(404, f"no event {event_id!r}")
    return answer("EventDetail", serialize.event_detail(state, row))

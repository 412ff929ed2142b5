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
    source, kind = request.args.get("source") or None, request.args.get("kind") or None
    found = state.db.events.page(limit=limit + 1, before=decode_cursor(cursor) if cursor is not None else None,
                                 source=source, kind=kind)
    rows = found.rows
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].received_at, page[-1].id) if more else None
    if found.searched_to is not None:  # a short page: the search window ran out, older ones follow
        next_cursor = encode_cursor(*found.searched_to)
    return answer("EventPage", {"items": [serialize.event_summary(row) for row in page], "next_cursor": next_cursor,
                                "total": serialize.total(state.db.events.total(source=source, kind=kind))})


@bp.get("/events/<event_id>")
def show_event(event_id: str):
    state = get_state()
    row = state.db.events.get(event_id)
    if row is None:
        raise ApiError(404, f"no event {event_id!r}")
    return answer("EventDetail", serialize.event_detail(state, row))

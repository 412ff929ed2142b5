"""``/api/v1/deliveries`` (list, show, retry) and the per-integration ``replay`` and ``test``."""

from __future__ import annotations

from typing import Any

from flask import request

from ..delivery.sample import CannotSend, send_test_event
from ..plugins import MissingHook
from ..responses import ApiError
from ..state import get_state
from ..store.base import now
from ..store.deliveries import STATUSES, NotRetryable, UnknownEvents
from ..timestamps import parse_timestamp
from . import bp, json_body, serialize
from .answers import answer
from .integrations import get_integration_or_404
from .paging import decode_cursor, encode_cursor, page_limit

MAX_EVENT_IDS = 1000


def _since(value: Any, name: str = "since") -> float:
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise ApiError(400, f"invalid {name}: {exc}", {name: [str(exc)]}) from None


@bp.get("/deliveries")
def list_deliveries():
    state = get_state()
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"unknown status {status!r}; statuses: {', '.join(STATUSES)}", {"status": ["unknown status"]})
    since = request.args.get("since")
    cursor = request.args.get("cursor")
    limit = page_limit()
    rows = state.db.deliveries.list(
        integration_id=request.args.get("integration") or None, status=status,
        since=_since(since) if since is not None else None, limit=limit + 1,
        before=decode_cursor(cursor) if cursor is not None else None,
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more else None
    return answer("DeliveryPage", {"items": [serialize.delivery(row, with_attempts=False) for row in page],
                                   "next_cursor": next_cursor})


@bp.get("/deliveries/<delivery_id>")
def show_delivery(delivery_id: str):
    row = get_state().db.deliveries.get(delivery_id)
    if row is None:
        raise ApiError(404, f"no delivery {delivery_id!r}")
    return answer("Delivery", serialize.delivery(row))


@bp.post("/deliveries/<delivery_id>/retry")
def retry_delivery(delivery_id: str):
    state = get_state()
    try:
        row = state.db.deliveries.retry(delivery_id, now())
    except NotRetryable as exc:
        raise ApiError(409, f"delivery {delivery_id} cannot be retried: {exc}") from None
    if row is None:
        raise ApiError(404, f"no delivery {delivery_id!r}")
    state.notify_new_work()
    return answer("Delivery", serialize.delivery(row))


def _replay_request() -> dict[str, Any]:
    data = json_body()
    unknown = sorted(set(data) - {"since", "event_ids"})
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}; give 'since' or 'event_ids'")
    if ("since" in data) == ("event_ids" in data):
        raise ApiError(400, "give exactly one of 'since' (dead deliveries since a time) or 'event_ids' (a list)")
    if "since" in data:
        return {"since": _since(data["since"])}
    ids = data["event_ids"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise ApiError(400, "event_ids must be a non-empty list of event ids",
                       {"event_ids": ["must be a non-empty list of strings"]})
    if len(ids) > MAX_EVENT_IDS:
        raise ApiError(400, f"at most {MAX_EVENT_IDS} event ids at a time, got {len(ids)}")
    return {"event_ids": ids}


@bp.post("/integrations/<integration_id>/replay")
def replay_integration(integration_id: str):
    state = get_state()
    row = get_integration_or_404(state, integration_id)
    options = _replay_request()
    try:
        result = state.db.deliveries.replay(row.id, row.plugin, now=now(), **options)
    except UnknownEvents as exc:
        raise ApiError(404, f"{exc}; nothing was re-queued", {"event_ids": [str(exc)]}) from None
    if result.requeued or result.created:
        state.notify_new_work()
    return answer("ReplayResult", {"integration_id": row.id, "requeued": result.requeued + result.created,
                                   "created": result.created, "in_flight": result.in_flight, "enabled": row.enabled})


@bp.post("/integrations/<integration_id>/test")
def test_integration(integration_id: str):
    state = get_state()
    row = get_integration_or_404(state, integration_id)
    try:
        sent = send_test_event(state, row)
    except MissingHook:
        raise ApiError(404, f"plugin {row.plugin!r} has no test event (it does not implement 'test_event')") from None
    except CannotSend as exc:
        raise ApiError(exc.status, exc.message) from None
    return answer("TestSend", {"event_id": sent.event_id, "outcome": sent.report.outcome, "status": sent.delivery.status,
                               "reason": sent.delivery.reason, "delivery": serialize.delivery(sent.delivery)})

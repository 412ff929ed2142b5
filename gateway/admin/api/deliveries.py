"""``/api/v1/deliveries`` (list, show, retry) and the per-integration ``replay``, ``override`` and ``test``."""

from __future__ import annotations

from flask import request

from gateway.admin import operations
from gateway.admin.operations import _since
from gateway.responses import ApiError
from gateway.host.state import get_state
from gateway.store.deliveries import STATUSES
from gateway.admin.api.blueprint import bp, json_body
from gateway.admin.api import serialize
from gateway.admin.api.answers import answer
from gateway.admin.api.integrations import get_integration_or_404
from gateway.admin.api.paging import decode_cursor, encode_cursor, page_limit


@bp.get("/deliveries")
def list_deliveries():
    state = get_state()
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"unknown status {status!r}; statuses: {', '.join(STATUSES)}", {"status": ["unknown status"]})
    since = request.args.get("since")
    cursor = request.args.get("cursor")
    limit = page_limit()
    integration_id, since_at = request.args.get("integration") or None, _since(since) if since is not None else None
    found = state.db.deliveries.page(integration_id=integration_id, status=status, since=since_at, limit=limit + 1,
                                     before=decode_cursor(cursor) if cursor is not None else None)
    rows = found.rows
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more else None
    if found.searched_to is not None:  # a short page: the search window ran out, older ones follow
        next_cursor = encode_cursor(*found.searched_to)
    total = state.db.deliveries.total(integration_id=integration_id, status=status, since=since_at)
    return answer("DeliveryPage", {"items": [serialize.delivery(row, with_attempts=False) for row in page],
                                   "next_cursor": next_cursor, "total": serialize.total(total)})


@bp.get("/deliveries/<delivery_id>")
def show_delivery(delivery_id: str):
    row = get_state().db.deliveries.get(delivery_id)
    if row is None:
        raise ApiError(404, f"no delivery {delivery_id!r}")
    return answer("Delivery", serialize.delivery(row))


@bp.post("/deliveries/<delivery_id>/retry")
def retry_delivery(delivery_id: str):
    return answer("Delivery", serialize.delivery(operations.retry_delivery(get_state(), delivery_id, "api")))


@bp.post("/integrations/<integration_id>/replay")
def replay_integration(integration_id: str):
    state = get_state()
    get_integration_or_404(state, integration_id)
    return answer("ReplayResult", operations.replay_integration(state, integration_id, json_body(), "api"))


@bp.post("/integrations/<integration_id>/override")
def override_integration(integration_id: str):
    state = get_state()
    get_integration_or_404(state, integration_id)
    return answer("OverrideResult", operations.override_delivery(state, integration_id, json_body(), "api"))


@bp.post("/integrations/<integration_id>/test")
def test_integration(integration_id: str):
    sent = operations.test_integration(get_state(), integration_id, "api")
    return answer("TestSend", {"event_id": sent.event_id, "outcome": sent.report.outcome, "status": sent.delivery.status,
                               "reason": sent.delivery.reason, "delivery": serialize.delivery(sent.delivery)})

"""``/api/v1/integrations``: create, list, show, change, remove; status checks and their actions."""

from __future__ import annotations

from typing import Any

import marshmallow
from flask import request

from ..checks import CheckError, run_action, run_status
from ..responses import ApiError
from ..state import GatewayState, get_state
from ..validation import InvalidInput, flatten_errors
from . import bp, json_body, serialize
from .answers import answer
from .schemas import IntegrationCreateSchema, IntegrationUpdateSchema


def _load(schema: marshmallow.Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except marshmallow.ValidationError as exc:
        raise ApiError(400, "invalid integration", flatten_errors(exc.messages)) from None


def get_integration_or_404(state: GatewayState, integration_id: str):
    row = state.db.integrations.get(integration_id)
    if row is None:
        raise ApiError(404, f"no integration {integration_id!r}")
    return row


@bp.get("/integrations")
def list_integrations():
    state = get_state()
    return answer("IntegrationList", {"items": [serialize.integration(state, row) for row in state.db.integrations.list()]})


@bp.post("/integrations")
def create_integration():
    state = get_state()
    data = _load(IntegrationCreateSchema(), json_body())
    try:
        row = state.integrations.create(data)
    except InvalidInput as exc:
        raise ApiError(400, "invalid integration", exc.errors) from None
    return answer("Integration", serialize.integration(state, row), 201)


@bp.get("/integrations/<integration_id>")
def show_integration(integration_id: str):
    state = get_state()
    return answer("Integration", serialize.integration(state, get_integration_or_404(state, integration_id)))


@bp.patch("/integrations/<integration_id>")
def update_integration(integration_id: str):
    state = get_state()
    row = get_integration_or_404(state, integration_id)
    data = _load(IntegrationUpdateSchema(), json_body())
    try:
        row = state.integrations.update(row, data)
    except InvalidInput as exc:
        raise ApiError(400, "invalid integration", exc.errors) from None
    if data.get("enabled"):
        state.notify_new_work()  # held deliveries resume
    return answer("Integration", serialize.integration(state, row))


@bp.delete("/integrations/<integration_id>")
def delete_integration(integration_id: str):
    state = get_state()
    get_integration_or_404(state, integration_id)
    try:
        state.integrations.remove(integration_id)
    except InvalidInput as exc:
        raise ApiError(409, exc.errors["integration"][0]) from None
    return "", 204


@bp.get("/integrations/<integration_id>/status")
def integration_status(integration_id: str):
    state = get_state()
    active = state.integrations.active(get_integration_or_404(state, integration_id))
    try:
        return answer("Status", run_status(state, active))
    except CheckError as exc:
        raise ApiError(exc.status, exc.message) from None


@bp.post("/integrations/<integration_id>/actions/<action>")
def integration_action(integration_id: str, action: str):
    state = get_state()
    active = state.integrations.active(get_integration_or_404(state, integration_id))
    params = json_body() if request.get_data(cache=True) else {}
    try:
        return answer("ActionResult", {"action": action, "message": run_action(state, active, action, params)})
    except CheckError as exc:
        raise ApiError(exc.status, exc.message) from None

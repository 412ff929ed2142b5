"""``/api/v1/integrations``: create, list, show, change, remove; status checks and their actions."""

from __future__ import annotations

from typing import Any

import marshmallow
from flask import jsonify, request

from ..checks import CheckError, run_action
from ..status import integration_status as stored_status
from ..responses import ApiError
from ..state import GatewayState, get_state
from ..validation import InvalidInput, flatten_errors
from . import bp, json_body, serialize
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
    return jsonify(items=[serialize.integration(state, row) for row in state.db.integrations.list()])


@bp.post("/integrations")
def create_integration():
    state = get_state()
    data = _load(IntegrationCreateSchema(), json_body())
    try:
        row = state.integrations.create(data)
    except InvalidInput as exc:
        raise ApiError(400, "invalid integration", exc.errors) from None
    return jsonify(serialize.integration(state, row)), 201


@bp.get("/integrations/<integration_id>")
def show_integration(integration_id: str):
    state = get_state()
    return jsonify(serialize.integration(state, get_integration_or_404(state, integration_id)))


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
    return jsonify(serialize.integration(state, row))


@bp.delete("/integrations/<integration_id>")
def delete_integration(integration_id: str):
    state = get_state()
    get_integration_or_404(state, integration_id)
    try:
        state.integrations.remove(integration_id)
    except InvalidInput as exc:
        raise ApiError(409, exc.errors["integration"][0]) from None
    return "", 204


def refresh_param() -> bool:
    """``?refresh=1`` runs the checks now; without it the stored result is served."""
    value = request.args.get("refresh")
    if value is None:
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no", ""):
        return False
    raise ApiError(400, f"refresh must be 1 or 0, got {value!r}")


@bp.get("/integrations/<integration_id>/status")
def integration_status(integration_id: str):
    state = get_state()
    active = state.integrations.active(get_integration_or_404(state, integration_id))
    refresh = refresh_param()
    try:
        return jsonify(stored_status(state, active, refresh=refresh))
    except CheckError as exc:
        raise ApiError(exc.status, exc.message) from None


@bp.post("/integrations/<integration_id>/actions/<action>")
def integration_action(integration_id: str, action: str):
    state = get_state()
    active = state.integrations.active(get_integration_or_404(state, integration_id))
    params = json_body() if request.get_data(cache=True) else {}
    try:
        return jsonify(action=action, message=run_action(state, active, action, params))
    except CheckError as exc:
        raise ApiError(exc.status, exc.message) from None

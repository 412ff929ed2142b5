"""``/api/v1/integrations``: create, list, show, change, remove; status checks and their actions."""

from __future__ import annotations

from typing import Any

import marshmallow
from flask import jsonify, request

from ..version import __version__
from ..declarations import StatusCheck
from ..http import HttpClient, make_session
from ..inbound import Rejected
from ..plugins import MissingHook
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


def http_client_for(state: GatewayState, active) -> HttpClient:
    """The core's HTTP client, as plugins get it, for one integration."""
    return HttpClient(
        make_session(), connect_timeout=state.settings.connect_timeout,
        read_timeout=state.settings.read_timeout, allow_private=state.settings.allow_private_targets,
        secrets=active.secret_values(), user_agent=f"event-gateway/{__version__}",
    )


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
    state.db.integrations.delete(integration_id)
    state.integrations.forget(integration_id)
    return "", 204


def _active_for_plugin_call(state: GatewayState, integration_id: str):
    active = state.integrations.active(get_integration_or_404(state, integration_id))
    if active.error:
        raise ApiError(409, f"integration cannot be used: {active.error}")
    return active


def _check(check: Any) -> dict[str, Any]:
    if not isinstance(check, StatusCheck):
        return {"name": "plugin", "state": "error", "message": f"the status hook returned {type(check).__name__}"}
    out = {"name": check.name, "state": check.state, "message": check.message}
    if check.action:
        out["action"] = check.action
        out["action_params"] = check.action_params
    return out


@bp.get("/integrations/<integration_id>/status")
def integration_status(integration_id: str):
    state = get_state()
    active = _active_for_plugin_call(state, integration_id)
    try:
        checks = state.host.call(active.plugin.key, "integration_status", config=active.config,
                                 http=http_client_for(state, active), integration=active.ref)
    except MissingHook:
        checks = []
    except Exception as exc:
        checks = [StatusCheck("plugin", "error", f"the status hook raised {type(exc).__name__}: {exc}")]
    items = [_check(c) for c in checks or []]
    overall = "error" if any(c["state"] == "error" for c in items) else (
        "warning" if any(c["state"] == "warning" for c in items) else "ok")
    return jsonify(integration_id=integration_id, state=overall, checks=items)


@bp.post("/integrations/<integration_id>/actions/<action>")
def integration_action(integration_id: str, action: str):
    state = get_state()
    active = _active_for_plugin_call(state, integration_id)
    params = json_body() if request.get_data(cache=True) else {}
    try:
        message = state.host.call(active.plugin.key, "integration_action", action=action, params=params,
                                  config=active.config, http=http_client_for(state, active),
                                  integration=active.ref)
    except MissingHook:
        raise ApiError(404, f"plugin {active.plugin.key!r} offers no actions") from None
    except Rejected as exc:
        raise ApiError(exc.status, exc.message) from None
    return jsonify(action=action, message=str(message))

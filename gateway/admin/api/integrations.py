"""``/api/v1/integrations``: create, list, show, change, remove; status checks and their actions."""

from __future__ import annotations

from flask import request

from gateway.admin import operations
from gateway.admin.operations import get_integration_or_404
from gateway.admin.roles import ADMIN, require
from gateway.host.state import get_state
from gateway.responses import ApiError
from gateway.admin.api.blueprint import bp, json_body
from gateway.admin.api import serialize
from gateway.admin.api.answers import answer

__all__ = ["get_integration_or_404"]


@bp.get("/integrations")
def list_integrations():
    state = get_state()
    return answer("IntegrationList", {"items": [serialize.integration(state, row) for row in state.db.integrations.list()]})


@bp.post("/integrations")
def create_integration():
    state = get_state()
    row = operations.create_integration(state, json_body(), "api")
    return answer("Integration", serialize.integration(state, row), 201)


@bp.get("/integrations/<integration_id>")
def show_integration(integration_id: str):
    state = get_state()
    return answer("Integration", serialize.integration(state, get_integration_or_404(state, integration_id)))


@bp.patch("/integrations/<integration_id>")
def update_integration(integration_id: str):
    state = get_state()
    get_integration_or_404(state, integration_id)
    body = json_body()
    if set(body) - {"enabled"}:  # enabling and disabling is an operator's; editing an admin's
        require(ADMIN)
    row = operations.update_integration(state, integration_id, body, "api")
    return answer("Integration", serialize.integration(state, row))


@bp.delete("/integrations/<integration_id>")
def delete_integration(integration_id: str):
    operations.delete_integration(get_state(), integration_id, "api")
    return "", 204


def refresh_param() -> bool:
    """``?refresh=1`` runs the checks now; without it the stored result is served."""
    value = request.args.get("refresh")
    if value is None:
        return False
    if value in ("0", "1"):
        return value == "1"
    raise ApiError(400, f"refresh must be 1 or 0, got {value!r}", {"refresh": ["must be 1 or 0"]})


@bp.get("/integrations/<integration_id>/status")
def integration_status(integration_id: str):
    return answer("Status", operations.integration_status(get_state(), integration_id, refresh=refresh_param()))


@bp.post("/integrations/<integration_id>/actions/<action>")
def integration_action(integration_id: str, action: str):
    state = get_state()
    get_integration_or_404(state, integration_id)
    params = json_body() if request.get_data(cache=True) else {}
    return answer("ActionResult", {"action": action,
                                   "message": operations.integration_action(state, integration_id, action, params, "api")})

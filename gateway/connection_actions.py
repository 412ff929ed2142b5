"""The admin actions on the flag-platform connection, shared by the admin API, the web UI and the CLI: each
calls :class:`gateway.flagplatform.connection.ConnectionService`, records the action with its origin
(:mod:`gateway.audit`), and raises :class:`gateway.responses.ApiError` with the status and message
the API answers when it cannot be done."""

from __future__ import annotations

from typing import Any

from . import audit
from .flagplatform.connection import ConnectionProblem
from .responses import ApiError
from .state import GatewayState
from .validation import InvalidInput


def _refused(what: str, origin: str, status: int) -> None:
    audit.record(what, origin, result=f"refused ({status})")


def connect(state: GatewayState, body: Any, origin: str) -> dict[str, Any]:
    """Store the connection (a new one, or changes to the current one) and wire the webhook."""
    try:
        result = state.connection.connect(body)
    except InvalidInput as exc:
        _refused("connection.connect", origin, 400)
        raise ApiError(400, "invalid connection", exc.errors) from None
    except ConnectionProblem as exc:
        _refused("connection.connect", origin, exc.status)
        raise ApiError(exc.status, exc.message) from None
    shown = result.get("connection") or {}
    webhook = result.get("webhook")
    audit.record("connection.connect", origin, api_url=shown.get("api_url"), public_url=shown.get("public_url"),
                 webhook=webhook["action"] if webhook else "not wired",
                 webhook_id=webhook["id"] if webhook else None)
    return result


def disconnect(state: GatewayState, *, keep_webhook: bool, origin: str) -> dict[str, Any]:
    """Forget the connection and delete the webhook it wired (unless ``keep_webhook``)."""
    try:
        result = state.connection.disconnect(keep_webhook=keep_webhook)
    except ConnectionProblem as exc:
        _refused("connection.disconnect", origin, exc.status)
        raise ApiError(exc.status, exc.message) from None
    audit.record("connection.disconnect", origin, webhook=result["webhook"], webhook_id=result["webhook_id"])
    return result


def rotate_secret(state: GatewayState, origin: str) -> dict[str, Any]:
    """A new webhook signing secret; the previous one stays valid for the grace period."""
    try:
        result = state.connection.rotate_secret()
    except ConnectionProblem as exc:
        _refused("connection.rotate_secret", origin, exc.status)
        raise ApiError(exc.status, exc.message) from None
    audit.record("connection.rotate_secret", origin, result="rotated")
    return result


def rewire(state: GatewayState, origin: str) -> dict[str, Any]:
    """Create or update the webhook again with the stored settings."""
    try:
        wired = state.connection.rewire()
    except ConnectionProblem as exc:
        _refused("connection.rewire", origin, exc.status)
        raise ApiError(exc.status, exc.message) from None
    audit.record("connection.rewire", origin, webhook=wired["action"], webhook_id=wired["id"])
    return wired

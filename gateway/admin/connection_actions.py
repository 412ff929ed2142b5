"""The admin actions on the flag-platform connection, shared by the admin API, the web UI and the CLI: each
calls :class:`gateway.flagplatform.connection.ConnectionService` with its origin (the service writes the
action's audit log entry with the change, :mod:`gateway.host.audit`), and raises
:class:`gateway.responses.ApiError` with the status and message the API answers when it cannot be done
(a refusal that changed nothing is recorded here, in a transaction of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gateway.host import audit
from gateway.flagplatform.connection import ConnectionProblem
from gateway.responses import ApiError
from gateway.host.state import GatewayState
from gateway.validation import InvalidInput


@contextmanager
def _refused_as_api_error(what: str, origin: str) -> Iterator[None]:
    """Record a refused action with its status, and raise it as the API answers it."""
    try:
        yield
    except InvalidInput as exc:
        audit.record(what, origin, result="refused (400)")
        raise ApiError(400, "invalid connection", exc.errors) from None
    except ConnectionProblem as exc:
        if not exc.recorded:
            audit.record(what, origin, result=f"refused ({exc.status})")
        raise ApiError(exc.status, exc.message) from None


def connect(state: GatewayState, body: Any, origin: str) -> dict[str, Any]:
    """Store the connection (a new one, or changes to the current one) and wire the webhook."""
    with _refused_as_api_error("connection.connect", origin):
        result = state.connection.connect(body, origin)
    return result


def disconnect(state: GatewayState, *, keep_webhook: bool, origin: str) -> dict[str, Any]:
    """Forget the connection and delete the webhook it wired (unless ``keep_webhook``)."""
    with _refused_as_api_error("connection.disconnect", origin):
        result = state.connection.disconnect(keep_webhook=keep_webhook, origin=origin)
    if state.catchup is not None:  # a later connection catches up from when it is made, not from now
        state.catchup.forget_cursor()
    return result


def rotate_secret(state: GatewayState, origin: str) -> dict[str, Any]:
    """A new webhook signing secret; the previous one stays valid for the grace period."""
    with _refused_as_api_error("connection.rotate_secret", origin):
        result = state.connection.rotate_secret(origin)
    return result


def rewire(state: GatewayState, origin: str) -> dict[str, Any]:
    """Create or update the webhook again with the stored settings."""
    with _refused_as_api_error("connection.rewire", origin):
        wired = state.connection.rewire(origin)
    return wired

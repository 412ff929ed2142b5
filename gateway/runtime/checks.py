"""A configured integration's status checks and the actions they offer (the plugin's
``integration_status`` and ``integration_action`` hooks), for the API and the CLI alike."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from gateway.host.declarations import StatusCheck
from gateway.outbound.http import make_session
from gateway.redaction import redact
from gateway.host.inbound_request import Rejected
from gateway.host.integrations import ActiveIntegration
from gateway.host.plugins import MissingHook
from gateway.host.state import GatewayState

log = logging.getLogger(__name__)


class CheckError(Exception):
    """The checks or the action cannot be run; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _usable(active: ActiveIntegration) -> None:
    if active.plugin is None or active.error:
        raise CheckError(409, f"integration cannot be used: {active.error}")


def _check(check: Any) -> dict[str, Any]:
    if not isinstance(check, StatusCheck):
        return {"name": "plugin", "state": "error",
                "message": "the plugin answered its checks with something that is not a check (a plugin error)"}
    out: dict[str, Any] = {"name": check.name, "state": check.state, "message": check.message}
    if check.action:
        out["action"] = check.action
        out["action_params"] = check.action_params
    return out


def run_status(state: GatewayState, active: ActiveIntegration) -> dict[str, Any]:
    """The plugin's checks of the integration, and the worst state among them (``ok`` when none)."""
    _usable(active)
    secrets = active.secret_values()
    try:
        with make_session() as session:
            checks = state.host.call(active.plugin.key, "integration_status", config=active.config,
                                     http=state.http_client(session, secrets), integration=active.ref)
    except MissingHook:
        checks = []
    except Exception:
        log.warning("plugin %r integration_status raised for integration %s:\n%s", active.plugin.key,
                    active.row.id, redact(traceback.format_exc(), secrets))
        checks = [StatusCheck("plugin", "error", f"the checks of plugin {active.plugin.key!r} failed with an error "
                                                 "in the plugin; the gateway's log has the details")]
    items = [_check(c) for c in checks or []]
    for item in items:
        item["message"] = redact(str(item["message"]), secrets)
    states = {item["state"] for item in items}
    overall = "error" if "error" in states else "warning" if "warning" in states else "ok"
    return {"integration_id": active.row.id, "state": overall, "checks": items}


def run_action(state: GatewayState, active: ActiveIntegration, action: str, params: dict[str, Any]) -> str:
    """Run an action a status check offers; returns what the plugin says it did."""
    _usable(active)
    secrets = active.secret_values()
    try:
        with make_session() as session:
            message = state.host.call(active.plugin.key, "integration_action", action=action, params=params,
                                      config=active.config, http=state.http_client(session, secrets),
                                      integration=active.ref)
    except MissingHook:
        raise CheckError(404, f"plugin {active.plugin.key!r} offers no actions") from None
    except Rejected as exc:
        raise CheckError(exc.status, redact(exc.message, secrets)) from None
    except Exception:
        log.warning("plugin %r integration_action %r raised for integration %s:\n%s", active.plugin.key, action,
                    active.row.id, redact(traceback.format_exc(), secrets))
        raise CheckError(502, f"the action {action!r} failed with an error in plugin {active.plugin.key!r}; "
                              "the gateway's log has the details") from None
    return redact(str(message), secrets)

"""The checks of the flag-platform connection: the webhook exists, is on, points at the gateway, is
signed, and events arrive from it."""

from __future__ import annotations

from datetime import datetime, timezone

from gateway.host.declarations import StatusCheck
from gateway.store.base import now
from gateway.flagplatform.client import FlagApiError
from gateway.flagplatform.connection import Connection, ConnectionService
from gateway.flagplatform.wiring import find_webhook

REWIRE = "rewire"
QUIET_SECONDS = 86400.0
"""After this long without an event from the webhook, the last-event check warns."""


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def connection_checks(service: ConnectionService, connection: Connection) -> list[StatusCheck]:
    """The webhook's checks, then the last catch-up's (once one has run)."""
    catchup = catchup_check(connection)
    return _webhook_checks(service, connection) + ([catchup] if catchup is not None else [])


def _webhook_checks(service: ConnectionService, connection: Connection) -> list[StatusCheck]:
    """Read the webhook from the platform and say what is wrong with it, and how to fix it."""
    fix = f"run the {REWIRE} action (event-gateway connection rewire) to set it up again"
    if not connection.webhook_id:
        error = connection.state.get("wiring_error")
        if error:
            return [StatusCheck("webhook exists", "error", f"no webhook is wired: {error}; {fix}", action=REWIRE)]
        return [StatusCheck("webhook exists", "warning", "the gateway manages no webhook (connected with wire=false): "
                            "set the webhook up by hand, or run the rewire action to let the gateway do it",
                            action=REWIRE)]
    try:
        with service.client(connection) as client:
            webhook = find_webhook(client, connection.webhook_url, connection.webhook_id)
    except FlagApiError as exc:
        return [StatusCheck("flag-platform API", "error" if not exc.retryable else "warning", exc.message)]
    checks = [StatusCheck("flag-platform API", "ok", f"the API token reads webhooks at {connection.api_url}")]
    if webhook is None:
        checks.append(StatusCheck("webhook exists", "error",
                                  f"webhook {connection.webhook_id} is gone from the flag platform and none "
                                  f"points at {connection.webhook_url}; {fix}", action=REWIRE))
        return checks
    webhook_id = webhook.get("_id") or connection.webhook_id
    checks.append(StatusCheck("webhook exists", "ok", f"webhook {webhook_id} ({webhook.get('name') or 'unnamed'})"))
    if webhook.get("on") is True:
        checks.append(StatusCheck("webhook on", "ok", "the webhook is on"))
    else:
        checks.append(StatusCheck("webhook on", "error", f"the webhook is turned off, so no flag change "
                                  f"reaches the gateway; {fix}, or turn it on in the flag platform", action=REWIRE))
    url = webhook.get("url")
    if isinstance(url, str) and url.rstrip("/") == connection.webhook_url:
        checks.append(StatusCheck("webhook URL", "ok", f"the webhook points at {connection.webhook_url}"))
    else:
        checks.append(StatusCheck("webhook URL", "error", f"the webhook points at {url!r}, not at "
                                  f"{connection.webhook_url}; {fix}", action=REWIRE))
    secret = webhook.get("secret")
    if webhook.get("sign") is False or ("secret" in webhook and not secret):
        checks.append(StatusCheck("webhook signed", "error", f"the webhook is not signed, so the gateway refuses "
                                  f"what it sends; {fix}", action=REWIRE))
    elif "secret" in webhook and secret not in connection.signing_secrets(now()):
        checks.append(StatusCheck("webhook signed", "error", "the webhook is signed with a secret the gateway "
                                  f"does not know (changed in the flag platform?), so its events are refused; {fix}",
                                  action=REWIRE))
    else:
        checks.append(StatusCheck("webhook signed", "ok", "the webhook is signed with the secret the gateway keeps"))
    checks.append(_last_event(connection))
    return checks


def catchup_check(connection: Connection) -> StatusCheck | None:
    """The last catch-up from the audit log: red when the API refused the token, amber when it
    caught flag changes whose webhook did not arrive (in the last day) or could not run; None
    before the first."""
    summary = connection.state.get("catchup")
    if not isinstance(summary, dict):
        return None
    window = f"{summary.get('window_from')} to {summary.get('window_to')}"
    finished = summary.get("finished_at")
    when = _when(finished) if isinstance(finished, (int, float)) else "?"
    if summary.get("error_status") in (401, 403):
        return StatusCheck("catch-up", "error", f"the audit-log API refused the token at {when}, so flag changes "
                           f"whose webhook is lost are not caught up: {summary.get('error')}")
    if summary.get("error"):
        return StatusCheck("catch-up", "warning", f"the last catch-up ({when}) failed and is tried again: "
                           f"{summary.get('error')}")
    gap = f"; {summary['gap']}" if summary.get("gap") else ""
    caught_at = summary.get("last_caught_at")
    if isinstance(caught_at, (int, float)) and now() - caught_at < QUIET_SECONDS:
        return StatusCheck("catch-up", "warning", f"catch-up took in {summary.get('last_caught')} flag change(s) "
                           f"at {_when(caught_at)} whose webhook did not arrive: webhooks are failing (see the "
                           f"last-event check and the flag platform's webhook page); last run {when} "
                           f"covered {window}{gap}")
    return StatusCheck("catch-up", "warning" if gap else "ok",
                       f"last catch-up {when} covered {window}: {summary.get('caught', 0)} missed change(s){gap}")


def _last_event(connection: Connection) -> StatusCheck:
    last = connection.state.get("last_event_at")
    if isinstance(last, (int, float)):
        return StatusCheck("last event", "ok", f"last signed event from the webhook received at {_when(last)}")
    wired_at = connection.state.get("wired_at")
    if isinstance(wired_at, (int, float)) and now() - wired_at > QUIET_SECONDS:
        return StatusCheck("last event", "warning", f"no signed event has arrived since the webhook was wired at "
                           f"{_when(wired_at)}: check that the flag platform can reach {connection.webhook_url}")
    return StatusCheck("last event", "ok", "no event from the webhook yet (none is expected until a change is made)")

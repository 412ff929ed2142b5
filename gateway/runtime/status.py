"""Stored check results: run the checks of an integration or of the flag-platform connection, keep
the result with its time, serve it without running the checks again, log a change to ``error``.

:class:`~gateway.runtime.check_runner.CheckRunner` runs them in the background; ``?refresh=1`` (API) and
``--refresh`` (CLI) run them at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from gateway.runtime.checks import _check, run_status
from gateway.host.declarations import StatusCheck
from gateway.flagplatform.checks import connection_checks
from gateway.flagplatform.connection import PLATFORM
from gateway.redaction import redact
from gateway.host.integrations import ActiveIntegration
from gateway.runtime.metrics import CheckGauge
from gateway.host.state import GatewayState
from gateway.store.base import now

log = logging.getLogger(__name__)

CONNECTION_SUBJECT = f"connection:{PLATFORM}"


def integration_subject(integration_id: str) -> str:
    return f"integration:{integration_id}"


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat().replace("+00:00", "Z")


def overall(items: list[dict[str, Any]]) -> str:
    states = {item["state"] for item in items}
    return "error" if "error" in states else "warning" if "warning" in states else "ok"


def _save(state: GatewayState, subject: str, label: str, items: list[dict[str, Any]],
          subject_updated_at: float) -> dict[str, Any]:
    checked_at = now()
    worst = overall(items)
    previous = state.db.check_results.save(subject, state=worst, checks=items, checked_at=checked_at,
                                           subject_updated_at=subject_updated_at)
    before = {c["name"]: c["state"] for c in previous.checks} if previous else {}
    for item in items:
        if item["state"] == "error" and before.get(item["name"]) != "error":
            log.error("check %r of %s changed to error: %s", item["name"], label, item["message"])
        elif item["state"] != "error" and before.get(item["name"]) == "error":
            log.info("check %r of %s is %s again: %s", item["name"], label, item["state"], item["message"])
    return {"state": worst, "checks": items, "checked_at": _iso(checked_at)}


def run_integration_checks(state: GatewayState, active: ActiveIntegration) -> dict[str, Any]:
    """Run the plugin's checks of the integration and store the result."""
    result = run_status(state, active)
    label = f"integration {active.row.id} ({active.row.name})"
    saved = _save(state, integration_subject(active.row.id), label, result["checks"], active.row.updated_at)
    return {"integration_id": active.row.id, **saved}


def integration_status(state: GatewayState, active: ActiveIntegration, *, refresh: bool = False) -> dict[str, Any]:
    """The stored result (checks run only when asked, or when none is stored yet). ``stale`` says the
    integration changed since the checks ran (the background checks will run them again soon)."""
    stored = None if refresh else stored_integration_status(state, active)
    if stored is None:
        return {**run_integration_checks(state, active), "stale": False}
    return stored


def stored_integration_status(state: GatewayState, active: ActiveIntegration) -> dict[str, Any] | None:
    """The stored result of the integration's checks as :func:`integration_status` gives it, or None
    when none is stored yet (nothing is run)."""
    stored = state.db.check_results.get(integration_subject(active.row.id))
    if stored is None:
        return None
    return {"integration_id": active.row.id, "state": stored.state, "checks": stored.checks,
            "checked_at": _iso(stored.checked_at), "stale": stored.subject_updated_at != active.row.updated_at}


def run_connection_checks(state: GatewayState) -> dict[str, Any] | None:
    """Check the flag-platform connection and store the result; None when there is no connection."""
    connection = state.connection.current()
    if connection is None:
        return None
    secrets = connection.secret_values()
    try:
        checks = connection_checks(state.connection, connection)
    except Exception:
        log.exception("the connection checks raised")
        checks = [StatusCheck("connection", "error", "the checks of the connection could not run (an internal error; "
                                                     "the gateway's log has the details)")]
    items = [_check(c) for c in checks]
    for item in items:
        item["message"] = redact(str(item["message"]), secrets)
    return _save(state, CONNECTION_SUBJECT, "the flag-platform connection", items, connection.updated_at)


def connection_status(state: GatewayState, *, refresh: bool = False) -> dict[str, Any] | None:
    connection = state.connection.current()
    if connection is None:
        return None
    stored = None if refresh else state.db.check_results.get(CONNECTION_SUBJECT)
    if stored is None:
        return {**run_connection_checks(state), "stale": False}
    return {"state": stored.state, "checks": stored.checks, "checked_at": _iso(stored.checked_at),
            "stale": stored.subject_updated_at != connection.updated_at}


def check_gauges(state: GatewayState) -> list[CheckGauge]:
    """Every stored check, labelled with its integration (for ``/metrics``)."""
    rows = {row.id: row for row in state.db.integrations.list()}
    gauges = []
    for result in state.db.check_results.list():
        kind, _, key = result.subject.partition(":")
        if kind == "integration":
            row = rows.get(key)
            if row is None:
                continue  # removed since
            who = (row.id, row.name, row.plugin)
        else:
            who = (result.subject, "flag-platform connection", key)
        for check in result.checks:
            gauges.append(CheckGauge(*who, check=str(check.get("name")), state=str(check.get("state")),
                                     checked_at=result.checked_at))
    return gauges

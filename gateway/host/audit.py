"""The record of admin actions and of the actions the gateway takes on its own: what was done, to
what, by whom, and where it came from (``api``, ``ui``, ``cli`` or ``automatic``).

Each action is one line on the ``gateway.audit`` logger and one row of the stored audit log
(``audit_log``, :mod:`gateway.store.audit_log`), written right after the change it records, in a
transaction of its own (the stores write a change in transactions of their own). Where a store
takes the entry (:func:`prepared`), it is written in the change's own transaction: a flag hold or
release (:class:`gateway.flagplatform.flag_actions.FlagHolds`), a token's creation or revocation. Secrets never appear:
callers pass ids, names and counts only.

Who: the token of the request (its name and role, :mod:`gateway.admin.tokens`) for the API and the UI;
``cli:<user>`` (the operating-system user, with the admin role: the CLI opens the database itself)
for the CLI; ``gateway`` for an automatic action.
"""

from __future__ import annotations

import getpass
import logging
from typing import Any

log = logging.getLogger("gateway.audit")

ORIGINS = frozenset({"api", "ui", "cli", "automatic"})
GATEWAY_ACTOR = "gateway"
ANONYMOUS = "anonymous"
# which detail names the object an action is about, and how the object is written
OBJECT_DETAILS = (("flag", "flag:{}"), ("delivery", "delivery:{}"), ("integration", "integration:{}"),
                  ("token", "token:{}"))


def current_actor(origin: str) -> tuple[str, str | None]:
    """Who acts, as (name, role): see the module's doc."""
    if origin == "automatic":
        return GATEWAY_ACTOR, None
    try:
        from flask import g, has_app_context

        principal = g.get("principal") if has_app_context() else None
    except RuntimeError:
        principal = None
    if principal is not None:
        return principal.name, principal.role
    if origin == "cli":
        try:
            user = getpass.getuser()
        except Exception:
            user = "unknown"
        return f"cli:{user}", "admin"
    return ANONYMOUS, None


def object_of(what: str, details: dict[str, Any]) -> str | None:
    """The object an action is about, e.g. ``integration:<id>`` or ``connection``."""
    if what.startswith("connection."):
        return "connection"
    for key, form in OBJECT_DETAILS:
        if details.get(key) is not None:
            return form.format(details[key])
    return None


def entry(what: str, origin: str, at: float, details: dict[str, Any]) -> dict[str, Any]:
    """The stored row of an action (see :func:`gateway.store.audit_log.insert`)."""
    actor, role = current_actor(origin)
    kept = {key: value if isinstance(value, (int, float, bool)) else str(value)
            for key, value in details.items() if value is not None}
    shown = " ".join(f"{key}={value}" for key, value in kept.items())
    return dict(at=at, actor=actor, role=role, origin=origin, action=what, object=object_of(what, kept),
                summary=f"{what}{' ' + shown if shown else ''}"[:2000], details=kept)


def _state_of(gateway_state: Any) -> Any:
    if gateway_state is not None:
        return gateway_state
    try:
        from flask import current_app, has_app_context

        if has_app_context():
            from gateway.host import EXTENSION_KEY

            return current_app.extensions.get(EXTENSION_KEY)
    except RuntimeError:
        pass
    return None


def log_line(row: dict[str, Any]) -> None:
    """The ``gateway.audit`` line of a stored row."""
    details = row["details"]
    shown = " ".join(f"{key}={value}" for key, value in details.items())
    # the line's form is unchanged since before the stored log; who acted is in ``audit_actor``
    log.info("admin action %s origin=%s%s", row["action"], row["origin"], f" {shown}" if shown else "",
             extra={"audit_action": row["action"], "audit_origin": row["origin"], "audit_details": details,
                    "audit_actor": row["actor"]})


def prepared(what: str, origin: str, /, **details: Any) -> dict[str, Any]:
    """An action's entry for a store to write in the change's own transaction; log it with
    :func:`log_line` once the change is committed."""
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    import time

    return entry(what, origin, time.time(), details)


def record(what: str, origin: str, /, gateway_state: Any = None, **details: Any) -> None:
    """Log and store one action, e.g. ``record("integration.create", "ui", integration="…")``.
    ``gateway_state``: the :class:`gateway.host.state.GatewayState` to store it with (default: the
    current app's; without either, the action is only logged)."""
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    import time

    row = entry(what, origin, time.time(), details)
    log_line(row)
    state = _state_of(gateway_state)
    if state is None:
        return
    try:
        state.db.audit_log.write(**row)
    except Exception:  # the change is made: say that its record could not be stored, do not undo it
        log.exception("the audit log entry of %s could not be stored", what)

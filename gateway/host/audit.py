"""The record of admin actions and of the actions the gateway takes on its own: what was done, to
what, by whom, and where it came from (``api``, ``ui``, ``cli`` or ``automatic``).

Each action is one line on the ``gateway.audit`` logger and one row of the stored audit log
(``audit_log``, :mod:`gateway.store.audit_log`). An action that changes what the gateway stores hands
its entry (:func:`pending`, or :func:`prepared` when everything about it is known beforehand) to the
store that makes the change, which writes it in the change's own transaction: the change and its
entry are committed together or not at all. The line is logged once the change is committed
(:meth:`Pending.log`, :func:`log_line`). An action that changes nothing stored (refused, or nothing
to do) is recorded with :func:`record`, in a transaction of its own. Secrets never appear: callers
pass ids, names and counts only.

Who: the token of the request (its name and role, :mod:`gateway.admin.tokens`) for the API and the UI;
``cli:<user>`` (the operating-system user, with the admin role: the CLI opens the database itself)
for the CLI; ``gateway`` for an automatic action.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import Callable
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


def _row(what: str, origin: str, at: float, actor: tuple[str, str | None], details: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value if isinstance(value, (int, float, bool)) else str(value)
            for key, value in details.items() if value is not None}
    shown = " ".join(f"{key}={value}" for key, value in kept.items())
    return dict(at=at, actor=actor[0], role=actor[1], origin=origin, action=what, object=object_of(what, kept),
                summary=f"{what}{' ' + shown if shown else ''}"[:2000], details=kept)


def entry(what: str, origin: str, at: float, details: dict[str, Any]) -> dict[str, Any]:
    """The stored row of an action (see :func:`gateway.store.audit_log.insert`)."""
    return _row(what, origin, at, current_actor(origin), details)


class Pending:
    """An action's entry for a store to write in the change's own transaction
    (:func:`gateway.store.audit_log.write_with`): called with the change's outcome, it gives the row.
    ``complete``, a function of that outcome, adds what is known only then (a new object's id, how
    many rows changed) to the details, in the places the details give them (a detail given as None is
    left out unless ``complete`` fills it); when it answers None the change did not happen and nothing
    is written. Who acts is taken when the entry is made (in the request). Once the change is committed,
    :meth:`log` writes the ``gateway.audit`` line of what was stored."""

    def __init__(self, what: str, origin: str, details: dict[str, Any],
                 complete: Callable[[Any], dict[str, Any] | None] | None = None):
        if origin not in ORIGINS:
            raise ValueError(f"unknown origin {origin!r}")
        self.what = what
        self.origin = origin
        self.details = details
        self._complete = complete
        self._actor = current_actor(origin)
        self.row: dict[str, Any] | None = None
        """The row last given to a store (None: none yet, or the change did not happen)."""

    def __call__(self, outcome: Any = None) -> dict[str, Any] | None:
        details = dict(self.details)
        if self._complete is not None:
            more = self._complete(outcome)
            if more is None:
                self.row = None
                return None
            details.update(more)
        self.row = _row(self.what, self.origin, time.time(), self._actor, details)
        return self.row

    def log(self) -> None:
        """The ``gateway.audit`` line of the stored entry (nothing when none was written)."""
        if self.row is not None:
            log_line(self.row)


def pending(what: str, origin: str, /, complete: Callable[[Any], dict[str, Any] | None] | None = None,
            **details: Any) -> Pending:
    """An action's :class:`Pending` entry, e.g. ``pending("integration.create", "api", integration=None,
    complete=lambda new_id: {"integration": new_id})``."""
    return Pending(what, origin, details, complete)


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
    return entry(what, origin, time.time(), details)


def record(what: str, origin: str, /, gateway_state: Any = None, **details: Any) -> None:
    """Log and store one action that changed nothing stored (refused, or nothing to do), in a
    transaction of its own, e.g. ``record("integration.override", "ui", result="refused (409)")``.
    ``gateway_state``: the :class:`gateway.host.state.GatewayState` to store it with (default: the
    current app's; without either, the action is only logged)."""
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    row = entry(what, origin, time.time(), details)
    log_line(row)
    state = _state_of(gateway_state)
    if state is None:
        return
    try:
        state.db.audit_log.write(**row)
    except Exception:  # nothing was changed: say that the record could not be stored
        log.exception("the audit log entry of %s could not be stored", what)

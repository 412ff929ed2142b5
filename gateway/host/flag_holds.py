"""The gateway's memory of which flags its integrations turned off, and for what (``FlagHolds``,
public plugin API as ``integration.flag_holds``): one hold per flag and environment, shared by every
integration, kept in the database (:mod:`gateway.store.flag_holds`); each hold and release is also an
automatic entry of the audit log, written in the same transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.host import audit

if TYPE_CHECKING:
    from gateway.store.flag_holds import FlagHoldStore


@dataclass(frozen=True)
class FlagHold:
    """A flag this gateway turned off: which, for what (``cause``, ``label`` for people), by which
    integration and when (``held_at``, seconds since the epoch)."""

    project_key: str
    environment_key: str
    flag_key: str
    cause: str
    label: str
    integration_id: str
    held_at: float


class FlagHolds:
    """Which flags this gateway turned off, and for what: one hold per flag and environment, shared by
    every integration. An integration records a hold once its action turned a flag off
    (:meth:`hold`; the last one wins) and removes it once one of its actions turned the flag back on
    (:meth:`release`); before turning a flag back on for a cause, it asks :meth:`holder` whether the
    flag is still off for that cause. A plugin finds it in ``integration.flag_holds`` (None where the
    gateway keeps no store, as in unit tests)."""

    def __init__(self, store: FlagHoldStore, integration_id: str):
        self._store = store
        self._integration_id = integration_id

    @staticmethod
    def _flag(project_key: str, environment_key: str, flag_key: str) -> str:
        if not all(isinstance(k, str) and k for k in (project_key, environment_key, flag_key)):
            raise ValueError("project_key, environment_key and flag_key must be non-empty strings")
        return f"{project_key}/{environment_key}/{flag_key}"

    def holder(self, project_key: str, environment_key: str, flag_key: str) -> FlagHold | None:
        """The hold on the flag, or None when this gateway did not turn it off (or turned it back on)."""
        row = self._store.get(self._flag(project_key, environment_key, flag_key))
        if row is None:
            return None
        return FlagHold(project_key, environment_key, flag_key, row.cause, row.label, row.integration_id, row.held_at)

    def hold(self, project_key: str, environment_key: str, flag_key: str, *, cause: str, label: str = "") -> None:
        """Record that this integration's action turned the flag off, for ``cause`` (at most 400 characters)."""
        from gateway.store.flag_holds import HoldRow

        if not isinstance(cause, str) or not cause or len(cause) > 400:
            raise ValueError("cause must be a string of 1 to 400 characters")
        flag = self._flag(project_key, environment_key, flag_key)
        entry = audit.prepared("flag.turned_off", "automatic", flag=flag, integration=self._integration_id, cause=cause)
        self._store.put(HoldRow(flag, self._integration_id, cause, label or cause, time.time()), audit=entry)
        audit.log_line(entry)

    def release(self, project_key: str, environment_key: str, flag_key: str) -> None:
        """Record that an action turned the flag back on: it is no longer off by this gateway."""
        flag = self._flag(project_key, environment_key, flag_key)
        entry = audit.prepared("flag.turned_on", "automatic", flag=flag, integration=self._integration_id)
        self._store.remove(flag, audit=entry)
        audit.log_line(entry)

    def __repr__(self) -> str:
        return f"FlagHolds(integration_id={self._integration_id!r})"

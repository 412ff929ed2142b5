"""The stored audit log (``audit_log``): one row per admin action or automatic action, newest
first when read, pruned after the audit retention.

A store that changes something takes the action's entry (``audit=``) and writes it with
:func:`write_with` in the change's own transaction: both are committed, or neither."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Mapping
from typing import Any, Union

from sqlalchemy import Connection, delete, or_, and_, select

from gateway.store.base import Repository, dumps, loads, reading, writing
from gateway.store.tables import audit_log


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: float
    actor: str
    role: str | None
    origin: str
    action: str
    object: str | None
    summary: str
    details: dict[str, Any]


def insert(connection: Connection, *, at: float, actor: str, role: str | None, origin: str, action: str,
           object: str | None, summary: str, details: dict[str, Any]) -> None:
    """Write one entry on ``connection`` (inside the caller's transaction)."""
    connection.execute(audit_log.insert().values(at=at, actor=actor, role=role, origin=origin, action=action,
                                                 object=object, summary=summary, details=dumps(details)))


Entry = Union[Mapping[str, Any], Callable[[Any], "Mapping[str, Any] | None"]]
"""An action's entry as a store takes it: the row itself, or a function of the change's outcome
(what the store made or found: a new row's id, the rows it changed) that gives the row, or None when
the outcome is no change to record (:class:`gateway.host.audit.Pending`)."""


def write_with(connection: Connection, entry: Entry | None, outcome: Any = None) -> None:
    """Write ``entry`` on ``connection``, inside the change's transaction (nothing for None)."""
    if entry is None:
        return
    row = entry(outcome) if callable(entry) else entry
    if row is not None:
        insert(connection, **row)


class AuditLogStore(Repository):
    def write(self, **entry: Any) -> None:
        """One entry, in a transaction of its own."""
        with writing(self.engine) as connection:
            insert(connection, **entry)

    def list(self, *, limit: int, before: tuple[float, int] | None = None, object: str | None = None,
             actor: str | None = None, action: str | None = None, since: float | None = None,
             until: float | None = None) -> list[AuditRow]:
        """Entries newest first, after the cursor ``before`` (an entry's ``at`` and ``id``)."""
        c = audit_log.c
        query = select(audit_log).order_by(c.at.desc(), c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(or_(c.at < before[0], and_(c.at == before[0], c.id < before[1])))
        if object is not None:
            query = query.where(c.object == object)
        if actor is not None:
            query = query.where(c.actor == actor)
        if action is not None:
            query = query.where(c.action == action)
        if since is not None:
            query = query.where(c.at >= since)
        if until is not None:
            query = query.where(c.at < until)
        with reading(self.engine) as connection:
            return [AuditRow(r.id, r.at, r.actor, r.role, r.origin, r.action, r.object, r.summary,
                             loads(r.details) or {}) for r in connection.execute(query)]

    def prune(self, before: float) -> int:
        """Remove the entries older than ``before``; how many."""
        with writing(self.engine) as connection:
            return connection.execute(delete(audit_log).where(audit_log.c.at < before)).rowcount

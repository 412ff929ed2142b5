"""The flag-platform connection: one row per platform, its config, sealed secrets and webhook state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update

from gateway.store import audit_log
from gateway.store.audit_log import Entry
from gateway.store.base import Repository, dumps, loads, now, reading, writing
from gateway.store.tables import connections


@dataclass(frozen=True)
class ConnectionRow:
    key: str
    config: dict[str, Any]
    secrets: str | None
    state: dict[str, Any]
    created_at: float
    updated_at: float


def _row(row) -> ConnectionRow:
    return ConnectionRow(key=row.key, config=loads(row.config) or {}, secrets=row.secrets,
                         state=loads(row.state) or {}, created_at=row.created_at, updated_at=row.updated_at)


def _locked_state(connection: Connection, key: str):
    """The row's stored state, locked until the caller's transaction ends (PostgreSQL; SQLite's
    writing transaction holds the database's write lock already). Without the lock, two merges at
    once on PostgreSQL would both read the same state and the later write would drop the earlier's
    keys: a catch-up summary written while the connect wires the webhook would take away the
    ``secret_set_on`` that makes webhooks be checked."""
    return connection.execute(select(connections.c.state).where(connections.c.key == key).with_for_update()).first()


def read_state(connection: Connection, key: str) -> dict[str, Any] | None:
    """The stored state of connection ``key`` (None when there is none), inside the caller's writing
    transaction, locked until it ends so that a merge in the same transaction writes on what was read."""
    row = _locked_state(connection, key)
    return (loads(row.state) or {}) if row is not None else None


def merge_state(connection: Connection, key: str, changes: dict[str, Any], *, touch: bool = False) -> bool:
    """Merge ``changes`` into the stored state of connection ``key``, inside the caller's transaction
    (``touch``: also count as a config change); False when there is no such connection. Merges
    at once (other processes, other nodes) each keep the other's keys."""
    row = _locked_state(connection, key)
    if row is None:
        return False
    values: dict[str, Any] = {"state": dumps({**(loads(row.state) or {}), **changes})}
    if touch:
        values["updated_at"] = now()
    connection.execute(update(connections).where(connections.c.key == key).values(**values))
    return True


class ConnectionStore(Repository):
    def get(self, key: str) -> ConnectionRow | None:
        with reading(self.engine) as connection:
            row = connection.execute(select(connections).where(connections.c.key == key)).first()
        return _row(row) if row else None

    def put(self, key: str, *, config: dict[str, Any], secrets: str | None, state: dict[str, Any],
            audit: Entry | None = None) -> ConnectionRow:
        """Create or replace the connection ``key``; ``audit``: an audit log entry written in the same
        transaction."""
        stamp = now()
        with writing(self.engine) as connection:
            existing = connection.execute(select(connections.c.created_at).where(connections.c.key == key)).first()
            values = dict(config=dumps(config), secrets=secrets, state=dumps(state), updated_at=stamp)
            if existing is None:
                connection.execute(connections.insert().values(key=key, created_at=stamp, **values))
            else:
                connection.execute(update(connections).where(connections.c.key == key).values(**values))
            audit_log.write_with(connection, audit)
        return self.get(key)

    def update_state(self, key: str, changes: dict[str, Any], *, touch: bool = False,
                     audit: Entry | None = None) -> bool:
        """Merge ``changes`` into the stored webhook state (``touch``: also count as a config change);
        False (and nothing written) when there is no connection ``key``. ``audit``: an audit log entry
        written in the same transaction."""
        with writing(self.engine) as connection:
            if not merge_state(connection, key, changes, touch=touch):
                return False
            audit_log.write_with(connection, audit)
        return True

    def delete(self, key: str, audit: Entry | None = None) -> bool:
        """Forget the connection ``key``; ``audit``: an audit log entry (given whether there was one)
        written in the same transaction."""
        with writing(self.engine) as connection:
            result = connection.execute(delete(connections).where(connections.c.key == key))
            audit_log.write_with(connection, audit, result.rowcount > 0)
        return bool(result.rowcount)

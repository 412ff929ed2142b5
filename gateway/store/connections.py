"""The flag-platform connection: one row per platform, its config, sealed secrets and webhook state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update

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


class ConnectionStore(Repository):
    def get(self, key: str) -> ConnectionRow | None:
        with reading(self.engine) as connection:
            row = connection.execute(select(connections).where(connections.c.key == key)).first()
        return _row(row) if row else None

    def put(self, key: str, *, config: dict[str, Any], secrets: str | None, state: dict[str, Any]) -> ConnectionRow:
        """Create or replace the connection ``key``."""
        stamp = now()
        with writing(self.engine) as connection:
            existing = connection.execute(select(connections.c.created_at).where(connections.c.key == key)).first()
            values = dict(config=dumps(config), secrets=secrets, state=dumps(state), updated_at=stamp)
            if existing is None:
                connection.execute(connections.insert().values(key=key, created_at=stamp, **values))
            else:
                connection.execute(update(connections).where(connections.c.key == key).values(**values))
        return self.get(key)

    def update_state(self, key: str, changes: dict[str, Any], *, touch: bool = False) -> None:
        """Merge ``changes`` into the stored webhook state (``touch``: also count as a config change)."""
        with writing(self.engine) as connection:
            row = connection.execute(select(connections.c.state).where(connections.c.key == key)).first()
            if row is None:
                return
            values: dict[str, Any] = {"state": dumps({**(loads(row.state) or {}), **changes})}
            if touch:
                values["updated_at"] = now()
            connection.execute(update(connections).where(connections.c.key == key).values(**values))

    def delete(self, key: str) -> bool:
        with writing(self.engine) as connection:
            result = connection.execute(delete(connections).where(connections.c.key == key))
        return bool(result.rowcount)

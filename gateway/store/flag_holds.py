"""Flag holds (``gateway.FlagHolds``): which flags this gateway turned off, and for what.

One row per flag and environment. An integration whose action turned a flag off writes it (taking
over an earlier one: the last cause that turned the flag off is the one that may turn it on); one of
its actions turning the flag back on removes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from gateway.store import audit_log
from gateway.store.base import Repository, reading, writing
from gateway.store.tables import flag_holds

_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@dataclass(frozen=True)
class HoldRow:
    flag: str
    integration_id: str
    cause: str
    label: str
    held_at: float


class FlagHoldStore(Repository):
    def get(self, flag: str) -> HoldRow | None:
        with reading(self.engine) as connection:
            row = connection.execute(select(flag_holds).where(flag_holds.c.flag == flag)).first()
        return HoldRow(**row._mapping) if row else None

    def put(self, row: HoldRow, audit: dict | None = None) -> None:
        """Record the hold; ``audit``: an audit log entry written in the same transaction."""
        values = {"flag": row.flag, "integration_id": row.integration_id, "cause": row.cause, "label": row.label,
                  "held_at": float(row.held_at)}
        with writing(self.engine) as connection:
            if audit is not None:
                audit_log.insert(connection, **audit)
            insert = _UPSERTS.get(connection.dialect.name)
            if insert is None:  # a database without INSERT ... ON CONFLICT
                connection.execute(delete(flag_holds).where(flag_holds.c.flag == row.flag))
                connection.execute(flag_holds.insert().values(values))
                return
            statement = insert(flag_holds).values(values)
            connection.execute(statement.on_conflict_do_update(
                index_elements=[flag_holds.c.flag],
                set_={name: statement.excluded[name] for name in ("integration_id", "cause", "label", "held_at")}))

    def remove(self, flag: str, audit: dict | None = None) -> None:
        """Forget the hold; ``audit``: an audit log entry written in the same transaction."""
        with writing(self.engine) as connection:
            if audit is not None:
                audit_log.insert(connection, **audit)
            connection.execute(delete(flag_holds).where(flag_holds.c.flag == flag))

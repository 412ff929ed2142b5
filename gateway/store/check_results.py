"""Stored results of the background checks: one row per checked subject (an integration, the connection)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exc, select, update

from gateway.store.base import Repository, dumps, loads, reading, writing
from gateway.store.tables import check_results


@dataclass(frozen=True)
class CheckResultRow:
    subject: str
    state: str
    checks: list[dict[str, Any]]
    checked_at: float
    subject_updated_at: float


def _row(row) -> CheckResultRow:
    return CheckResultRow(subject=row.subject, state=row.state, checks=loads(row.checks) or [],
                          checked_at=row.checked_at, subject_updated_at=row.subject_updated_at)


class CheckResultStore(Repository):
    def get(self, subject: str) -> CheckResultRow | None:
        with reading(self.engine) as connection:
            row = connection.execute(select(check_results).where(check_results.c.subject == subject)).first()
        return _row(row) if row else None

    def list(self) -> list[CheckResultRow]:
        with reading(self.engine) as connection:
            return [_row(row) for row in connection.execute(select(check_results).order_by(check_results.c.subject))]

    def save(self, subject: str, *, state: str, checks: list[dict[str, Any]], checked_at: float,
             subject_updated_at: float) -> CheckResultRow | None:
        """Store the result; returns the result it replaced (None for the first)."""
        values = dict(state=state, checks=dumps(checks), checked_at=checked_at,
                      subject_updated_at=subject_updated_at)
        current = select(check_results).where(check_results.c.subject == subject)
        with writing(self.engine) as connection:
            previous = connection.execute(current).first()
            if previous is None and self._inserted(connection, dict(subject=subject, **values)):
                return None
            if previous is None:  # another process stored the first result meanwhile
                previous = connection.execute(current).first()
            connection.execute(update(check_results).where(check_results.c.subject == subject).values(**values))
        return _row(previous) if previous else None

    @staticmethod
    def _inserted(connection, row: dict[str, Any]) -> bool:
        """Insert the first result; False when another process inserted one first (PostgreSQL: two
        check runs of one subject, say the background checks and a status request, may both find
        none; SQLite's writers take turns, so there it cannot happen)."""
        if connection.dialect.name == "sqlite":
            connection.execute(check_results.insert().values(**row))
            return True
        try:
            with connection.begin_nested():
                connection.execute(check_results.insert().values(**row))
        except exc.IntegrityError:
            return False
        return True

    def delete(self, subject: str) -> None:
        with writing(self.engine) as connection:
            connection.execute(delete(check_results).where(check_results.c.subject == subject))

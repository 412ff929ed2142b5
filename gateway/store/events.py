"""Events, written together with the decisions taken for them in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exc, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..events import Event
from .base import Repository, dumps, group_commit, loads, new_id, now, reading, writing
from .tables import deliveries, events
from .wakeups import announce


@dataclass(frozen=True)
class NewDecision:
    """A decision to record: ``pending`` (queued for delivery) or ``skipped`` with its reason."""

    integration_id: str
    plugin: str
    status: str
    reason: str
    next_attempt_at: float | None = None


@dataclass(frozen=True)
class Recorded:
    """The outcome of :meth:`EventStore.record`: the event's id and whether it was new."""

    event_id: str
    created: bool
    queued: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class EventRow:
    id: str
    source: str
    source_id: str
    integration_id: str | None
    kind: str
    title: str
    occurred_at: float
    received_at: float
    body: dict[str, Any]
    raw: Any

    def to_event(self) -> Event:
        data = dict(self.body)
        data["id"] = self.id
        data["raw"] = self.raw
        return Event.from_dict(data)


def dedupe_key(source: str, source_id: str, integration_id: str | None) -> str:
    """Events repeat per source (and, for inbound webhooks, per integration)."""
    return f"{source}|{integration_id or ''}|{source_id}"


def _row(row, with_raw: bool = True) -> EventRow:
    return EventRow(
        id=row.id, source=row.source, source_id=row.source_id, integration_id=row.integration_id,
        kind=row.kind, title=row.title, occurred_at=row.occurred_at, received_at=row.received_at,
        body=loads(row.body), raw=loads(row.raw) if with_raw else None,
    )


_INSERT_IGNORING_REPEATS = {
    "postgresql": postgresql.insert(events).on_conflict_do_nothing(index_elements=["dedupe_key"]),
    "sqlite": sqlite.insert(events).on_conflict_do_nothing(index_elements=["dedupe_key"]),
}


def _insert_event(dialect: str):
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING where the database has it: a repeat, even one
    committed by another node at the same moment, inserts nothing rather than failing; elsewhere a
    plain insert (the unique key fails it, and its savepoint is rolled back)."""
    return _INSERT_IGNORING_REPEATS.get(dialect, events.insert())


class EventStore(Repository):
    def find_duplicate(self, event: Event, integration_id: str | None = None) -> str | None:
        """The id of an earlier event with the same source id, if any."""
        key = dedupe_key(event.source, event.source_id, integration_id)
        with reading(self.engine) as connection:
            return connection.execute(select(events.c.id).where(events.c.dedupe_key == key)).scalar()

    def record(self, event: Event, decisions: list[NewDecision], integration_id: str | None = None,
               raw_json: str | None = None) -> Recorded:
        """Store ``event`` and its decisions in one transaction; a duplicate stores nothing.
        ``raw_json`` is the payload's JSON text as received, when the event is the whole body."""
        event_id = new_id()
        stamp = now()
        key = dedupe_key(event.source, event.source_id, integration_id)
        body = event.to_dict(include_raw=False)
        body["id"] = event_id
        def write(connection) -> bool:
            # A repeat (here, or committed meanwhile by another node) inserts nothing and stores nothing.
            inserted = connection.execute(_insert_event(connection.dialect.name), dict(
                id=event_id, source=event.source, source_id=event.source_id,
                integration_id=integration_id, dedupe_key=key, kind=event.kind,
                title=event.title[:2000], occurred_at=event.occurred_at.timestamp(),
                received_at=stamp, body=dumps(body), raw=raw_json if raw_json is not None else dumps(event.raw),
            )).rowcount
            if not inserted:
                return False
            if any(d.status == "pending" for d in decisions):
                announce(connection)
            if decisions:
                connection.execute(deliveries.insert(), [
                    dict(
                        id=new_id(), event_id=event_id, integration_id=d.integration_id,
                        plugin=d.plugin, status=d.status, reason=d.reason, attempts=0,
                        next_attempt_at=d.next_attempt_at, created_at=stamp, updated_at=stamp,
                    )
                    for d in decisions
                ])
            return True

        try:
            created = group_commit(self.engine).run(write, order=key)
        except exc.IntegrityError:  # a database without INSERT ... ON CONFLICT: the unique key said so
            existing = self.find_duplicate(event, integration_id)
            if existing is None:
                raise
            return Recorded(existing, created=False)
        if not created:
            existing = self.find_duplicate(event, integration_id)
            if existing is None:  # only if the first was deleted in between: not a duplicate after all
                return self.record(event, decisions, integration_id, raw_json)
            return Recorded(existing, created=False)
        queued = sum(1 for d in decisions if d.status == "pending")
        return Recorded(event_id, created=True, queued=queued, skipped=len(decisions) - queued)

    def set_fields(self, event_id: str, fields: dict[str, Any]) -> None:
        """Merge ``fields`` into the stored normalized event (names read after it arrived)."""
        with writing(self.engine) as connection:
            body = connection.execute(select(events.c.body).where(events.c.id == event_id)).scalar()
            if body is None:
                return
            merged = {**(loads(body) or {}), **fields}
            connection.execute(update(events).where(events.c.id == event_id).values(body=dumps(merged)))

    def get(self, event_id: str) -> EventRow | None:
        with reading(self.engine) as connection:
            row = connection.execute(select(events).where(events.c.id == event_id)).first()
        return _row(row) if row else None

    def list(self, *, limit: int = 50, before: tuple[float, str] | None = None,
             source: str | None = None, kind: str | None = None) -> list[EventRow]:
        """Newest first; ``before`` is the (received_at, id) of the last row of the previous page."""
        query = select(events).order_by(events.c.received_at.desc(), events.c.id.desc()).limit(limit)
        if before is not None:
            stamp, last_id = before
            query = query.where(or_(events.c.received_at < stamp,
                                    and_(events.c.received_at == stamp, events.c.id < last_id)))
        if source:
            query = query.where(events.c.source == source)
        if kind:
            query = query.where(events.c.kind == kind)
        with reading(self.engine) as connection:
            return [_row(row, with_raw=False) for row in connection.execute(query)]

"""Events, written together with the decisions taken for them in one transaction (including the
cooldowns their decisions claim, :mod:`.cooldowns`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, any_, bindparam, delete, exc, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.events import Event
from gateway.store import audit_log
from gateway.store.audit_log import Entry
from gateway.store.base import BatchCommit, DriverStatement, Repository, dumps, loads, new_id, now, reading, takes_arrays
from gateway.store.cooldowns import Claim, claim
from gateway.store.counting import Total, capped_count
from gateway.store.skips import KnownSets, SkipGroup, skip_rows, write_sets
from gateway.store.tables import deliveries, events, removed_event_keys
from gateway.store.tables import skips as skips_table
from gateway.store.wakeups import announce

if TYPE_CHECKING:
    from gateway.outcomes import Cooldown


@dataclass(frozen=True)
class NewDecision:
    """A decision to record: ``pending`` (queued for delivery) or ``skipped`` with its reason."""

    integration_id: str
    plugin: str
    status: str
    reason: str
    next_attempt_at: float | None = None
    cooldown: Cooldown | None = None  # pending only if it claims this cooldown (else skipped)


@dataclass(frozen=True)
class Recorded:
    """The outcome of :meth:`EventStore.record`: the event's id and whether it was new.
    ``cooled_down``: the integrations whose pending decision was skipped because another event
    holds its cooldown (counted in ``skipped``)."""

    event_id: str
    created: bool
    queued: int = 0
    skipped: int = 0
    cooled_down: tuple[str, ...] = ()


WINDOW = 5000
"""How many events of the kind a list filtered by source and kind looks through at most."""


@dataclass(frozen=True)
class EventPage:
    """A page of :meth:`EventStore.page`; ``searched_to``: the (received_at, id) where the search
    window ended before the page was full (older events were not looked at), else None."""

    rows: list[EventRow]
    searched_to: tuple[float, str] | None
    window: int


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


_REMOVED_KEYS = select(removed_event_keys.c.dedupe_key, removed_event_keys.c.event_id)
_REMOVED_AMONG = DriverStatement(_REMOVED_KEYS.where(removed_event_keys.c.dedupe_key == any_(bindparam("keys"))))
"""The look-up of every batch the intake writes, as one statement taking the keys as an array
(an ``IN`` list would be rendered, and its execution set up by SQLAlchemy, per batch)."""


def removed_event_ids(connection, keys: list[str]) -> dict[str, str]:
    """The de-duplication keys among ``keys`` of events retention removed, with those events' ids."""
    if not keys:
        return {}
    if takes_arrays(connection.dialect):
        return dict(_REMOVED_AMONG.execute(connection, {"keys": keys}).all())
    return dict(connection.execute(_REMOVED_KEYS.where(removed_event_keys.c.dedupe_key.in_(keys))).all())


def _row(row, with_raw: bool = True) -> EventRow:
    return EventRow(
        id=row.id, source=row.source, source_id=row.source_id, integration_id=row.integration_id,
        kind=row.kind, title=row.title, occurred_at=row.occurred_at, received_at=row.received_at,
        body=loads(row.body), raw=loads(row.raw) if with_raw else None,
    )


_DIALECT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_EVENT_COLUMNS = tuple(c.name for c in events.c)
EVENTS_PER_STATEMENT = 64
"""Most events one INSERT names (a larger batch takes one statement per this many)."""


class _InsertEvents:
    """``INSERT ... VALUES (...), (...) ON CONFLICT (dedupe_key) DO NOTHING`` for a given number of
    rows, where the database has it: a repeat, even one committed by another node at the same
    moment, inserts nothing rather than failing. The count of rows inserted tells whether all of
    them were new (nearly always); only when some were not does a query by id tell which. Each size
    is built and compiled once per database kind and run as driver SQL
    (:class:`~.base.DriverStatement`): building and executing a construct, and reading a
    ``RETURNING`` result through SQLAlchemy, cost more than the database's own work."""

    def __init__(self, dialect_name: str):
        self._insert = _DIALECT_INSERTS[dialect_name]
        self._by_size: dict[int, tuple[DriverStatement, list[tuple[tuple[str, str], ...]]]] = {}

    def _sized(self, size: int) -> tuple[DriverStatement, list[tuple[tuple[str, str], ...]]]:
        found = self._by_size.get(size)
        if found is None:
            names = [tuple((f"{column}_{n}", column) for column in _EVENT_COLUMNS) for n in range(size)]
            values = [{column: bindparam(name) for name, column in row} for row in names]
            statement = self._insert(events).values(values).on_conflict_do_nothing(index_elements=["dedupe_key"])
            found = self._by_size[size] = (DriverStatement(statement), names)
        return found

    def run(self, connection, rows: list[dict[str, Any]]) -> set[str]:
        """Insert ``rows`` (event rows, each with a new id); the ids of those inserted (not repeats)."""
        created: set[str] = set()
        short: list[str] = []  # ids of statements that inserted fewer rows than they were given
        for start in range(0, len(rows), EVENTS_PER_STATEMENT):
            chunk = rows[start:start + EVENTS_PER_STATEMENT]
            statement, names = self._sized(len(chunk))
            params = {name: row[column] for row, row_names in zip(chunk, names) for name, column in row_names}
            ids = [row["id"] for row in chunk]
            if statement.execute(connection, params).rowcount == len(chunk):
                created.update(ids)
            else:
                short.extend(ids)
        if short:  # the ids are new: those stored now are the rows these statements inserted
            created.update(connection.execute(select(events.c.id).where(events.c.id.in_(short))).scalars())
        return created


_INSERT_EVENTS = {name: _InsertEvents(name) for name in _DIALECT_INSERTS}

_INSERT_DELIVERIES = deliveries.insert()
_DELIVERY_COLUMNS = (("id", "varchar"), ("event_id", "varchar"), ("integration_id", "varchar"), ("plugin", "varchar"),
                     ("status", "varchar"), ("reason", "text"), ("attempts", "int"), ("next_attempt_at", "float8"),
                     ("created_at", "float8"), ("updated_at", "float8"))
_INSERT_DELIVERIES_POSTGRES = (
    f"INSERT INTO deliveries ({', '.join(name for name, _ in _DELIVERY_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"%({name})s::{kind}[]" for name, kind in _DELIVERY_COLUMNS) + ")")


def insert_deliveries(connection, rows: list[dict[str, Any]]) -> None:
    """Insert the delivery rows of a batch of events. On PostgreSQL with psycopg one statement takes
    them all as arrays: the driver's executemany sends one statement per row (in a pipeline), and
    that cost an intake node more of its time than any other part of the write."""
    if takes_arrays(connection.dialect):
        convert = {"int": int, "float8": float}
        connection.exec_driver_sql(_INSERT_DELIVERIES_POSTGRES, {  # one Python type per array
            name: [None if row[name] is None else convert.get(kind, str)(row[name]) for row in rows]
            for name, kind in _DELIVERY_COLUMNS})
    else:
        connection.execute(_INSERT_DELIVERIES, rows)


_INSERT_SKIPS = DriverStatement(skips_table.insert().inline(),
                                column_keys=("event_id", "set_id", "reason", "created_at"))
"""One row per skip group; run as driver SQL (see :class:`_InsertEvents`)."""


@dataclass
class _Write:
    """One event to record: its row, its delivery rows, its skip groups; ``claims``: the delivery
    rows that are written only if they claim their cooldown (each with its plugin)."""

    event: dict[str, Any]
    deliveries: list[dict[str, Any]]
    skips: list[SkipGroup]
    queued: int
    skipped: int
    written: bool = False  # its decisions were written (in the transaction being committed)
    claims: list[tuple[dict[str, Any], str, Cooldown]] = field(default_factory=list)
    claimed: _Claimed | None = None  # what its claims came to, in the transaction being committed
    audit: Entry | None = None  # an action's audit log entry, written with the event (given its id)


@dataclass
class _Claimed:
    """A job's decisions once its cooldowns are claimed (or refused)."""

    deliveries: list[dict[str, Any]]
    skips: list[SkipGroup]
    queued: int
    skipped: int
    cooled_down: tuple[str, ...]


class _WrittenFields:
    """The fields this process has merged into recent events (a bounded memory, newest kept)."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: OrderedDict[str, str] = OrderedDict()

    def has(self, event_id: str, fields: dict[str, Any]) -> bool:
        with self._lock:
            return self._written.get(event_id) == dumps(fields)

    def add(self, event_id: str, fields: dict[str, Any]) -> None:
        with self._lock:
            self._written[event_id] = dumps(fields)
            self._written.move_to_end(event_id)
            while len(self._written) > self.LIMIT:
                self._written.popitem(last=False)


_SET_BODY = update(events).where(events.c.id == bindparam("event_id")).values(body=bindparam("new_body"))


def _write_fields(connection, jobs: list[tuple[str, str]]) -> list[bool]:
    """:meth:`EventStore.set_fields` for several events at once (see :class:`BatchCommit`)."""
    bodies = dict(jobs)  # the same event twice (two of its deliveries): one write
    connection.execute(_SET_BODY, [{"event_id": event_id, "new_body": body} for event_id, body in bodies.items()])
    return [True] * len(jobs)


_FIELDS_POSTGRES = """
UPDATE events SET body = given.body
FROM unnest(%(event_ids)s::varchar[], %(bodies)s::text[]) AS given(id, body)
WHERE events.id = given.id"""


def _fields_in_one_statement(jobs: list[tuple[str, str]]):
    """For :class:`BatchCommit` on PostgreSQL with psycopg: the writes of ``jobs`` as one statement."""
    bodies = dict(jobs)

    def write(connection) -> list[bool]:
        connection.exec_driver_sql(_FIELDS_POSTGRES, {"event_ids": list(bodies), "bodies": list(bodies.values())})
        return [True] * len(jobs)

    return write


class EventStore(Repository):
    def __init__(self, engine):
        super().__init__(engine)
        self.sets = KnownSets()
        self.clock = now  # the time cooldowns are claimed at
        self._batches = BatchCommit(engine, self._write_batch, self._committed)
        self._fields = BatchCommit(engine, _write_fields,
                                   one_statement=_fields_in_one_statement if takes_arrays(engine.dialect) else None)
        self._fields_written = _WrittenFields()

    def release(self) -> None:
        """Give back the connections the batch writers keep (before a fork, when the database closes)."""
        self._batches.writer.release()
        self._fields.writer.release()

    def find_duplicate(self, event: Event, integration_id: str | None = None) -> str | None:
        """The id of an earlier event with the same source id, if any."""
        key = dedupe_key(event.source, event.source_id, integration_id)
        with reading(self.engine) as connection:
            found = connection.execute(select(events.c.id).where(events.c.dedupe_key == key)).scalar()
            return found or removed_event_ids(connection, [key]).get(key)

    def stored_id(self, source: str, source_id: str) -> str | None:
        """The id of the event stored for ``source`` and its ``source_id`` (not an inbound
        integration's), if any."""
        with reading(self.engine) as connection:
            return connection.execute(select(events.c.id).where(
                events.c.dedupe_key == dedupe_key(source, source_id, None))).scalar()

    def skip_group(self, reason: str, members: tuple[tuple[str, str], ...]) -> SkipGroup:
        """A skip of the integrations ``members`` ((id, plugin) pairs, sorted) with ``reason``."""
        return SkipGroup(reason, self.sets.make(members))

    def record(self, event: Event, decisions: list[NewDecision], integration_id: str | None = None,
               raw_json: str | None = None, skips: list[SkipGroup] = (), audit: Entry | None = None) -> Recorded:
        """Store ``event`` with its decisions in one transaction; a duplicate stores nothing.
        ``decisions`` are recorded one row each, except skipped ones, which are recorded like
        ``skips``: one row per reason, naming the set of integrations skipped with it.
        ``raw_json`` is the payload's JSON text as received, when the event is the whole body.
        ``audit``: an action's audit log entry (given the event's id), written in the same transaction
        when the event is stored (not for a duplicate)."""
        event_id = new_id()
        stamp = now()
        body = event.to_dict(include_raw=False)
        body["id"] = event_id
        groups = list(skips)
        by_reason: dict[str, list[tuple[str, str]]] = {}
        for d in decisions:
            if d.status == "skipped":
                by_reason.setdefault(d.reason, []).append((d.integration_id, d.plugin))
        groups += [self.skip_group(reason, tuple(sorted(members))) for reason, members in by_reason.items()]
        rows = []
        claims = []
        for d in decisions:
            if d.status != "skipped":
                rows.append(dict(id=new_id(), event_id=event_id, integration_id=d.integration_id, plugin=d.plugin,
                                 status=d.status, reason=d.reason, attempts=0, next_attempt_at=d.next_attempt_at,
                                 created_at=stamp, updated_at=stamp))
                if d.cooldown is not None:
                    claims.append((rows[-1], d.plugin, d.cooldown))
        job = _Write(
            event=dict(id=event_id, source=event.source, source_id=event.source_id,
                       integration_id=integration_id,
                       dedupe_key=dedupe_key(event.source, event.source_id, integration_id),
                       kind=event.kind, title=event.title[:2000], occurred_at=event.occurred_at.timestamp(),
                       received_at=stamp, body=dumps(body),
                       raw=raw_json if raw_json is not None else dumps(event.raw)),
            deliveries=rows, skips=groups,
            queued=sum(1 for d in decisions if d.status == "pending"),
            skipped=sum(len(g.members.members) for g in groups),
            claims=claims, audit=audit,
        )
        recorded = self._batches.run(job, order=job.event["dedupe_key"])
        if recorded is None:  # the first of a repeat was deleted in between: not a repeat after all
            return self.record(event, decisions, integration_id, raw_json, skips, audit)
        return recorded

    def _write_batch(self, connection, jobs: list[_Write]) -> list[Recorded | None]:
        """Every job's rows, one statement per table; a repeated dedupe key (here, or committed
        meanwhile by another process or node) stores nothing. Jobs come sorted by dedupe key, so
        that batches of two nodes lock the keys in one order. None for a repeat whose first was
        deleted before it could be read."""
        for j in jobs:
            j.written = False
            j.claimed = None
        insert_events = _INSERT_EVENTS.get(connection.dialect.name)
        if insert_events is None:  # a database without INSERT ... ON CONFLICT: one job at a time
            return [self._write_one(connection, job) for job in jobs]
        created = insert_events.run(connection, [j.event for j in jobs])
        # After the insert, not before: an event that retention removes meanwhile has its key here by
        # the time the insert no longer conflicts with it.
        removed = removed_event_ids(connection, [j.event["dedupe_key"] for j in jobs if j.event["id"] in created])
        if removed:
            again = [j.event["id"] for j in jobs if j.event["dedupe_key"] in removed]
            connection.execute(delete(events).where(events.c.id.in_(again)))
            created.difference_update(again)
        fresh = [j for j in jobs if j.event["id"] in created]
        self._write_decisions(connection, fresh)
        repeated = [j.event["dedupe_key"] for j in jobs if j.event["id"] not in created]
        first: dict[str, str] = dict(removed)
        if repeated:
            first.update(connection.execute(select(events.c.dedupe_key, events.c.id)
                                            .where(events.c.dedupe_key.in_(repeated))).all())
        return [self._recorded(j) if j.event["id"] in created else
                Recorded(first[j.event["dedupe_key"]], created=False) if j.event["dedupe_key"] in first else None
                for j in jobs]

    def _write_one(self, connection, job: _Write) -> Recorded:
        key = job.event["dedupe_key"]
        existing = connection.execute(select(events.c.id).where(events.c.dedupe_key == key)).scalar()
        existing = existing or removed_event_ids(connection, [key]).get(key)
        if existing is not None:
            return Recorded(existing, created=False)
        connection.execute(events.insert(), job.event)  # a repeat committed meanwhile fails the unique key
        self._write_decisions(connection, [job])
        return self._recorded(job)

    @staticmethod
    def _recorded(job: _Write) -> Recorded:
        claimed = job.claimed
        if claimed is None:
            return Recorded(job.event["id"], created=True, queued=job.queued, skipped=job.skipped)
        return Recorded(job.event["id"], created=True, queued=claimed.queued, skipped=claimed.skipped,
                        cooled_down=claimed.cooled_down)

    def _claim(self, connection, job: _Write) -> _Claimed:
        """Claim the job's cooldowns: a decision that claims its key is written with the claim in its
        reason; one whose key another event holds becomes a skip saying which and until when."""
        at = self.clock()
        replaced: dict[str, dict[str, Any] | None] = {}
        skips = list(job.skips)
        cooled = []
        for row, plugin, cooldown in job.claims:
            took, held = claim(connection, Claim(row["integration_id"], cooldown.key, cooldown.seconds,
                                                 cooldown.description, cooldown.shared), job.event["id"], at)
            if took:
                replaced[row["id"]] = {**row, "reason": f"{row['reason']}; {held.taken_reason()}"}
            else:
                replaced[row["id"]] = None
                skips.append(self.skip_group(held.refusal(cooldown.description), ((row["integration_id"], plugin),)))
                cooled.append(row["integration_id"])
        rows = [replaced.get(row["id"], row) for row in job.deliveries]
        kept = [row for row in rows if row is not None]
        return _Claimed(kept, skips, job.queued - len(cooled), job.skipped + len(cooled), tuple(cooled))

    def _write_decisions(self, connection, jobs: list[_Write]) -> None:
        for j in jobs:
            j.written = True
            if j.claims:  # one after the other: the second of two events with one key sees the first's claim
                j.claimed = self._claim(connection, j)
        if any(j.claimed.queued if j.claimed else j.queued for j in jobs):
            announce(connection)  # on PostgreSQL: wake the workers of every process at the commit
        rows = [row for j in jobs for row in (j.claimed.deliveries if j.claimed else j.deliveries)]
        if rows:
            insert_deliveries(connection, rows)
        for j in jobs:
            audit_log.write_with(connection, j.audit, j.event["id"])
        groups = [g for j in jobs for g in (j.claimed.skips if j.claimed else j.skips)]
        if groups:
            stamp = jobs[0].event["received_at"]
            sets = list({g.members.id: g.members for g in groups}.values())
            write_sets(connection, self.sets.unknown(sets), stamp)
            skip_values = [row for j in jobs
                           for row in skip_rows(j.event["id"], j.claimed.skips if j.claimed else j.skips, stamp)]
            try:
                if connection.dialect.name == "sqlite":  # a failed statement leaves the transaction as it was
                    _INSERT_SKIPS.execute(connection, skip_values)
                else:
                    with connection.begin_nested():
                        _INSERT_SKIPS.execute(connection, skip_values)
            except exc.IntegrityError:  # a set this process took as stored was pruned meanwhile
                self.sets.forget()
                write_sets(connection, sets, stamp)
                _INSERT_SKIPS.execute(connection, skip_values)

    def _committed(self, jobs: list[_Write]) -> None:
        self.sets.committed(g.members for j in jobs if j.written for g in (j.claimed.skips if j.claimed else j.skips))

    def set_fields(self, event_id: str, fields: dict[str, Any], body: dict[str, Any]) -> None:
        """Merge ``fields`` into the stored normalized event (names read after it arrived), whose
        stored ``body`` the caller has read. An event's body changes only here, and only by having
        names merged in, so the caller's copy is the stored one but for names; the merge is written
        without reading it again. Every delivery of an event resolves the same names: once this
        process has written an event's fields, the same fields are not written again; and writes of
        several threads share one statement and one commit (:class:`BatchCommit`)."""
        if self._fields_written.has(event_id, fields):
            return
        self._fields.run((event_id, dumps({**body, **fields})), order=event_id)
        self._fields_written.add(event_id, fields)

    def get(self, event_id: str) -> EventRow | None:
        with reading(self.engine) as connection:
            row = connection.execute(select(events).where(events.c.id == event_id)).first()
        return _row(row) if row else None

    def get_many(self, event_ids: list[str]) -> dict[str, EventRow]:
        """The stored events of ``event_ids`` (by id; ids no event has are left out)."""
        found: dict[str, EventRow] = {}
        with reading(self.engine) as connection:
            for start in range(0, len(event_ids), 500):
                chunk = event_ids[start:start + 500]
                found.update((row.id, _row(row)) for row in connection.execute(select(events).where(events.c.id.in_(chunk))))
        return found

    def list(self, *, limit: int = 50, before: tuple[float, str] | None = None,
             source: str | None = None, kind: str | None = None) -> list[EventRow]:
        """Newest first; ``before`` is the (received_at, id) of the last row of the previous page."""
        return self.page(limit=limit, before=before, source=source, kind=kind).rows

    def page(self, *, limit: int = 50, before: tuple[float, str] | None = None, source: str | None = None,
             kind: str | None = None, window: int | None = None) -> EventPage:
        """Newest first; ``before`` is the (received_at, id) of the last row of the previous page.
        One filter reads its index (``ix_events_source``, ``ix_events_kind``); both walk the events
        of the kind and look at the ``window`` (:data:`WINDOW`) newest of them before ``before`` at
        most: when those run out before the page is full, ``searched_to`` is where the search
        stopped (the cursor to go on from)."""
        window = window or WINDOW
        boundary = None
        with reading(self.engine) as connection:
            if source and kind:
                edge = _kind_walk(kind, before).offset(window - 1).limit(1)
                found = connection.execute(edge).first()
                boundary = (found[0], found[1]) if found is not None else None
            query = page_query(limit=limit, before=before, source=source, kind=kind)
            if boundary is not None:
                query = query.where(_not_before(boundary))
            rows = [_row(row, with_raw=False) for row in connection.execute(query)]
        stopped = boundary if boundary is not None and len(rows) < limit else None
        return EventPage(rows, stopped, window)

    def total(self, *, source: str | None = None, kind: str | None = None) -> Total:
        """How many events there are (of ``source`` and/or ``kind``), counted through the index of
        the filter up to :data:`~.counting.COUNT_CAP`; with both filters, among the :data:`WINDOW`
        newest events of the kind."""
        with reading(self.engine) as connection:
            query = page_query(limit=WINDOW, source=source, kind=kind).with_only_columns(
                events.c.received_at, events.c.id)
            window_end = None
            if source and kind:
                found = connection.execute(_kind_walk(kind, None).offset(WINDOW - 1).limit(1)).first()
                if found is not None:
                    window_end = found[0]
                    query = query.where(_not_before((found[0], found[1])))
            query = query.limit(None)
            return capped_count(connection, query, window_end=window_end)


def page_query(*, limit: int, before: tuple[float, str] | None = None, source: str | None = None,
               kind: str | None = None):
    """A page of events, newest first: ``before`` is the (received_at, id) of the last row of the
    previous page; ``source`` and ``kind`` filter, each through its index (both: through the
    kind's, ``|| ''`` keeps the database off the source's). Callers may add conditions (the UI's
    search does)."""
    query = select(events).order_by(events.c.received_at.desc(), events.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(older_than(before))
    if source:
        query = query.where((events.c.source.concat("") if kind else events.c.source) == source)
    if kind:
        query = query.where(events.c.kind == kind)
    return query


def older_than(cursor: tuple[float, str]):
    """Events before ``cursor`` (received_at, id), newest first. The plain range on the time lets
    the database walk ``ix_events_received`` (or a filter's index) from there and stop at the
    page's end: PostgreSQL cannot use the OR as an index condition, and otherwise scans a bitmap
    of the whole range and sorts it."""
    stamp, last_id = cursor
    return and_(events.c.received_at <= stamp,
                or_(events.c.received_at < stamp, and_(events.c.received_at == stamp, events.c.id < last_id)))


def newer_than(cursor: tuple[float, str], *, including: bool = False):
    """Events after ``cursor`` (received_at, id) (``including``: and that one); see :func:`older_than`."""
    stamp, last_id = cursor
    same = events.c.id >= last_id if including else events.c.id > last_id
    return and_(events.c.received_at >= stamp, or_(events.c.received_at > stamp, and_(events.c.received_at == stamp, same)))


def _kind_walk(kind: str, before: tuple[float, str] | None):
    """The (received_at, id) of the events of ``kind`` before ``before``, newest first (``ix_events_kind``)."""
    query = select(events.c.received_at, events.c.id).where(events.c.kind == kind) \
        .order_by(events.c.received_at.desc(), events.c.id.desc())
    if before is not None:
        query = query.where(older_than(before))
    return query


def _not_before(edge: tuple[float, str]):
    """At or after ``edge`` (received_at, id): within a search window that ends there."""
    return newer_than(edge, including=True)

"""Deliveries (one per event and integration: the decision, then its delivery) and their attempts.

The delivery queue lives here. A worker takes one due delivery under a lease
(:meth:`DeliveryStore.claim`), makes the attempt and records it (:meth:`DeliveryStore.finish`); a
lease that runs out (its worker died) lets another worker take the delivery again.
``docs/delivery.md`` describes the life of a delivery.
"""

from __future__ import annotations

import builtins
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Connection, and_, bindparam, case, delete, exists, func, insert, or_, select, union_all, update,
)

from . import events as event_rows
from . import integrations as integration_rows
from . import skips as skip_lines
from .base import BatchCommit, DriverStatement, Repository, dumps, group_commit, loads, new_id, reading, writing
from .cooldowns import release_for_delivery
from .events import EventRow
from .integrations import IntegrationRow
from .tables import attempts, deliveries, events, integrations, skips
from .transient import retrying
from .wakeups import announce

log = logging.getLogger(__name__)

STATUSES = ("pending", "in_flight", "retrying", "delivered", "skipped", "dead")
QUEUED = ("pending", "retrying")  # waiting for their next attempt
REQUEUABLE = ("pending", "retrying", "dead")  # what ``retry`` accepts
PRUNABLE = ("delivered", "skipped")
BATCH = 500


@dataclass(frozen=True)
class AttemptRow:
    number: int
    worker: str
    started_at: float
    duration_ms: float
    outcome: str
    reason: str
    http: list[dict[str, Any]]


@dataclass(frozen=True)
class DeliveryRow:
    id: str
    event_id: str
    integration_id: str
    integration_name: str | None
    plugin: str
    status: str
    reason: str
    attempts: int
    next_attempt_at: float | None
    lease_owner: str | None
    lease_expires_at: float | None
    summary: str | None
    details: dict[str, Any] | None
    created_at: float
    updated_at: float
    attempt_log: list[AttemptRow] = field(default_factory=list)
    schedule_start: int = 0  # attempts made before the last re-queue by hand
    batch_id: str | None = None  # set while it waits to be retried with the rest of its batch
    # loaded with the delivery by claim and take, for the attempt
    event: EventRow | None = None
    integration: IntegrationRow | None = None


def _delivery(row, attempt_log=(), **changes: Any) -> DeliveryRow:
    """A delivery from its row; ``changes`` replace fields (made once: ``dataclasses.replace`` on
    the queue's hot path would build every delivery twice)."""
    values = dict(
        id=row.id, event_id=row.event_id, integration_id=row.integration_id,
        integration_name=row.integration_name, plugin=row.plugin, status=row.status,
        reason=row.reason, attempts=row.attempts, schedule_start=row.schedule_start, batch_id=row.batch_id,
        next_attempt_at=row.next_attempt_at,
        lease_owner=row.lease_owner, lease_expires_at=row.lease_expires_at, summary=row.summary,
        details=loads(row.details), created_at=row.created_at, updated_at=row.updated_at,
        attempt_log=list(attempt_log),
    )
    values.update(changes)
    return DeliveryRow(**values)


def _attempt(row) -> AttemptRow:
    return AttemptRow(
        number=row.number, worker=row.worker, started_at=row.started_at,
        duration_ms=row.duration_ms, outcome=row.outcome, reason=row.reason,
        http=loads(row.http) or [],
    )


@dataclass(frozen=True)
class NewAttempt:
    """An attempt to record (see :meth:`DeliveryStore.finish`). ``outcome`` is ``delivered``,
    ``retry`` or ``failed`` (``lost`` is recorded by :meth:`DeliveryStore.claim` for an attempt whose
    worker never reported); ``http`` lists the attempt's exchanges."""

    number: int
    worker: str
    started_at: float
    duration_ms: float
    outcome: str
    reason: str
    http: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Finished:
    """One delivery of a batch, as :meth:`DeliveryStore.finish_many` records it."""

    delivery_id: str
    attempt: NewAttempt
    status: str
    reason: str
    next_attempt_at: float | None = None
    summary: str | None = None
    details: dict[str, Any] | None = None
    batch_id: str | None = None


@dataclass(frozen=True)
class ReplayResult:
    """What :meth:`DeliveryStore.replay` did: deliveries put back in the queue, deliveries created for
    events that had none for the integration, and deliveries left alone because an attempt is running."""

    requeued: int
    created: int
    in_flight: int


@dataclass(frozen=True)
class PruneResult:
    deliveries: int
    events: int


@dataclass(frozen=True)
class QueueStats:
    """The queue at a glance. ``depth`` counts pending, retrying and in-flight deliveries; ``held``
    those of disabled integrations among them; ``oldest_age`` is the age in seconds of the oldest of
    them (None when the queue is empty)."""

    by_status: dict[str, int]
    depth: int
    held: int
    oldest_age: float | None


class NotRetryable(Exception):
    """The delivery is in a state a retry does not apply to; the message says why."""


class UnknownEvents(Exception):
    """Event ids given to :meth:`DeliveryStore.replay` that no stored event has."""

    def __init__(self, ids: list[str]):
        super().__init__("unknown event ids: " + ", ".join(ids))
        self.ids = ids


def _select_deliveries():
    return select(deliveries, integrations.c.name.label("integration_name")).select_from(
        deliveries.outerjoin(integrations, deliveries.c.integration_id == integrations.c.id)
    )


# The queue's statements are built once: building SQLAlchemy constructs costs more than running them.

_DISABLED = select(integrations.c.id).where(integrations.c.enabled.is_(False)).scalar_subquery()


CLAIMABLE = ("in_flight", *QUEUED)  # in flight: only once its lease ran out


def _when(status: str):
    """What makes a delivery of ``status`` due: its next attempt time, or for an in-flight one its lease end."""
    return deliveries.c.lease_expires_at if status == "in_flight" else deliveries.c.next_attempt_at


def _due_conditions(status: str, *, deadline: bool, filtered: bool) -> list:
    """A delivery of ``status`` of an enabled integration; with ``deadline``, due by ``:now``; with
    ``filtered``, of ``:integration_id``."""
    when = _when(status)
    # NOT IN keeps the planner on the (status, next_attempt_at) index
    conditions = [deliveries.c.status == status, when.is_not(None), deliveries.c.integration_id.not_in(_DISABLED)]
    if deadline:
        conditions.append(when <= bindparam("now"))
    if filtered:
        conditions.append(deliveries.c.integration_id == bindparam("integration_id"))
    return conditions


@lru_cache(maxsize=None)
def _first_due(status: str, *, deadline: bool, filtered: bool, limit: int = 1):
    """The id and due time of the ``limit`` earliest deliveries of ``status`` that meet :func:`_due_conditions`."""
    when = _when(status)
    return (select(deliveries.c.id, when.label("due"))
            .where(*_due_conditions(status, deadline=deadline, filtered=filtered)).order_by(when).limit(limit))


_LOADED = (
    select(deliveries, integrations.c.name.label("integration_name"),
           *[c.label(f"evt__{c.name}") for c in events.c],
           *[c.label(f"int__{c.name}") for c in integrations.c])
    .select_from(deliveries.join(events, events.c.id == deliveries.c.event_id)
                 .join(integrations, integrations.c.id == deliveries.c.integration_id))
)

_BY_ID = _LOADED.where(deliveries.c.id == bindparam("delivery_id"))


@lru_cache(maxsize=None)
def _claim_candidates(*, filtered: bool, sqlite: bool, limit: int) -> tuple:
    """Statements that together return, loaded, the ``limit`` earliest due deliveries of each
    claimable status. SQLite: one statement (the writing transaction holds the database's write
    lock). Elsewhere: one per status, the rows locked with SKIP LOCKED so that concurrent workers
    pass each other by."""
    if sqlite:
        firsts = union_all(*[select(_first_due(status, deadline=True, filtered=filtered, limit=limit).subquery())
                             for status in CLAIMABLE]).subquery()
        return (_LOADED.where(deliveries.c.id.in_(select(firsts.c.id))),)
    return tuple(
        _LOADED.where(*_due_conditions(status, deadline=True, filtered=filtered)).order_by(_when(status))
        .limit(limit).with_for_update(skip_locked=True, of=deliveries)
        for status in CLAIMABLE
    )


_TAKE = (update(deliveries).where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
         .values(status="in_flight", lease_owner=bindparam("worker_id"), lease_expires_at=bindparam("until"),
                 attempts=deliveries.c.attempts + 1, updated_at=bindparam("now")))

_RECORD_ATTEMPT = insert(attempts)
_RECORD_ONE_ATTEMPT = DriverStatement(_RECORD_ATTEMPT, column_keys=(
    "delivery_id", "number", "worker", "started_at", "duration_ms", "outcome", "reason", "http"))

_FINISH = (update(deliveries)
           .where(deliveries.c.id == bindparam("delivery_id"), deliveries.c.status == "in_flight",
                  deliveries.c.lease_owner == bindparam("worker_id"))
           .values(status=bindparam("new_status"), reason=bindparam("new_reason"),
                   next_attempt_at=bindparam("next_attempt_at"), summary=bindparam("new_summary"),
                   details=bindparam("new_details"), lease_owner=None, lease_expires_at=None,
                   updated_at=bindparam("now")))


_FINISH_IN_BATCH = _FINISH.values(batch_id=bindparam("new_batch_id"))
_FINISH_ONE = DriverStatement(_FINISH)


def _record_attempts(connection: Connection, recorded: builtins.list[dict[str, Any]]) -> None:
    # several: the driver's executemany (psycopg sends them in one round trip)
    _RECORD_ONE_ATTEMPT.execute(connection, recorded[0] if len(recorded) == 1 else recorded)


# PostgreSQL: _FINISH for several deliveries in one statement, its rows given as arrays (one SQL
# text whatever their number: the driver prepares it once); returns the ids of those moved.
_FINISH_ALL_POSTGRES = """
UPDATE deliveries SET status = f.new_status, reason = f.new_reason, next_attempt_at = f.next_attempt_at,
    summary = f.new_summary, details = f.new_details, lease_owner = NULL, lease_expires_at = NULL,
    updated_at = f.now
FROM unnest(%(delivery_id)s::varchar[], %(worker_id)s::varchar[], %(new_status)s::varchar[],
            %(new_reason)s::text[], %(next_attempt_at)s::float8[], %(new_summary)s::text[],
            %(new_details)s::text[], %(now)s::float8[])
    AS f(delivery_id, worker_id, new_status, new_reason, next_attempt_at, new_summary, new_details, now)
WHERE deliveries.id = f.delivery_id AND deliveries.status = 'in_flight' AND deliveries.lease_owner = f.worker_id
RETURNING deliveries.id"""
_FINISHED_FIELDS = ("delivery_id", "worker_id", "new_status", "new_reason", "next_attempt_at", "new_summary",
                    "new_details", "now")


def _move_finished(connection: Connection, moved: builtins.list[dict[str, Any]]) -> set[str]:
    """PostgreSQL: :data:`_FINISH` for several deliveries in one statement; the ids of those moved
    (the others' leases were lost meanwhile)."""
    columns = {name: [m[name] for m in moved] for name in _FINISHED_FIELDS}
    return set(connection.exec_driver_sql(_FINISH_ALL_POSTGRES, columns).scalars())


_EVENT_LABELS = tuple((c.name, f"evt__{c.name}") for c in events.c)
_INTEGRATION_LABELS = tuple((c.name, f"int__{c.name}") for c in integrations.c)


def _prefixed(mapping, labels: tuple[tuple[str, str], ...]) -> SimpleNamespace:
    return SimpleNamespace(**{name: mapping[label] for name, label in labels})


def _loaded(row, **changes: Any) -> DeliveryRow:
    """A delivery with its event and integration, from a :data:`_LOADED` row (``changes`` as
    :func:`_delivery`)."""
    mapping = row._mapping
    return _delivery(row, event=event_rows._row(_prefixed(mapping, _EVENT_LABELS)),
                     integration=integration_rows._row(_prefixed(mapping, _INTEGRATION_LABELS)), **changes)


class DeliveryStore(Repository):
    def __init__(self, engine):
        super().__init__(engine)
        self._finishes = BatchCommit(engine, self._write_finishes)

    def _with_attempts(self, connection, rows) -> list[DeliveryRow]:
        ids = [row.id for row in rows]
        log: dict[str, list[AttemptRow]] = {i: [] for i in ids}
        if ids:
            query = select(attempts).where(attempts.c.delivery_id.in_(ids)).order_by(
                attempts.c.delivery_id, attempts.c.number, attempts.c.id
            )
            for row in connection.execute(query):
                log[row.delivery_id].append(_attempt(row))
        return [_delivery(row, log[row.id]) for row in rows]

    def for_event(self, event_id: str) -> list[DeliveryRow]:
        """Every decision taken for an event (one per integration), with the attempts of each."""
        query = _select_deliveries().where(deliveries.c.event_id == event_id).order_by(
            deliveries.c.created_at, deliveries.c.id
        )
        skipped = skip_lines.select_lines().where(skips.c.event_id == event_id)
        with reading(self.engine) as connection:
            rows = self._with_attempts(connection, list(connection.execute(query)))
            rows += [_delivery(row) for row in connection.execute(skipped)]
        return sorted(rows, key=lambda d: (d.created_at, d.status == "skipped", d.integration_name or "", d.id))

    def get(self, delivery_id: str) -> DeliveryRow | None:
        """A delivery, or a skip line (id ``<event id>.<integration id>``): once a replay queued that
        event again for that integration, the delivery it made."""
        line = skip_lines.split_line_id(delivery_id)
        if line is not None:
            event_id, integration_id = line
            with reading(self.engine) as connection:
                replayed = connection.execute(select(deliveries.c.id).where(
                    deliveries.c.event_id == event_id, deliveries.c.integration_id == integration_id)).scalar()
                if replayed is None:
                    row = connection.execute(skip_lines.select_lines().where(
                        skips.c.event_id == event_id,
                        skip_lines.integration_set_members.c.integration_id == integration_id)).first()
                    return _delivery(row) if row is not None else None
            delivery_id = replayed
        query = _select_deliveries().where(deliveries.c.id == delivery_id)
        with reading(self.engine) as connection:
            rows = list(connection.execute(query))
            return self._with_attempts(connection, rows)[0] if rows else None

    def list(self, *, integration_id: str | None = None, status: str | None = None,
             since: float | None = None, limit: int = 50,
             before: tuple[float, str] | None = None) -> builtins.list[DeliveryRow]:
        """Newest first (by creation), without attempts; skip lines among them. ``since`` keeps those
        created at or after it; ``before`` is the (created_at, id) of the last row of the previous page."""
        parts = [(_select_deliveries(), deliveries.c.created_at, deliveries.c.id, deliveries.c.integration_id)]
        if status in (None, "skipped"):
            parts.append((skip_lines.select_lines(), skips.c.created_at,
                          skips.c.event_id + skip_lines.SEPARATOR + skip_lines.integration_set_members.c.integration_id,
                          skip_lines.integration_set_members.c.integration_id))
        selects = []
        for number, (query, created_at, row_id, integration) in enumerate(parts):
            if integration_id:
                query = query.where(integration == integration_id)
            if status and number == 0:
                query = query.where(deliveries.c.status == status)
            if since is not None:
                query = query.where(created_at >= since)
            if before is not None:
                stamp, last_id = before
                query = query.where(or_(created_at < stamp, and_(created_at == stamp, row_id < last_id)))
            selects.append(query.order_by(created_at.desc(), row_id.desc()).limit(limit))
        if len(selects) == 1:
            query = selects[0]
        else:
            both = union_all(*[select(q.subquery()) for q in selects]).subquery()
            query = select(both).order_by(both.c.created_at.desc(), both.c.id.desc()).limit(limit)
        with reading(self.engine) as connection:
            return [_delivery(row) for row in connection.execute(query)]

    # the queue ---------------------------------------------------------------------------------

    def claim(self, worker_id: str, lease_seconds: float, now: float, integration_id: str | None = None,
              *, max_attempts: int | None = None) -> DeliveryRow | None:
        """Take one due delivery for ``worker_id`` and return it ``in_flight`` with its attempt count
        raised and its event and integration loaded; None when nothing is due.

        Due: ``in_flight`` with its lease run out (its worker died) first — that lost attempt is
        recorded as ``lost``, and when it was the last of ``max_attempts`` the delivery goes ``dead``
        instead — then the ``pending`` or ``retrying`` one with the earliest next attempt time passed,
        of an enabled integration. Select and update happen in one writing transaction (on SQLite,
        ``BEGIN IMMEDIATE`` makes it exclusive across processes; elsewhere the row is locked with
        ``SKIP LOCKED``), so no two workers ever hold one delivery.
        """
        claimed = self.claim_many(worker_id, lease_seconds, now, 1, integration_id, max_attempts=max_attempts)
        return claimed[0] if claimed else None

    def claim_many(self, worker_id: str, lease_seconds: float, now: float, limit: int,
                   integration_id: str | None = None, *, max_attempts: int | None = None) -> builtins.list[DeliveryRow]:
        """Like :meth:`claim`, up to ``limit`` deliveries in one transaction (those due, in the same
        order), all under one lease: a worker facing a backlog spends less on claiming."""
        statements = _claim_candidates(filtered=integration_id is not None,
                                       sqlite=self.engine.dialect.name == "sqlite", limit=limit)
        params = {"now": now, "integration_id": integration_id}
        claimed, taken_over = retrying(
            lambda: self._claim(statements, params, worker_id, lease_seconds, now, limit, max_attempts))
        _log_take_over(worker_id, taken_over)
        return claimed

    def _claim(self, statements, params, worker_id: str, lease_seconds: float, now: float, limit: int,
               max_attempts: int | None) -> tuple[builtins.list[DeliveryRow], dict[str, TakenOver]]:
        taken_over: dict[str, TakenOver] = {}
        with writing(self.engine) as connection:
            candidates = [row for statement in statements for row in connection.execute(statement, params)]
            chosen = []
            for row in sorted(candidates, key=lambda r: r.status != "in_flight"):
                if row.status == "in_flight":
                    self._record_lost(connection, row, now)
                    gone = taken_over.setdefault(row.lease_owner or "?", TakenOver())
                    gone.lost.append(row.id)
                    if max_attempts is not None and row.attempts - row.schedule_start >= max_attempts:
                        self._set(connection, row.id, status="dead", now=now, reason=(
                            f"gave up after {row.attempts} attempts: the last one never reported back "
                            f"(worker {row.lease_owner} stopped while it held it)"))
                        gone.dead.append(row.id)
                        continue
                chosen.append(row)
            expired = [row for row in chosen if row.status == "in_flight"]
            queued = sorted((row for row in chosen if row.status != "in_flight"), key=lambda r: r.next_attempt_at)
            return self._take(connection, (expired + queued)[:limit], worker_id, now + lease_seconds, now), taken_over

    def take(self, delivery_id: str, worker_id: str, lease_seconds: float, now: float) -> DeliveryRow | None:
        """Claim this one delivery now if it is ``pending`` or ``retrying``, due or not, enabled or
        not (the test send uses it); None otherwise."""
        with writing(self.engine) as connection:
            row = connection.execute(_BY_ID, {"delivery_id": delivery_id}).first()
            if row is None or row.status not in QUEUED:
                return None
            return self._take(connection, [row], worker_id, now + lease_seconds, now)[0]

    @staticmethod
    def _take(connection: Connection, chosen: builtins.list, worker_id: str, until: float,
              now: float) -> builtins.list[DeliveryRow]:
        """Lease the deliveries of ``chosen`` (:data:`_LOADED` rows) to ``worker_id``; returns them loaded,
        as they now are."""
        if chosen:
            connection.execute(_TAKE, {"ids": [row.id for row in chosen], "worker_id": worker_id,
                                       "until": until, "now": now})
        return [_loaded(row, status="in_flight", lease_owner=worker_id, lease_expires_at=until,
                        attempts=row.attempts + 1, updated_at=now) for row in chosen]

    @staticmethod
    def _record_lost(connection: Connection, expired, now: float) -> None:
        """Record the attempt a worker that stopped renewing its lease was making: cut off."""
        cut_off = datetime.fromtimestamp(expired.lease_expires_at, timezone.utc).isoformat(timespec="seconds")
        connection.execute(insert(attempts).values(
            delivery_id=expired.id, number=expired.attempts, worker=expired.lease_owner or "",
            started_at=expired.updated_at, duration_ms=0.0, outcome="lost", http="[]",
            reason=(f"cut off: worker {expired.lease_owner} stopped renewing its lease, which ran out at "
                    f"{cut_off} (its process or node died, or lost the database); whether the attempt "
                    "reached the target is unknown"),
        ))

    @staticmethod
    def _set(connection: Connection, delivery_id: str, *, status: str, now: float, reason: str) -> None:
        connection.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(
            status=status, reason=reason, lease_owner=None, lease_expires_at=None,
            next_attempt_at=None, updated_at=now))

    def finish(self, delivery_id: str, worker_id: str, attempt: NewAttempt, *, status: str, reason: str,
               next_attempt_at: float | None = None, summary: str | None = None,
               details: dict[str, Any] | None = None, now: float) -> bool:
        """Record ``attempt`` and, if ``worker_id`` still holds the lease, move the delivery to
        ``status``. Returns whether the delivery was updated (False: the lease was lost meanwhile and
        another worker owns the delivery; the attempt is recorded all the same)."""
        recorded = {  # made before the transaction (it holds the write lock), in the columns' types
            "delivery_id": delivery_id, "number": int(attempt.number), "worker": attempt.worker,
            "started_at": float(attempt.started_at), "duration_ms": float(attempt.duration_ms),
            "outcome": attempt.outcome, "reason": attempt.reason, "http": dumps(attempt.http),
        }
        moved = {
            "delivery_id": delivery_id, "worker_id": worker_id, "new_status": status, "new_reason": reason,
            "next_attempt_at": float(next_attempt_at) if next_attempt_at is not None else None,
            "new_summary": summary, "new_details": dumps(details) if details is not None else None,
            "now": float(now),
        }
        # Workers finishing at the same time share a transaction and a commit, with one statement per
        # table for all of them; each returns once its own is durable.
        return self._finishes.run((recorded, moved), order=delivery_id)

    @staticmethod
    def _write_finishes(connection: Connection, jobs: builtins.list[tuple[dict, dict]]) -> builtins.list[bool]:
        """The writes of :meth:`finish` for several deliveries at once (see :class:`BatchCommit`)."""
        _record_attempts(connection, [recorded for recorded, _ in jobs])
        if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg" and len(jobs) > 1:
            moved_ids = _move_finished(connection, [moved for _, moved in jobs])
            applied = [moved["delivery_id"] in moved_ids for _, moved in jobs]
        else:
            applied = [bool(_FINISH_ONE.execute(connection, moved).rowcount) for _, moved in jobs]
        for (_, moved), was_applied in zip(jobs, applied):
            if was_applied and moved["new_status"] == "dead":
                release_for_delivery(connection, moved["delivery_id"])
        return applied

    def release_writer(self) -> None:
        """Give back the connection the finishing commits keep (SQLite), before a fork or on closing."""
        self._finishes.writer.release()

    def finish_many(self, worker_id: str, finished: builtins.list[Finished], now: float) -> builtins.list[bool]:
        """:meth:`finish` for the deliveries of one batch, in one transaction: each attempt recorded,
        each delivery moved to its own status (and, when it is to be retried with others of its
        batch, given their ``batch_id``). Returns, in order, whether each delivery was updated."""
        def write(connection: Connection) -> builtins.list[bool]:
            if not finished:
                return []
            connection.execute(_RECORD_ATTEMPT, [{
                "delivery_id": f.delivery_id, "number": f.attempt.number, "worker": f.attempt.worker,
                "started_at": f.attempt.started_at, "duration_ms": f.attempt.duration_ms,
                "outcome": f.attempt.outcome, "reason": f.attempt.reason, "http": dumps(f.attempt.http),
            } for f in finished])
            applied = []
            for f in finished:
                result = connection.execute(_FINISH_IN_BATCH, {
                    "delivery_id": f.delivery_id, "worker_id": worker_id, "new_status": f.status,
                    "new_reason": f.reason, "next_attempt_at": f.next_attempt_at, "new_summary": f.summary,
                    "new_details": dumps(f.details) if f.details is not None else None, "now": now,
                    "new_batch_id": f.batch_id,
                })
                applied.append(bool(result.rowcount))
                if result.rowcount and f.status == "dead":
                    release_for_delivery(connection, f.delivery_id)
            return applied

        return group_commit(self.engine).run(write)

    def claim_batch(self, batch_id: str, worker_id: str, lease_seconds: float, now: float,
                    exclude: builtins.list[str] = ()) -> builtins.list[DeliveryRow]:
        """Take the queued deliveries of ``batch_id`` (due or not: they were retried together and
        are due together) for ``worker_id``, leaving out ``exclude`` (those it holds already)."""
        def claim() -> builtins.list[DeliveryRow]:
            with writing(self.engine) as connection:
                query = _LOADED.where(deliveries.c.batch_id == batch_id, deliveries.c.status.in_(QUEUED))
                if self.engine.dialect.name != "sqlite":  # SQLite: the transaction holds the write lock
                    query = query.with_for_update(skip_locked=True, of=deliveries)
                rows = connection.execute(query).all()
                chosen = [row for row in rows if row.id not in set(exclude)]
                return self._take(connection, chosen, worker_id, now + lease_seconds, now)

        return retrying(claim)

    def renew(self, worker_ids: builtins.list[str], until: float) -> int:
        """Extend the leases the given workers hold to ``until``; returns how many."""
        if not worker_ids:
            return 0

        def renew() -> int:
            with writing(self.engine) as connection:
                return connection.execute(
                    update(deliveries)
                    .where(deliveries.c.status == "in_flight", deliveries.c.lease_owner.in_(worker_ids))
                    .values(lease_expires_at=until)
                ).rowcount

        return retrying(renew)

    def release(self, worker_ids: str | builtins.list[str], now: float) -> int:
        """Put the deliveries the given (stopping) workers hold back in the queue, due now, with the
        attempt count they had before they were claimed. Returns how many."""
        ids = [worker_ids] if isinstance(worker_ids, str) else list(worker_ids)
        if not ids:
            return 0

        def release() -> int:
            with writing(self.engine) as connection:
                announce(connection)
                return connection.execute(
                    update(deliveries)
                    .where(deliveries.c.status == "in_flight", deliveries.c.lease_owner.in_(ids))
                    .values(status=case((deliveries.c.attempts > 1, "retrying"), else_="pending"),
                            attempts=deliveries.c.attempts - 1, next_attempt_at=now,
                            reason="released: its worker stopped before the attempt finished",
                            lease_owner=None, lease_expires_at=None, updated_at=now)
                ).rowcount

        return retrying(release)

    def next_due_at(self) -> float | None:
        """When the next delivery falls due: the earliest next attempt of a queued delivery of an
        enabled integration, or the earliest lease end of an in-flight one (None: nothing waits)."""
        with reading(self.engine) as connection:
            times = [row.due for row in (
                connection.execute(_first_due(status, deadline=False, filtered=False)).first()
                for status in CLAIMABLE) if row is not None]
        return min(times) if times else None

    # by hand -----------------------------------------------------------------------------------

    def retry(self, delivery_id: str, now: float) -> DeliveryRow | None:
        """Make a ``dead``, ``retrying`` or ``pending`` delivery due now (status ``pending``; the attempt
        count goes on from where it was). None when there is no such delivery; :class:`NotRetryable`
        for other statuses."""
        if skip_lines.split_line_id(delivery_id) is not None:
            current = self.get(delivery_id)
            if current is None:
                return None
            if current.id == delivery_id:
                raise NotRetryable(_not_retryable_message("skipped"))
            delivery_id = current.id  # replayed since: retry the delivery it made
        with writing(self.engine) as connection:
            status = connection.execute(
                select(deliveries.c.status).where(deliveries.c.id == delivery_id)
            ).scalar()
            if status is None:
                return None
            if status not in REQUEUABLE:
                raise NotRetryable(_not_retryable_message(status))
            result = connection.execute(update(deliveries).where(
                deliveries.c.id == delivery_id, deliveries.c.status.in_(REQUEUABLE),  # a worker may have claimed it
            ).values(**_requeue_values(now, "re-queued by hand (retry)")))
            if not result.rowcount:
                raise NotRetryable(_not_retryable_message("in_flight"))
            announce(connection)
            return _delivery(connection.execute(_select_deliveries().where(deliveries.c.id == delivery_id)).first())

    def replay(self, integration_id: str, plugin: str, *, now: float, since: float | None = None,
               event_ids: builtins.list[str] | None = None) -> ReplayResult:
        """Queue deliveries of one integration again, due now.

        With ``since``: its ``dead`` deliveries that went dead at or after that time. With
        ``event_ids``: its delivery of each of those events, whatever its status (delivered and
        skipped ones are sent again); an event it has no delivery for gets one. In-flight deliveries
        are left alone. :class:`UnknownEvents` (and nothing changed) when an id names no event.
        """
        if (since is None) == (event_ids is None):
            raise ValueError("give exactly one of since or event_ids")
        reason = "re-queued by hand (replay)"
        with writing(self.engine) as connection:
            announce(connection)
            if since is not None:
                result = connection.execute(
                    update(deliveries)
                    .where(deliveries.c.integration_id == integration_id, deliveries.c.status == "dead",
                           deliveries.c.updated_at >= since)
                    .values(**_requeue_values(now, reason))
                )
                return ReplayResult(requeued=result.rowcount, created=0, in_flight=0)
            wanted = list(dict.fromkeys(event_ids))
            found = set()
            for chunk in _chunks(wanted):
                found.update(connection.execute(select(events.c.id).where(events.c.id.in_(chunk))).scalars())
            unknown = [i for i in wanted if i not in found]
            if unknown:
                raise UnknownEvents(unknown)
            existing: dict[str, str] = {}
            for chunk in _chunks(wanted):
                existing.update(connection.execute(
                    select(deliveries.c.event_id, deliveries.c.status)
                    .where(deliveries.c.integration_id == integration_id, deliveries.c.event_id.in_(chunk))
                ).all())
            requeue = [e for e, status in existing.items() if status != "in_flight"]
            skipped = set()  # recorded as skip lines: queued now as a delivery of their own
            for chunk in _chunks([e for e in wanted if e not in existing]):
                skipped |= skip_lines.skipped_events(connection, integration_id, chunk)
            for chunk in _chunks(requeue):
                connection.execute(
                    update(deliveries)
                    .where(deliveries.c.integration_id == integration_id, deliveries.c.event_id.in_(chunk),
                           deliveries.c.status != "in_flight")
                    .values(**_requeue_values(now, reason))
                )
            missing = [e for e in wanted if e not in existing]  # skip lines, and those with no decision
            if missing:
                connection.execute(insert(deliveries), [
                    dict(id=new_id(), event_id=event_id, integration_id=integration_id, plugin=plugin,
                         status="pending", reason=reason, attempts=0, next_attempt_at=now,
                         created_at=now, updated_at=now)
                    for event_id in missing
                ])
            return ReplayResult(requeued=len(requeue) + len(skipped), created=len(missing) - len(skipped),
                                in_flight=len(existing) - len(requeue))

    # housekeeping ------------------------------------------------------------------------------

    def prune(self, before: float) -> PruneResult:
        """Delete ``delivered`` and ``skipped`` deliveries (and their attempts) last changed before
        ``before``, then events received before it that have no delivery left. Dead and queued
        deliveries, and their events, are kept. Works in small transactions."""
        removed_deliveries = removed_events = 0
        while True:
            with writing(self.engine) as connection:
                ids = list(connection.execute(
                    select(deliveries.c.id)
                    .where(deliveries.c.status.in_(PRUNABLE), deliveries.c.updated_at < before)
                    .limit(BATCH)
                ).scalars())
                if ids:
                    connection.execute(delete(attempts).where(attempts.c.delivery_id.in_(ids)))
                    connection.execute(delete(deliveries).where(deliveries.c.id.in_(ids)))
            removed_deliveries += len(ids)
            if len(ids) < BATCH:
                break
        while True:
            with writing(self.engine) as connection:
                ids = list(connection.execute(
                    select(skips.c.id, skips.c.set_id).where(skips.c.created_at < before).limit(BATCH)
                ).all())
                if ids:
                    sizes = dict(connection.execute(
                        select(skip_lines.integration_sets.c.id, skip_lines.integration_sets.c.size)
                        .where(skip_lines.integration_sets.c.id.in_({s for _, s in ids}))).all())
                    connection.execute(delete(skips).where(skips.c.id.in_([i for i, _ in ids])))
                    removed_deliveries += sum(sizes.get(s, 0) for _, s in ids)
            if len(ids) < BATCH:
                break
        while True:
            with writing(self.engine) as connection:
                ids = list(connection.execute(
                    select(events.c.id)
                    .where(events.c.received_at < before,
                           ~exists().where(deliveries.c.event_id == events.c.id),
                           ~exists().where(skips.c.event_id == events.c.id))
                    .limit(BATCH)
                ).scalars())
                if ids:
                    connection.execute(delete(events).where(events.c.id.in_(ids)))
            removed_events += len(ids)
            if len(ids) < BATCH:
                break
        with writing(self.engine) as connection:
            skip_lines.prune_sets(connection, before)
        return PruneResult(deliveries=removed_deliveries, events=removed_events)

    def stats(self, now: float) -> QueueStats:
        """Counts by status, queue depth, held deliveries and the age of the oldest queued one."""
        waiting = (*QUEUED, "in_flight")
        with reading(self.engine) as connection:
            counts = dict(connection.execute(
                select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
            ).all())
            oldest = connection.execute(  # held deliveries (integration disabled) wait on purpose
                select(func.min(deliveries.c.created_at)).where(
                    deliveries.c.status.in_(waiting), deliveries.c.integration_id.not_in(_DISABLED))
            ).scalar()
            held = connection.execute(
                select(func.count()).select_from(deliveries)
                .where(deliveries.c.status.in_(QUEUED), deliveries.c.integration_id.in_(_DISABLED))
            ).scalar() or 0
            counts["skipped"] = counts.get("skipped", 0) + skip_lines.skipped_count(connection)
        by_status = {status: int(counts.get(status, 0)) for status in STATUSES}
        return QueueStats(
            by_status=by_status, depth=sum(by_status[s] for s in waiting), held=held,
            oldest_age=max(0.0, now - oldest) if oldest is not None else None,
        )


def _requeue_values(now: float, reason: str) -> dict[str, Any]:
    return dict(status="pending", next_attempt_at=now, reason=reason, summary=None, details=None,
                lease_owner=None, lease_expires_at=None, updated_at=now, batch_id=None,
                schedule_start=deliveries.c.attempts)  # a fresh retry schedule from here


def _not_retryable_message(status: str) -> str:
    if status == "in_flight":
        return "an attempt is running now; wait for its outcome"
    if status == "delivered":
        return "it was delivered; to send it again, replay its event (event_ids)"
    return "it was skipped by the integration's policy; to send it anyway, replay its event (event_ids)"


def _chunks(items: builtins.list[str], size: int = BATCH):
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass
class TakenOver:
    """The deliveries one claim took from a worker whose lease ran out: each one's cut-off attempt is
    recorded as ``lost``; ``dead`` are those that had no attempt left."""

    lost: builtins.list[str] = field(default_factory=list)
    dead: builtins.list[str] = field(default_factory=list)


def _log_take_over(worker_id: str, taken_over: dict[str, TakenOver]) -> None:
    """Say in the log of the process that takes over (once, after the commit) what a failover cost."""
    for gone_worker, gone in taken_over.items():
        shown = ", ".join(gone.lost[:10]) + (f" and {len(gone.lost) - 10} more" if len(gone.lost) > 10 else "")
        log.warning("failover: worker %s stopped renewing its lease; worker %s takes over %d delivery(ies) "
                    "whose attempts in progress are recorded as lost (the target may have received them): %s%s",
                    gone_worker, worker_id, len(gone.lost), shown,
                    f"; {len(gone.dead)} of them had no attempt left and are dead" if gone.dead else "")

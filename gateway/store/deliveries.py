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
    Connection, Float, and_, bindparam, case, delete, exists, func, insert, literal, or_, select, union_all, update,
)

from gateway.store import audit_log
from gateway.store import decision_history
from gateway.store import events as event_rows
from gateway.store import integrations as integration_rows
from gateway.store import skips as skip_lines
from gateway.store.audit_log import Entry
from gateway.store.base import BatchCommit, DriverStatement, Repository, dumps, group_commit, loads, new_id, reading, takes_arrays, writing
from gateway.store.cooldowns import Claim, claim, release_for_delivery
from gateway.store import counting
from gateway.store.counting import Total, capped_count
from gateway.store.base import now as now_stamp
from gateway.store.events import EventRow
from gateway.store.integrations import IntegrationRow
from gateway.store.tables import attempts, deliveries, events, integrations, removed_event_keys, skips
from gateway.store.transient import retrying
from gateway.store.wakeups import announce

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


class Claimed(list):
    """The deliveries a claim took (a list of :class:`DeliveryRow`), and whether more were due than
    it took (``more``): the claim looks at one row more than it takes, so that a worker whose claim
    took everything due can wait instead of claiming again to find nothing."""

    more: bool = False

    def __init__(self, rows=(), more: bool = False):
        super().__init__(rows)
        self.more = more


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


WINDOW = 5000
"""How many events (newest first, from the page's cursor) a list of deliveries with skip lines, or of
one integration, looks through at most."""


@dataclass(frozen=True)
class DeliveryPage:
    """A page of :meth:`DeliveryStore.page`; ``searched_to``: the cursor where the search window
    ended before the page was full (older ones were not looked at), else None."""

    rows: builtins.list[DeliveryRow]
    searched_to: tuple[float, str] | None
    window: int = 0  # the events looked through


def _bounded(query, created_at, row_id, since, before, limit, after=None):
    """Newest first from ``before``; or (``after``) oldest first from there, for going back."""
    if since is not None:
        query = query.where(created_at >= since)
    if before is not None:
        stamp, last_id = before
        query = query.where(or_(created_at < stamp, and_(created_at == stamp, row_id < last_id)))
    if after is not None:
        stamp, last_id = after
        query = query.where(or_(created_at > stamp, and_(created_at == stamp, row_id > last_id)) if last_id
                            else created_at > stamp)  # where a window stopped ("" for an id): after its time
        return query.order_by(created_at.asc(), row_id.asc()).limit(limit)
    return query.order_by(created_at.desc(), row_id.desc()).limit(limit)


def _explained(connection: Connection, rows) -> builtins.list[DeliveryRow]:
    """Deliveries from ``rows``, the reason of each policy denial read from its policy revision."""
    reasons = skip_lines.denial_reasons(connection, rows)
    return [_delivery(row, reason=reasons[n]) if n in reasons else _delivery(row) for n, row in enumerate(rows)]


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
class Again:
    """A decision taken again by hand for one stored event (see :meth:`DeliveryStore.decide_again`):
    ``queued`` with its ``reason`` (and the ``cooldown`` to claim), or skipped with it. ``overrode``:
    for an override, the (stage, reason) denials it sends the event despite; ``force_cooldown``: the
    cooldown is one of them (its key is taken whoever holds it)."""

    event_id: str
    queued: bool
    reason: str
    cooldown: Any = None  # a gateway.Cooldown
    overrode: tuple[tuple[str, str], ...] = ()
    force_cooldown: bool = False


@dataclass(frozen=True)
class AgainResult:
    """What :meth:`DeliveryStore.decide_again` did for one event: ``outcome`` ``queued`` (the
    delivery ``delivery_id`` is due now; ``created`` when the integration had none for the event),
    ``skipped`` (nothing changed but the history) or ``in_flight`` (left alone), with the reason;
    and the decision before."""

    event_id: str
    outcome: str
    reason: str
    delivery_id: str | None
    created: bool
    previous_status: str | None
    previous_reason: str | None
    overrode: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PruneResult:
    deliveries: int
    events: int


@dataclass(frozen=True)
class QueueStats:
    """The queue at a glance. ``by_status`` counts the pending, in-flight, retrying and dead
    deliveries; ``depth`` the pending, retrying and in-flight ones; ``held``
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


_NEXT_DUE = select(func.min(union_all(*[
    select(_first_due(status, deadline=False, filtered=False).subquery().c.due) for status in CLAIMABLE
]).subquery().c.due))


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


def _claim_returned() -> str:
    """The columns a PostgreSQL claim returns: the delivery as taken, its integration's name, its event
    and integration (labelled as in :data:`_LOADED`), what it was before (``was_*``), and how many due
    rows the claim locked (``claim_found``: more than it took when more are due)."""
    columns = [f"deliveries.{c.name}" for c in deliveries.c]
    columns.append("integrations.name AS integration_name")
    columns += [f"events.{c.name} AS evt__{c.name}" for c in events.c]
    columns += [f"integrations.{c.name} AS int__{c.name}" for c in integrations.c]
    columns += [f"chosen.{name} AS was_{name}" for name in _WAS]
    columns.append("chosen.due AS claim_due")
    columns.append("(SELECT count(*) FROM due_rows) AS claim_found")
    return ", ".join(columns)


_WAS = ("status", "lease_owner", "lease_expires_at", "updated_at", "attempts", "schedule_start")


LOST_REASON = ("cut off: worker {owner} stopped renewing its lease, which ran out at {cut_off} (its process or "
               "node died, or lost the database); whether the attempt reached the target is unknown")
"""The reason of a ``lost`` attempt (``{owner}``: its worker, ``{cut_off}``: when its lease ran out)."""
GAVE_UP_REASON = ("gave up after {attempts} attempts: the last one never reported back "
                  "(worker {owner} stopped while it held it)")
"""The reason of a delivery whose last attempt was lost."""


def _sql_reason(template: str, **values: str) -> str:
    """SQL that fills ``template`` (a parameter) with ``values`` (SQL expressions giving text)."""
    sql = f"%({template})s"
    for name, expression in values.items():
        sql = f"replace({sql}, '{{{name}}}', {expression})"
    return sql


@lru_cache(maxsize=None)
def _claim_postgres(*, filtered: bool) -> str:
    """PostgreSQL: the whole claim of up to ``%(limit)s`` due deliveries in one statement, which
    commits as it runs (psycopg prepares its text once). For each claimable status the earliest due
    rows (``%(looked_at)s``: one more than the limit, to tell whether more are due) are locked with
    ``SKIP LOCKED`` (each through ``ix_deliveries_due``, in its order), so that concurrent workers
    pass each other by; of those, the in-flight ones whose lease ran out come first, then the others
    by due time; the ``limit`` first are leased to ``%(worker_id)s`` and
    returned with their event and integration, and with what they were before (``was_*``). An
    expired lease's attempt is recorded as ``lost`` by the same statement, and when that was its
    last (``%(max_attempts)s``, may be NULL) the delivery goes ``dead`` instead, its attempt count
    as it was."""
    only = " AND integration_id = %(integration_id)s" if filtered else ""
    locked = []
    for status in CLAIMABLE:
        when = "lease_expires_at" if status == "in_flight" else "next_attempt_at"
        locked.append(
            f"{status} AS (SELECT id, {', '.join(_WAS)}, {when} AS due, {int(status != 'in_flight')} AS rank"
            f" FROM deliveries WHERE status = '{status}' AND {when} IS NOT NULL AND {when} <= %(now)s"
            f" AND integration_id NOT IN (SELECT id FROM integrations WHERE enabled IS false){only}"
            f" ORDER BY {when} LIMIT %(looked_at)s FOR UPDATE OF deliveries SKIP LOCKED)")
    union = " UNION ALL ".join(f"SELECT * FROM {status}" for status in CLAIMABLE)
    owner = "coalesce(chosen.lease_owner, 'None')"
    lost_reason = _sql_reason("lost_reason", owner=owner, cut_off=(
        "to_char(to_timestamp(chosen.lease_expires_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')"))
    gave_up = _sql_reason("gave_up_reason", owner=owner, attempts="chosen.attempts::text")
    return (f"WITH {', '.join(locked)}, due_rows AS ({union}),"
            " chosen AS (SELECT *, rank = 0 AND %(max_attempts)s::int IS NOT NULL"
            " AND attempts - schedule_start >= %(max_attempts)s::int AS gives_up"
            " FROM due_rows ORDER BY rank, due LIMIT %(limit)s),"
            " lost AS (INSERT INTO attempts (delivery_id, number, worker, started_at, duration_ms, outcome, reason, http)"
            f" SELECT id, attempts, coalesce(lease_owner, ''), updated_at, 0.0, 'lost', {lost_reason}, '[]'"
            " FROM chosen WHERE rank = 0)"
            " UPDATE deliveries SET"
            " status = CASE WHEN chosen.gives_up THEN 'dead' ELSE 'in_flight' END,"
            f" reason = CASE WHEN chosen.gives_up THEN {gave_up} ELSE deliveries.reason END,"
            " lease_owner = CASE WHEN chosen.gives_up THEN NULL ELSE %(worker_id)s END,"
            " lease_expires_at = CASE WHEN chosen.gives_up THEN NULL ELSE %(until)s END,"
            " next_attempt_at = CASE WHEN chosen.gives_up THEN NULL ELSE deliveries.next_attempt_at END,"
            " attempts = CASE WHEN chosen.gives_up THEN deliveries.attempts ELSE deliveries.attempts + 1 END,"
            " updated_at = %(now)s"
            " FROM chosen, events, integrations"
            " WHERE deliveries.id = chosen.id AND events.id = deliveries.event_id"
            " AND integrations.id = deliveries.integration_id"
            f" RETURNING {_claim_returned()}")


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


# PostgreSQL: the whole of a batch of finishes in one statement, when none of them goes dead (a
# dead delivery also gives back its cooldown, :func:`release_for_delivery`): the attempts inserted
# by a data-modifying CTE, the moves as in :data:`_FINISH_ALL_POSTGRES`.
_FINISH_WHOLE_POSTGRES = """
WITH recorded AS (
    INSERT INTO attempts (delivery_id, number, worker, started_at, duration_ms, outcome, reason, http)
    SELECT * FROM unnest(%(a_delivery_id)s::varchar[], %(a_number)s::int[], %(a_worker)s::varchar[],
                         %(a_started_at)s::float8[], %(a_duration_ms)s::float8[], %(a_outcome)s::varchar[],
                         %(a_reason)s::text[], %(a_http)s::text[])
)""" + _FINISH_ALL_POSTGRES
_RECORDED_FIELDS = ("delivery_id", "number", "worker", "started_at", "duration_ms", "outcome", "reason", "http")


def _finish_in_one_statement(jobs: builtins.list[tuple[dict, dict]]):
    """For :class:`BatchCommit` on PostgreSQL with psycopg: the writer of ``jobs`` (finishes) as one
    statement, or None when they need a transaction (a delivery goes dead)."""
    if any(moved["new_status"] == "dead" for _, moved in jobs):
        return None

    def write(connection: Connection) -> builtins.list[bool]:
        params = {f"a_{name}": [recorded[name] for recorded, _ in jobs] for name in _RECORDED_FIELDS}
        params.update({name: [moved[name] for _, moved in jobs] for name in _FINISHED_FIELDS})
        moved_ids = set(connection.exec_driver_sql(_FINISH_WHOLE_POSTGRES, params).scalars())
        return [moved["delivery_id"] in moved_ids for _, moved in jobs]

    return write


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
        psycopg = takes_arrays(engine.dialect)
        self._claims_in_one_statement = psycopg
        self._finishes = BatchCommit(engine, self._write_finishes,
                                     one_statement=_finish_in_one_statement if psycopg else None)

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

    def decision_counts(self, event_ids: builtins.list[str]) -> dict[str, dict[str, int]]:
        """How many of each event's decisions are in each status (``pending``, ``delivered``,
        ``dead``, ``skipped``, ...), a skip line counted once per integration it names (not when a
        replay or override has given that integration a delivery since); two queries a chunk, through
        the event-id indexes."""
        out: dict[str, dict[str, int]] = {event_id: {} for event_id in event_ids}
        for chunk in _chunks(list(dict.fromkeys(event_ids))):
            with reading(self.engine) as connection:
                for event_id, status, number in connection.execute(
                        select(deliveries.c.event_id, deliveries.c.status, func.count())
                        .where(deliveries.c.event_id.in_(chunk))
                        .group_by(deliveries.c.event_id, deliveries.c.status)):
                    out[event_id][status] = out[event_id].get(status, 0) + number
                lines = skip_lines.select_lines().where(skips.c.event_id.in_(chunk)).subquery()
                for event_id, number in connection.execute(
                        select(lines.c.event_id, func.count()).group_by(lines.c.event_id)):
                    out[event_id]["skipped"] = out[event_id].get("skipped", 0) + number
        return out

    def for_event(self, event_id: str) -> list[DeliveryRow]:
        """Every decision taken for an event (one per integration), with the attempts of each."""
        query = _select_deliveries().where(deliveries.c.event_id == event_id).order_by(
            deliveries.c.created_at, deliveries.c.id
        )
        skipped = skip_lines.select_lines().where(skips.c.event_id == event_id)
        with reading(self.engine) as connection:
            rows = self._with_attempts(connection, list(connection.execute(query)))
            rows += _explained(connection, list(connection.execute(skipped)))
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
                    return _explained(connection, [row])[0] if row is not None else None
            delivery_id = replayed
        query = _select_deliveries().where(deliveries.c.id == delivery_id)
        with reading(self.engine) as connection:
            rows = list(connection.execute(query))
            return self._with_attempts(connection, rows)[0] if rows else None

    def list(self, *, integration_id: str | None = None, status: str | None = None,
             since: float | None = None, limit: int = 50,
             before: tuple[float, str] | None = None) -> builtins.list[DeliveryRow]:
        """Newest first (by creation), without attempts; skip lines among them (see :meth:`page`)."""
        return self.page(integration_id=integration_id, status=status, since=since, limit=limit, before=before).rows

    def page(self, *, integration_id: str | None = None, status: str | None = None,
             since: float | None = None, limit: int = 50, before: tuple[float, str] | None = None,
             window: int | None = None, after: tuple[float, str] | None = None) -> DeliveryPage:
        """Newest first (by creation), without attempts; skip lines among them. ``since`` keeps those
        created at or after it; ``before`` is the (created_at, id) of the last row of the previous page.

        Bounded whatever is stored: a list of one status other than ``skipped`` walks that status in
        time order (``ix_deliveries_age``), an integration's of a status that waits or is dead
        (:data:`COUNTED`) reads them through its index; one of an integration otherwise, or with
        skip lines, looks only at the decisions of the ``window`` (:data:`WINDOW`) events before ``before``, and when those run
        out before the page is full, ``searched_to`` is where it stopped (the cursor to go on from).
        Skip lines of every integration come from the newest ``limit`` skip rows only (each makes
        one line at least). ``after`` (instead of ``before``): the rows just newer than that
        (created_at, id), oldest first, for going back; the window then reaches forward from it."""
        window = window or WINDOW
        lines = status in (None, "skipped")
        boundary = None
        with reading(self.engine) as connection:
            if after is not None:
                return self._newer(connection, integration_id, status, since, after, window, limit)
            if lines or (integration_id and status not in COUNTED):  # (a counted status stays small)
                edge = select(events.c.received_at).order_by(events.c.received_at.desc(), events.c.id.desc())
                if before is not None:  # a cursor where a window stopped ("" for an id) excludes its time
                    edge = edge.where(events.c.received_at <= before[0] if before[1] else events.c.received_at < before[0])
                boundary = connection.execute(edge.offset(window - 1).limit(1)).scalar()
            if since is not None and boundary is not None and since >= boundary:
                boundary = None  # ``since`` bounds it already
            selects = [self._deliveries_part(integration_id, status, since, before, boundary, limit)]
            if lines:
                selects.append(self._lines_part(connection, integration_id, since, before, boundary, limit))
            if len(selects) == 1:
                query = selects[0]
            else:
                both = union_all(*[select(q.subquery()) for q in selects]).subquery()
                query = select(both).order_by(both.c.created_at.desc(), both.c.id.desc()).limit(limit)
            rows = _explained(connection, list(connection.execute(query)))
        stopped = (boundary, "") if boundary is not None and len(rows) < limit else None
        return DeliveryPage(rows, stopped, window)

    def _newer(self, connection: Connection, integration_id, status, since, after, window, limit) -> DeliveryPage:
        """:meth:`page` going back: the rows just newer than ``after``, oldest first, among the
        decisions of the ``window`` events from there on; ``searched_to`` is (the time where that
        window ended, "") when it ended before the page was full."""
        lines = status in (None, "skipped")
        ceiling = None
        if lines or (integration_id and status not in COUNTED):
            edge = select(events.c.received_at).order_by(events.c.received_at.asc(), events.c.id.asc())
            edge = edge.where(events.c.received_at >= after[0] if after[1] else events.c.received_at > after[0])
            ceiling = connection.execute(edge.offset(window - 1).limit(1)).scalar()
        query = _select_deliveries()
        if status:
            query = query.where(deliveries.c.status == status)
        elif ceiling is not None:
            query = query.where(deliveries.c.status.in_(STATUSES))
        if integration_id:
            column = deliveries.c.integration_id.concat("") if ceiling is not None else deliveries.c.integration_id
            query = query.where(column == integration_id)
        if ceiling is not None:
            query = query.where(deliveries.c.created_at <= ceiling)
        selects = [_bounded(query, deliveries.c.created_at, deliveries.c.id, since, None, limit, after)]
        if lines:
            created_at = skips.c.created_at
            part = skip_lines.select_lines()
            top = ceiling
            if integration_id:
                part = part.where(skip_lines.integration_set_members.c.integration_id == integration_id)
            else:  # the lines of the oldest ``limit`` skip rows after ``after`` (and those of the same time)
                oldest = select(created_at).where(created_at >= after[0]).order_by(created_at.asc(), skips.c.id.asc())
                threshold = connection.execute(oldest.offset(limit - 1).limit(1)).scalar()
                if threshold is not None and (top is None or threshold < top):
                    top = threshold
            if top is not None:
                part = part.where(created_at <= top)
            row_id = skips.c.event_id + skip_lines.SEPARATOR + skip_lines.integration_set_members.c.integration_id
            selects.append(_bounded(part, created_at, row_id, since, None, limit, after))
        if len(selects) == 1:
            query = selects[0]
        else:
            both = union_all(*[select(q.subquery()) for q in selects]).subquery()
            query = select(both).order_by(both.c.created_at.asc(), both.c.id.asc()).limit(limit)
        rows = _explained(connection, list(connection.execute(query)))
        stopped = (ceiling, "") if ceiling is not None and len(rows) < limit else None
        return DeliveryPage(rows, stopped, window)

    def total(self, *, integration_id: str | None = None, status: str | None = None,
              since: float | None = None) -> Total:
        """How many decisions :meth:`page` lists with these filters, counted as it reads them (up to
        :data:`~.counting.COUNT_CAP`, within its window of the :data:`WINDOW` newest events where it
        has one). Skip lines of every integration are counted by the sizes of the newest skip rows'
        sets: past the cap, a line a replay replaced may be counted beside its delivery."""
        lines = status in (None, "skipped")
        boundary = None
        with reading(self.engine) as connection:
            if lines or (integration_id and status not in COUNTED):
                edge = select(events.c.received_at).order_by(events.c.received_at.desc(), events.c.id.desc())
                boundary = connection.execute(edge.offset(WINDOW - 1).limit(1)).scalar()
            if since is not None and boundary is not None and since >= boundary:
                boundary = None
            if lines and not integration_id:
                past = self._past_cap(connection, status, since, boundary)
                if past is not None:
                    return Total(counting.COUNT_CAP, True, past)
            selects = [self._deliveries_part(integration_id, status, since, None, boundary, counting.COUNT_CAP + 1)]
            if lines:
                selects.append(self._lines_part(connection, integration_id, since, None, boundary, counting.COUNT_CAP + 1))
            both = union_all(*[select(q.subquery()) for q in selects]).subquery()
            query = select(both.c.created_at).order_by(both.c.created_at.desc(), both.c.id.desc())
            return capped_count(connection, query, window_end=boundary)

    def _past_cap(self, connection: Connection, status, since, boundary) -> float | None:
        """Where the decisions of every integration, newest first, pass :data:`~.counting.COUNT_CAP`
        (deliveries one each, skip rows as many as their sets name): the time of the last one
        counted; None when they do not (then counting them one by one is cheap)."""
        stamps: builtins.list[tuple[float, int]] = []
        query = select(deliveries.c.created_at).where(  # through ix_deliveries_age
            deliveries.c.status == status if status else deliveries.c.status.in_(STATUSES))
        if since is not None:
            query = query.where(deliveries.c.created_at >= since)
        if boundary is not None:
            query = query.where(deliveries.c.created_at >= boundary)
        stamps += [(stamp, 1) for stamp in connection.execute(
            query.order_by(deliveries.c.created_at.desc()).limit(counting.COUNT_CAP + 1)).scalars()]
        rows = select(skips.c.created_at, skip_lines.integration_sets.c.size).join(
            skip_lines.integration_sets, skip_lines.integration_sets.c.id == skips.c.set_id)
        if since is not None:
            rows = rows.where(skips.c.created_at >= since)
        if boundary is not None:
            rows = rows.where(skips.c.created_at >= boundary)
        stamps += [(stamp, size) for stamp, size in connection.execute(
            rows.order_by(skips.c.created_at.desc()).limit(counting.COUNT_CAP + 1))]
        counted = 0
        for stamp, weight in sorted(stamps, reverse=True):
            counted += weight
            if counted > counting.COUNT_CAP:
                return stamp
        return None

    @staticmethod
    def _deliveries_part(integration_id, status, since, before, boundary, limit):
        query = _select_deliveries()
        created_at = deliveries.c.created_at
        if status:
            query = query.where(deliveries.c.status == status)
        elif boundary is not None:  # every status: ix_deliveries_age's time ranges
            query = query.where(deliveries.c.status.in_(STATUSES))
        if integration_id:
            # within the window, by time (``|| ''``: not through the integration's index, which
            # would read every delivery it ever had)
            column = deliveries.c.integration_id.concat("") if boundary is not None else deliveries.c.integration_id
            query = query.where(column == integration_id)
        if boundary is not None:
            query = query.where(created_at >= boundary)
        return _bounded(query, created_at, deliveries.c.id, since, before, limit)

    @staticmethod
    def _lines_part(connection, integration_id, since, before, boundary, limit):
        created_at = skips.c.created_at
        query = skip_lines.select_lines()
        if integration_id:
            query = query.where(skip_lines.integration_set_members.c.integration_id == integration_id)
        else:  # every integration: the lines of the newest ``limit`` skip rows (and those of the same time)
            newest = select(created_at).order_by(created_at.desc(), skips.c.id.desc())
            if before is not None:
                newest = newest.where(created_at <= before[0])
            if since is not None:
                newest = newest.where(created_at >= since)
            threshold = connection.execute(newest.offset(limit - 1).limit(1)).scalar()
            if threshold is not None and (boundary is None or threshold > boundary):
                boundary = threshold
        if boundary is not None:
            query = query.where(created_at >= boundary)
        row_id = skips.c.event_id + skip_lines.SEPARATOR + skip_lines.integration_set_members.c.integration_id
        return _bounded(query, created_at, row_id, since, before, limit)

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
                   integration_id: str | None = None, *, max_attempts: int | None = None) -> Claimed:
        """Like :meth:`claim`, up to ``limit`` deliveries in one transaction (those due, in the same
        order), all under one lease: a worker facing a backlog spends less on claiming. The result's
        ``more`` tells whether more deliveries were due than it took (one more is looked at; on
        PostgreSQL a row locked by another worker's claim is not seen)."""
        params = {"now": now, "integration_id": integration_id}
        if self._claims_in_one_statement:
            claimed, taken_over = retrying(
                lambda: self._claim_in_one_statement(params, worker_id, lease_seconds, now, limit, max_attempts))
        else:
            statements = _claim_candidates(filtered=integration_id is not None,
                                           sqlite=self.engine.dialect.name == "sqlite", limit=limit + 1)
            claimed, taken_over = retrying(
                lambda: self._claim(statements, params, worker_id, lease_seconds, now, limit, max_attempts))
        _log_take_over(worker_id, taken_over)
        return claimed

    def _claim(self, statements, params, worker_id: str, lease_seconds: float, now: float, limit: int,
               max_attempts: int | None) -> tuple[Claimed, dict[str, TakenOver]]:
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
                        self._set(connection, row.id, status="dead", now=now,
                                  reason=GAVE_UP_REASON.format(attempts=row.attempts, owner=row.lease_owner))
                        gone.dead.append(row.id)
                        continue
                chosen.append(row)
            expired = [row for row in chosen if row.status == "in_flight"]
            queued = sorted((row for row in chosen if row.status != "in_flight"), key=lambda r: r.next_attempt_at)
            due = expired + queued
            taken = self._take(connection, due[:limit], worker_id, now + lease_seconds, now)
            return Claimed(taken, more=len(due) > limit), taken_over

    def _claim_in_one_statement(self, params: dict[str, Any], worker_id: str, lease_seconds: float, now: float,
                                limit: int, max_attempts: int | None) -> tuple[Claimed, dict[str, TakenOver]]:
        """PostgreSQL with psycopg: :meth:`_claim` as one statement (:func:`_claim_postgres`), which
        commits as it runs."""
        sql = _claim_postgres(filtered=params["integration_id"] is not None)
        with self.engine.connect() as connection:
            rows = connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(sql, {
                **params, "limit": limit, "looked_at": limit + 1, "worker_id": worker_id, "until": now + lease_seconds,
                "max_attempts": max_attempts, "lost_reason": LOST_REASON, "gave_up_reason": GAVE_UP_REASON,
            }).all()
        taken_over: dict[str, TakenOver] = {}
        claimed = Claimed(more=bool(rows) and rows[0].claim_found > len(rows))
        for row in sorted(rows, key=lambda r: (r.was_status != "in_flight", r.claim_due)):
            if row.was_status == "in_flight":
                gone = taken_over.setdefault(row.was_lease_owner or "?", TakenOver())
                gone.lost.append(row.id)
                if row.status == "dead":
                    gone.dead.append(row.id)
                    continue
            claimed.append(_loaded(row))
        return claimed, taken_over

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
            reason=LOST_REASON.format(owner=expired.lease_owner, cut_off=cut_off),
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
        if takes_arrays(connection.dialect) and len(jobs) > 1:
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
        enabled integration, or the earliest lease end of an in-flight one (None: nothing waits).
        One statement (the first of each status through its index); on a server database outside
        a transaction, so that it costs one round trip."""
        with self.engine.connect() as connection:
            if connection.dialect.name != "sqlite":
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            return connection.execute(_NEXT_DUE).scalar()

    # by hand -----------------------------------------------------------------------------------

    def retry(self, delivery_id: str, now: float, audit: Entry | None = None) -> DeliveryRow | None:
        """Make a ``dead``, ``retrying`` or ``pending`` delivery due now (status ``pending``; the attempt
        count goes on from where it was). None when there is no such delivery; :class:`NotRetryable`
        for other statuses. ``audit``: the action's audit log entry (given the delivery as it is now),
        written in the same transaction."""
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
            row = _delivery(connection.execute(_select_deliveries().where(deliveries.c.id == delivery_id)).first())
            audit_log.write_with(connection, audit, row)
            return row

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

    def dead_event_ids(self, integration_id: str, since: float) -> builtins.list[str]:
        """The events of the integration's ``dead`` deliveries that went dead at or after ``since``."""
        with reading(self.engine) as connection:
            return list(connection.execute(
                select(deliveries.c.event_id)
                .where(deliveries.c.integration_id == integration_id, deliveries.c.status == "dead",
                       deliveries.c.updated_at >= since)
                .order_by(deliveries.c.updated_at, deliveries.c.id)).scalars())

    def decide_again(self, integration_id: str, plugin: str, decisions: builtins.list[Again], *, now: float,
                     action: str, origin: str, audit: Entry | None = None) -> builtins.list[AgainResult]:
        """Apply decisions taken again by hand (``action``: ``replay`` or ``override``, by ``origin``)
        for events of one integration, in one transaction, and record each in the event's history
        (:mod:`.decision_history`) with the decision it replaces. A queued one claims its cooldown
        here (or, when another event holds the key, is skipped saying so), then re-queues the
        integration's delivery of the event, due now, or creates one (an event it skipped, or never
        decided on). A skipped one changes nothing but the history: the decision before stays, with
        its reason. A delivery in flight is left alone. ``audit``: the action's audit log entry (given
        the results), written in the same transaction."""
        if action not in decision_history.ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        results = []
        with writing(self.engine) as connection:
            if any(d.queued for d in decisions):
                announce(connection)
            ids = [d.event_id for d in decisions]
            existing: dict[str, Any] = {}
            skipped: dict[str, str] = {}
            for chunk in _chunks(list(dict.fromkeys(ids))):
                for row in connection.execute(
                        select(deliveries.c.event_id, deliveries.c.id, deliveries.c.status, deliveries.c.reason)
                        .where(deliveries.c.integration_id == integration_id, deliveries.c.event_id.in_(chunk))):
                    existing[row.event_id] = row
                skipped.update(skip_lines.skip_reasons(connection, integration_id, chunk))
            for d in decisions:
                current = existing.get(d.event_id)
                previous = ((current.status, current.reason) if current is not None else
                            ("skipped", skipped[d.event_id]) if d.event_id in skipped else (None, None))
                outcome, reason, delivery_id, created = ("queued" if d.queued else "skipped"), d.reason, None, False
                if current is not None and current.status == "in_flight":
                    outcome, reason = "in_flight", "left alone: an attempt is running now; wait for its outcome"
                elif d.queued and d.cooldown is not None:
                    took, held = claim(connection, Claim(integration_id, d.cooldown.key, d.cooldown.seconds,
                                                         d.cooldown.description), d.event_id, now,
                                       force=d.force_cooldown)
                    if took:
                        reason = f"{reason}; {held.taken_reason()}"
                    else:
                        outcome, reason = "skipped", held.refusal(d.cooldown.description)
                if outcome == "queued":
                    words = "sent by hand despite the denial (override)" if d.overrode else "re-queued by hand (replay)"
                    queued_reason = f"{words}: {reason}"
                    if current is not None:
                        delivery_id = current.id
                        connection.execute(update(deliveries).where(deliveries.c.id == current.id)
                                           .values(**_requeue_values(now, queued_reason)))
                    else:
                        delivery_id, created = new_id(), True
                        connection.execute(insert(deliveries).values(
                            id=delivery_id, event_id=d.event_id, integration_id=integration_id, plugin=plugin,
                            status="pending", reason=queued_reason, attempts=0, next_attempt_at=now,
                            created_at=now, updated_at=now))
                        existing[d.event_id] = SimpleNamespace(event_id=d.event_id, id=delivery_id,
                                                               status="pending", reason=queued_reason)
                decision_history.add(
                    connection, event_id=d.event_id, integration_id=integration_id, action=action, origin=origin,
                    outcome=outcome, reason=reason,
                    overrode=[{"stage": stage, "reason": why} for stage, why in d.overrode],
                    previous_status=previous[0], previous_reason=previous[1], delivery_id=delivery_id,
                    created_at=now)
                results.append(AgainResult(d.event_id, outcome, reason, delivery_id, created, *previous, d.overrode))
            audit_log.write_with(connection, audit, results)
        return results

    # housekeeping ------------------------------------------------------------------------------

    def prune(self, before: float, forget_keys_before: float | None = None) -> PruneResult:
        """Delete ``delivered`` and ``skipped`` deliveries (and their attempts) last changed before
        ``before``, then events received before it that have no delivery left. Dead and queued
        deliveries, and their events, are kept. The de-duplication key of each event removed is
        kept (``removed_event_keys``), so that the same webhook is still a duplicate; keys removed
        before ``forget_keys_before`` are forgotten (None: none are). Works in small transactions."""
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
                    connection.execute(removed_event_keys.insert().from_select(
                        ["dedupe_key", "event_id", "removed_at"],
                        select(events.c.dedupe_key, events.c.id, literal(now_stamp(), Float))
                        .where(events.c.id.in_(ids))))
                    connection.execute(delete(events).where(events.c.id.in_(ids)))
            removed_events += len(ids)
            if len(ids) < BATCH:
                break
        while forget_keys_before is not None:
            with writing(self.engine) as connection:
                keys = list(connection.execute(
                    select(removed_event_keys.c.dedupe_key)
                    .where(removed_event_keys.c.removed_at < forget_keys_before).limit(BATCH)).scalars())
                if keys:
                    connection.execute(delete(removed_event_keys).where(removed_event_keys.c.dedupe_key.in_(keys)))
            if len(keys) < BATCH:
                break
        with writing(self.engine) as connection:
            skip_lines.prune_sets(connection, before)
        return PruneResult(deliveries=removed_deliveries, events=removed_events)

    def stats(self, now: float) -> QueueStats:
        """Counts of the deliveries that wait or need a person (:data:`COUNTED`), queue depth, held
        deliveries and the age of the oldest queued one. Bounded: each count reads the status
        index over its own rows only; delivered and skipped ones, which every event adds to, are
        not counted (the ``gateway_decisions`` and ``gateway_delivery_attempts`` counters do)."""
        waiting = (*QUEUED, "in_flight")
        with reading(self.engine) as connection:
            counts = {status: connection.execute(_COUNT_STATUS, {"status": status}).scalar() or 0
                      for status in COUNTED}
            # held deliveries (integration disabled) wait on purpose; one look-up per status (ix_deliveries_age)
            firsts = [connection.execute(_OLDEST_WAITING, {"status": status}).scalar() for status in waiting]
            oldest = min((f for f in firsts if f is not None), default=None)
            held = connection.execute(
                select(func.count()).select_from(deliveries)
                .where(deliveries.c.status.in_(QUEUED), deliveries.c.integration_id.in_(_DISABLED))
            ).scalar() or 0
        by_status = {status: int(counts[status]) for status in COUNTED}
        return QueueStats(
            by_status=by_status, depth=sum(by_status[s] for s in waiting), held=held,
            oldest_age=max(0.0, now - oldest) if oldest is not None else None,
        )


COUNTED = ("pending", "in_flight", "retrying", "dead")
"""The statuses :meth:`DeliveryStore.stats` counts: those a delivery leaves (or that wait for a person)."""

_OLDEST_WAITING = (select(deliveries.c.created_at)
                   .where(deliveries.c.status == bindparam("status"), deliveries.c.integration_id.not_in(_DISABLED))
                   .order_by(deliveries.c.created_at).limit(1))
_COUNT_STATUS = select(func.count()).select_from(deliveries).where(
    deliveries.c.status == bindparam("status"))  # ix_deliveries_due's leading column


def _requeue_values(now: float, reason: str) -> dict[str, Any]:
    return dict(status="pending", next_attempt_at=now, reason=reason, summary=None, details=None,
                lease_owner=None, lease_expires_at=None, updated_at=now, batch_id=None,
                schedule_start=deliveries.c.attempts)  # a fresh retry schedule from here


def _not_retryable_message(status: str) -> str:
    if status == "in_flight":
        return "an attempt is running now; wait for its outcome"
    if status == "delivered":
        return "it was delivered; to send it again, replay its event (event_ids)"
    return ("it was skipped; replay its event (event_ids) to decide again with the current policy and plugin, "
            "or send it despite the denial with an override")


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

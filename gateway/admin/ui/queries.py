"""What the web UI reads beyond the admin API's lists: per-integration figures of the last 24 hours,
hourly delivered / failed counts for the charts, and the event search with its filters."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import and_, case, exists, func, literal, or_, select
from sqlalchemy.engine import Engine

from gateway.store.base import reading
from gateway.store import counting
from gateway.store.counting import Total, capped_count
from gateway.store.deliveries import STATUSES
from gateway.store.events import EventRow, newer_than, older_than, page_query, _row as event_row
from gateway.store.skips import POLICY_DENIAL
from gateway.store.tables import attempts, check_results, deliveries, events, integration_set_members, integration_sets, integrations, skips

DAY = 24 * 3600
HOUR = 3600
WAITING = ("pending", "retrying", "in_flight")


@dataclass(frozen=True)
class DecisionBrief:
    """One integration's decision on an event, for the events list (or, for skip lines, how many
    integrations skipped it and why: ``note``)."""

    integration_id: str
    integration_name: str | None
    status: str
    note: str | None = None


@dataclass(frozen=True)
class IntegrationBrief:
    """An integration as the overview's table lists it."""

    id: str
    name: str
    plugin: str
    enabled: bool
    created_at: float
    checks: str | None  # the state of its stored checks; None when none is stored


@dataclass(frozen=True)
class EventSearch:
    """A page of the event search; ``searched_to``: the (received_at, id) where the search window
    ended before the page was full (older events were not looked at), else None."""

    rows: list[EventRow]
    searched_to: tuple[float, str] | None
    window: int


SEARCH_WINDOW = 5000
"""How many events (newest first, from the page's cursor) a filtered page looks through at most."""
MENU_WINDOW = 1000
"""The newest events whose sources and kinds fill the filter menus."""


def _chunks(items: list[str], size: int = 500):
    for begin in range(0, len(items), size):
        yield items[begin:begin + size]


def _before(cursor: tuple[float, str]):
    return older_than(cursor)


def _after(cursor: tuple[float, str]):
    return newer_than(cursor)


def _with_decision(query, status: str | None, integration_id: str | None):
    """Keep the events with a decision of ``status`` and/or of ``integration_id``: a delivery row,
    or a skip line (compact skips). Each test looks the event up by its id (the page walks the
    events newest first), never by status: ``status || ''`` keeps the database off the status index,
    and ``OFFSET 0`` keeps PostgreSQL from turning a test into a join that reads every delivery of
    the status (:func:`_per_event`)."""
    if not status and not integration_id:
        return query
    by_event = deliveries.c.event_id == events.c.id
    conditions = []
    if status is None or status != "skipped" or integration_id:
        delivery = [by_event]
        if status:
            delivery.append(deliveries.c.status.concat("") == status)
        if integration_id:
            delivery.append(deliveries.c.integration_id == integration_id)
        conditions.append(_per_event(*delivery))
    if status in (None, "skipped"):
        if integration_id:
            line = _per_event(skips.c.event_id == events.c.id, integration_set_members.c.set_id == skips.c.set_id,
                              integration_set_members.c.integration_id == integration_id)
        else:
            line = _per_event(skips.c.event_id == events.c.id)
        conditions.append(line)
        if status == "skipped" and not integration_id:
            conditions.append(_per_event(by_event, deliveries.c.status.concat("") == "skipped"))
    return query.where(or_(*conditions))


def _per_event(*conditions):
    """``EXISTS (SELECT 1 ... WHERE conditions OFFSET 0)``: tested for each event the page walks,
    through the index of the event id. PostgreSQL turns a plain EXISTS into a semi-join when it
    guesses few rows match (it cannot guess what ``status || ''`` keeps), and then reads every
    delivery of the status first (seconds at a million); it leaves one with an OFFSET as it is."""
    return select(literal(1)).where(*conditions).offset(0).exists()


def _with_text(query, text: str | None):
    """Keep the events with ``text`` in the title or at the start of the flag key."""
    if not text:
        return query
    pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    flag_key = '%"flag_key":"' + pattern[1:]  # the flag key as the stored JSON writes it
    return query.where(or_(func.lower(events.c.title).like(pattern, escape="\\"),
                           func.lower(events.c.body).like(flag_key, escape="\\")))


@dataclass
class IntegrationFigures:
    """One integration over the last 24 hours."""

    last_delivered_at: float | None = None
    failed_attempts: int = 0
    dead: int = 0
    queued: int = 0
    delivered_per_hour: list[int] = field(default_factory=lambda: [0] * 24)
    failed_per_hour: list[int] = field(default_factory=lambda: [0] * 24)


class UiQueries:
    def __init__(self, engine: Engine):
        self.engine = engine

    def figures(self, now: float, integration_ids: list[str] | None = None) -> dict[str, IntegrationFigures]:
        """Figures by integration id (``integration_ids``: those only, as the overview's page needs):
        last delivery, failed attempts and dead deliveries in the last 24 h, queue depth, and per
        hour (oldest first) the delivered and failed attempts. Each query reads the deliveries
        changed in the last 24 hours through the integration index (an attempt made since then
        changed its delivery since), never every attempt."""
        since = now - DAY
        out: dict[str, IntegrationFigures] = {}
        if integration_ids is None:
            with reading(self.engine) as connection:
                integration_ids = list(connection.execute(select(integrations.c.id)).scalars())
        if not integration_ids:
            return out

        def of(integration_id: str) -> IntegrationFigures:
            return out.setdefault(integration_id, IntegrationFigures())

        start = math.floor(now / HOUR) * HOUR - 23 * HOUR  # the first of 24 hour slots, the last being this hour
        bucket = func.floor((attempts.c.started_at - start) / HOUR)
        delivered = case((attempts.c.outcome == "delivered", 1), else_=0)
        for chunk in _chunks(integration_ids):
            recent = and_(deliveries.c.integration_id.in_(chunk), deliveries.c.status.in_(STATUSES),
                          deliveries.c.updated_at >= min(start, since))
            tried = attempts.join(deliveries, deliveries.c.id == attempts.c.delivery_id)
            with reading(self.engine) as connection:
                for row in connection.execute(
                    select(deliveries.c.integration_id, bucket.label("slot"), func.sum(delivered).label("ok"),
                           func.count().label("all"))
                    .select_from(tried).where(recent, attempts.c.started_at >= start)
                    .group_by(deliveries.c.integration_id, bucket)
                ):
                    slot = int(row.slot)
                    if 0 <= slot < 24:
                        figures = of(row.integration_id)
                        figures.delivered_per_hour[slot] += int(row.ok or 0)
                        figures.failed_per_hour[slot] += int(row.all) - int(row.ok or 0)
                for row in connection.execute(
                    select(deliveries.c.integration_id, func.count()).select_from(tried)
                    .where(recent, attempts.c.started_at >= since, attempts.c.outcome != "delivered")
                    .group_by(deliveries.c.integration_id)
                ):
                    of(row[0]).failed_attempts = int(row[1])
                last = (select(func.max(deliveries.c.updated_at))  # per integration: the end of its index range
                        .where(deliveries.c.integration_id == integrations.c.id, deliveries.c.status == "delivered")
                        .scalar_subquery())
                for row in connection.execute(select(integrations.c.id, last).where(integrations.c.id.in_(chunk))):
                    if row[1] is not None:
                        of(row[0]).last_delivered_at = row[1]
                for row in connection.execute(
                    select(deliveries.c.integration_id, deliveries.c.status, func.count())
                    .where(deliveries.c.integration_id.in_(chunk),
                           or_(deliveries.c.status.in_(WAITING),
                               and_(deliveries.c.status == "dead", deliveries.c.updated_at >= since)))
                    .group_by(deliveries.c.integration_id, deliveries.c.status)
                ):
                    if row[1] == "dead":
                        of(row[0]).dead += int(row[2])
                    else:
                        of(row[0]).queued += int(row[2])
        return out

    def search_events(self, *, limit: int, before: tuple[float, str] | None = None, source: str | None = None,
                      kind: str | None = None, status: str | None = None, integration_id: str | None = None,
                      text: str | None = None, since: float | None = None, until: float | None = None,
                      window: int | None = None, after: tuple[float, str] | None = None) -> EventSearch:
        """Events newest first, among the ``window`` events before ``before`` at most, so that a page
        costs the same however many events are stored and however rare the ones wanted are.
        ``status`` and ``integration_id`` keep events with such a decision (both given: one decision
        with both), skip lines included; ``text`` is looked for in the title and the flag key. When
        the window ran out before the page was full, ``searched_to`` is where the search stopped
        (the cursor to go on from). ``since`` and ``until`` keep the events received in that time
        (both ends included). ``after`` (instead of ``before``): the page of the events just newer
        than that (received_at, id), for going back; the window then reaches forward from it."""
        window = window or SEARCH_WINDOW
        boundary = None
        # a source or a kind alone reads its own index (ix_events_source, ix_events_kind): no window
        filtered = any((status, integration_id, text)) or bool(source and kind)
        newer = after is not None
        order = (events.c.received_at.asc(), events.c.id.asc()) if newer else \
            (events.c.received_at.desc(), events.c.id.desc())
        with reading(self.engine) as connection:
            span = []  # the time range asked for (received at), through ix_events_received
            if since is not None:
                span.append(events.c.received_at >= since)
            if until is not None:
                span.append(events.c.received_at <= until)
            if after is not None:
                span.append(_after(after))
            if filtered:
                edge = select(events.c.received_at, events.c.id).where(*span).order_by(*order) \
                    .offset(window - 1).limit(1)
                if before is not None and not newer:
                    edge = edge.where(_before(before))
                found = connection.execute(edge).first()
                boundary = (found[0], found[1]) if found is not None else None
            query = page_query(limit=limit, before=None if newer else before, source=source, kind=kind).where(*span)
            if newer:
                query = query.order_by(None).order_by(*order)
            if boundary is not None:
                stamp, last_id = boundary
                if newer:
                    query = query.where(events.c.received_at <= stamp, or_(
                        events.c.received_at < stamp, and_(events.c.received_at == stamp, events.c.id <= last_id)))
                else:
                    query = query.where(newer_than(boundary, including=True))
            query = _with_text(_with_decision(query, status, integration_id), text)
            rows = [event_row(row, with_raw=False) for row in connection.execute(query)]
        stopped = boundary if boundary is not None and len(rows) < limit else None
        return EventSearch(rows, stopped, window)

    def total_events(self, *, source: str | None = None, kind: str | None = None, status: str | None = None,
                     integration_id: str | None = None, text: str | None = None, since: float | None = None,
                     until: float | None = None) -> Total:
        """How many events the search finds with these filters, counted up to
        :data:`~gateway.store.counting.COUNT_CAP` among the :data:`SEARCH_WINDOW` newest events (of
        the time range asked for) at most, so that it costs what a page does."""
        span = []
        if since is not None:
            span.append(events.c.received_at >= since)
        if until is not None:
            span.append(events.c.received_at <= until)
        with reading(self.engine) as connection:
            edge = connection.execute(select(events.c.received_at, events.c.id).where(*span)
                                      .order_by(events.c.received_at.desc(), events.c.id.desc())
                                      .offset(SEARCH_WINDOW - 1).limit(1)).first()
            query = page_query(limit=counting.COUNT_CAP + 1, source=source, kind=kind).where(*span) \
                .with_only_columns(events.c.received_at, events.c.id)
            if edge is not None:
                query = query.where(newer_than((edge[0], edge[1]), including=True))
            query = _with_text(_with_decision(query, status, integration_id), text).limit(None)
            return capped_count(connection, query, window_end=edge[0] if edge is not None else None)

    def sources_and_kinds(self, recent: int = MENU_WINDOW) -> tuple[list[str], list[str]]:
        """The sources and kinds of the ``recent`` newest events, for the filter menus (a bounded
        read: the menus do not scan the stored events)."""
        newest = (select(events.c.source, events.c.kind)
                  .order_by(events.c.received_at.desc(), events.c.id.desc()).limit(recent).subquery())
        with reading(self.engine) as connection:
            pairs = connection.execute(select(newest.c.source, newest.c.kind).distinct()).all()
        return sorted({p[0] for p in pairs}), sorted({p[1] for p in pairs})

    def recent_flag_events(self, source: str, limit: int = 20) -> list[EventRow]:
        """The newest events of a source, with their raw payloads (the "try it" box's choices)."""
        query = (select(events).where(events.c.source == source)
                 .order_by(events.c.received_at.desc(), events.c.id.desc()).limit(limit))
        with reading(self.engine) as connection:
            return [event_row(row) for row in connection.execute(query)]

    def decisions_of(self, event_ids: list[str]) -> dict[str, list[DecisionBrief]]:
        """Each event's decisions (integration and status), deliveries one by one and skip lines
        counted (one brief per skip row: its reason and how many integrations it names)."""
        out: dict[str, list[DecisionBrief]] = {event_id: [] for event_id in event_ids}
        if not event_ids:
            return out
        query = (select(deliveries.c.event_id, deliveries.c.integration_id, integrations.c.name, deliveries.c.status)
                 .select_from(deliveries.outerjoin(integrations, integrations.c.id == deliveries.c.integration_id))
                 .where(deliveries.c.event_id.in_(event_ids))
                 .order_by(deliveries.c.created_at, deliveries.c.id))
        skipped = (select(skips.c.event_id, integration_sets.c.size, skips.c.reason)
                   .join(integration_sets, integration_sets.c.id == skips.c.set_id)
                   .where(skips.c.event_id.in_(event_ids)).order_by(skips.c.id))
        with reading(self.engine) as connection:
            for row in connection.execute(query):
                out[row[0]].append(DecisionBrief(row[1], row[2], row[3]))
            for event_id, size, reason in connection.execute(skipped):
                if size:
                    label = "by their policy" if reason == POLICY_DENIAL else reason
                    name = f"{size} integration{'' if size == 1 else 's'}"
                    out[event_id].append(DecisionBrief("", name, "skipped", label))
        return out

    def integration_briefs(self) -> list[IntegrationBrief]:
        """Every integration's id, name, plugin, whether enabled, when created, and the state of its
        stored checks (None: not checked yet), without reading configs or check details."""
        subject = literal("integration:") + integrations.c.id
        query = (select(integrations.c.id, integrations.c.name, integrations.c.plugin, integrations.c.enabled,
                        integrations.c.created_at, check_results.c.state)
                 .select_from(integrations.outerjoin(check_results, check_results.c.subject == subject)))
        with reading(self.engine) as connection:
            return [IntegrationBrief(*row) for row in connection.execute(query)]

    def integration_ids(self) -> set[str]:
        """The ids of the integrations there are now."""
        with reading(self.engine) as connection:
            return set(connection.execute(select(integrations.c.id)).scalars())

    def event_titles(self, event_ids: list[str]) -> dict[str, str]:
        """The titles of these events, in one query."""
        if not event_ids:
            return {}
        with reading(self.engine) as connection:
            return dict(connection.execute(select(events.c.id, events.c.title).where(events.c.id.in_(event_ids))).all())

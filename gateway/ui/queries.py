"""What the web UI reads beyond the admin API's lists: per-integration figures of the last 24 hours,
hourly delivered / failed counts for the charts, and the event search with its filters."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.engine import Engine

from ..store.base import reading
from ..store.events import EventRow, page_query, _row as event_row
from ..store.tables import attempts, deliveries, events, integrations

DAY = 24 * 3600
HOUR = 3600
WAITING = ("pending", "retrying", "in_flight")


@dataclass(frozen=True)
class DecisionBrief:
    """One integration's decision on an event, for the events list."""

    integration_id: str
    integration_name: str | None
    status: str


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

    def figures(self, now: float) -> dict[str, IntegrationFigures]:
        """Figures by integration id: last delivery, failed attempts and dead deliveries in the last
        24 h, queue depth, and per hour (oldest first) the delivered and failed attempts."""
        since = now - DAY
        out: dict[str, IntegrationFigures] = {}

        def of(integration_id: str) -> IntegrationFigures:
            return out.setdefault(integration_id, IntegrationFigures())

        start = math.floor(now / HOUR) * HOUR - 23 * HOUR  # the first of 24 hour slots, the last being this hour
        bucket = func.floor((attempts.c.started_at - start) / HOUR)
        delivered = case((attempts.c.outcome == "delivered", 1), else_=0)
        with reading(self.engine) as connection:
            for row in connection.execute(
                select(deliveries.c.integration_id, bucket.label("slot"), func.sum(delivered).label("ok"),
                       func.count().label("all"))
                .select_from(attempts.join(deliveries, deliveries.c.id == attempts.c.delivery_id))
                .where(attempts.c.started_at >= start)
                .group_by(deliveries.c.integration_id, bucket)
            ):
                slot = int(row.slot)
                if 0 <= slot < 24:
                    figures = of(row.integration_id)
                    figures.delivered_per_hour[slot] += int(row.ok or 0)
                    figures.failed_per_hour[slot] += int(row.all) - int(row.ok or 0)
            for row in connection.execute(
                select(deliveries.c.integration_id, func.count())
                .select_from(attempts.join(deliveries, deliveries.c.id == attempts.c.delivery_id))
                .where(attempts.c.started_at >= since, attempts.c.outcome != "delivered")
                .group_by(deliveries.c.integration_id)
            ):
                of(row[0]).failed_attempts = int(row[1])
            for row in connection.execute(
                select(deliveries.c.integration_id, func.max(attempts.c.started_at))
                .select_from(attempts.join(deliveries, deliveries.c.id == attempts.c.delivery_id))
                .where(attempts.c.outcome == "delivered")
                .group_by(deliveries.c.integration_id)
            ):
                of(row[0]).last_delivered_at = row[1]
            for row in connection.execute(
                select(deliveries.c.integration_id, deliveries.c.status, func.count())
                .where(or_(deliveries.c.status.in_(WAITING),
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
                      text: str | None = None) -> list[EventRow]:
        """Events newest first. ``status`` and ``integration_id`` keep events with such a delivery (both
        given: one delivery with both); ``text`` is looked for in the title and the flag key."""
        query = page_query(limit=limit, before=before, source=source, kind=kind)
        if status or integration_id:
            conditions = [deliveries.c.event_id == events.c.id]
            if status:
                conditions.append(deliveries.c.status == status)
            if integration_id:
                conditions.append(deliveries.c.integration_id == integration_id)
            query = query.where(exists().where(*conditions))
        if text:
            pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            flag_key = '%"flag_key":"' + pattern[1:]  # the flag key as the stored JSON writes it
            query = query.where(or_(func.lower(events.c.title).like(pattern, escape="\\"),
                                    func.lower(events.c.body).like(flag_key, escape="\\")))
        with reading(self.engine) as connection:
            return [event_row(row, with_raw=False) for row in connection.execute(query)]

    def sources_and_kinds(self) -> tuple[list[str], list[str]]:
        """The sources and kinds of the stored events, for the filter menus."""
        with reading(self.engine) as connection:
            sources = sorted(connection.execute(select(events.c.source).distinct()).scalars())
            kinds = sorted(connection.execute(select(events.c.kind).distinct()).scalars())
        return sources, kinds

    def recent_flag_events(self, source: str, limit: int = 20) -> list[EventRow]:
        """The newest events of a source, with their raw payloads (the "try it" box's choices)."""
        query = (select(events).where(events.c.source == source)
                 .order_by(events.c.received_at.desc(), events.c.id.desc()).limit(limit))
        with reading(self.engine) as connection:
            return [event_row(row) for row in connection.execute(query)]

    def decisions_of(self, event_ids: list[str]) -> dict[str, list[DecisionBrief]]:
        """Each event's decisions (integration and status), in one query."""
        out: dict[str, list[DecisionBrief]] = {event_id: [] for event_id in event_ids}
        if not event_ids:
            return out
        query = (select(deliveries.c.event_id, deliveries.c.integration_id, integrations.c.name, deliveries.c.status)
                 .select_from(deliveries.outerjoin(integrations, integrations.c.id == deliveries.c.integration_id))
                 .where(deliveries.c.event_id.in_(event_ids))
                 .order_by(deliveries.c.created_at, deliveries.c.id))
        with reading(self.engine) as connection:
            for row in connection.execute(query):
                out[row[0]].append(DecisionBrief(row[1], row[2], row[3]))
        return out

    def event_titles(self, event_ids: list[str]) -> dict[str, str]:
        """The titles of these events, in one query."""
        if not event_ids:
            return {}
        with reading(self.engine) as connection:
            return dict(connection.execute(select(events.c.id, events.c.title).where(events.c.id.in_(event_ids))).all())

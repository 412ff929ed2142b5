"""The history of an event's decisions taken again by hand: replays (the decision taken again with
the integration's current policy, plugin check and cooldown) and overrides (the event sent despite
named denials). Each entry keeps the decision it replaced, so that an event's page shows the
original skip and its reason beside whatever came after. Written by
:meth:`gateway.store.deliveries.DeliveryStore.decide_again`, in the transaction that applies the
new decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from gateway.store.base import Repository, dumps, loads, reading
from gateway.store.tables import decision_history, integrations

ACTIONS = ("replay", "override")
OUTCOMES = ("queued", "skipped", "in_flight")


@dataclass(frozen=True)
class HistoryEntry:
    """One replay or override of an event for an integration. ``outcome``: ``queued`` (a delivery
    is due now: ``delivery_id``), ``skipped`` (the new decision skips it; nothing was sent) or
    ``in_flight`` (left alone while an attempt runs). ``overrode``: the denials an override sent it
    despite, ``[{"stage": ..., "reason": ...}]``. ``previous_status`` and ``previous_reason``: the
    decision before (None: the integration had none for the event)."""

    id: int
    event_id: str
    integration_id: str
    integration_name: str | None
    action: str
    origin: str
    outcome: str
    reason: str
    overrode: list[dict[str, str]]
    previous_status: str | None
    previous_reason: str | None
    delivery_id: str | None
    created_at: float


def add(connection: Connection, **values: Any) -> None:
    """Record one entry (the columns of ``decision_history``; ``overrode`` as a list)."""
    values["overrode"] = dumps(values["overrode"]) if values.get("overrode") else None
    connection.execute(decision_history.insert().values(**values))


def _entry(row) -> HistoryEntry:
    return HistoryEntry(
        id=row.id, event_id=row.event_id, integration_id=row.integration_id, integration_name=row.integration_name,
        action=row.action, origin=row.origin, outcome=row.outcome, reason=row.reason,
        overrode=loads(row.overrode) or [], previous_status=row.previous_status,
        previous_reason=row.previous_reason, delivery_id=row.delivery_id, created_at=row.created_at,
    )


class DecisionHistoryStore(Repository):
    def for_event(self, event_id: str) -> list[HistoryEntry]:
        """The event's replays and overrides, oldest first."""
        query = (select(decision_history, integrations.c.name.label("integration_name"))
                 .select_from(decision_history.outerjoin(
                     integrations, integrations.c.id == decision_history.c.integration_id))
                 .where(decision_history.c.event_id == event_id)
                 .order_by(decision_history.c.created_at, decision_history.c.id))
        with reading(self.engine) as connection:
            return [_entry(row) for row in connection.execute(query)]

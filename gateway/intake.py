"""Accepting an event: de-duplicate, decide for each integration, store event and decisions together."""

from __future__ import annotations

import logging

from .decisions import candidates, decide
from .events import Event
from .state import GatewayState
from .store.base import now
from .store.events import NewDecision, Recorded

log = logging.getLogger(__name__)


def accept(state: GatewayState, event: Event, receiver_id: str | None = None,
           raw_json: str | None = None) -> Recorded:
    """Store ``event`` with one decision per candidate integration; a duplicate stores nothing.
    ``raw_json``: the request body as received, when ``event.raw`` is that whole body.

    No outbound call happens here: queued deliveries are left to the delivery workers, which are
    woken when there is new work.
    """
    if event.source == "launchdarkly" and event.kind in ("project", "environment") and state.names is not None:
        state.names.forget(event.project_key)  # names change with them: read again on next use
    first_delay = state.settings.retry_schedule[0]
    decisions = [decide(event, integration, state.host)
                 for integration in candidates(event, state.integrations.enabled(), receiver_id)]
    due = now() + first_delay
    recorded = state.db.events.record(
        event,
        [NewDecision(integration_id=d.integration.row.id, plugin=d.integration.row.plugin,
                     status=d.status, reason=d.reason, next_attempt_at=due if d.queued else None)
         for d in decisions],
        integration_id=receiver_id,
        raw_json=raw_json,
    )
    if not recorded.created:
        state.metrics.duplicates.labels(event.source).inc()
        return recorded
    state.metrics.events_received.labels(event.source).inc()
    for d in decisions:
        state.metrics.decisions.labels(d.integration.row.plugin, "queued" if d.queued else "skipped").inc()
    log.debug("event %s (%s %s) stored: %d queued, %d skipped", recorded.event_id, event.source,
             event.source_id, recorded.queued, recorded.skipped)
    if recorded.queued:
        state.notify_new_work()
    return recorded

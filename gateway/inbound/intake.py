"""Accepting an event: de-duplicate, decide for each integration, store event and decisions together."""

from __future__ import annotations

import logging
from collections import Counter

from gateway.inbound.decision_index import index_for
from gateway.inbound.decisions import candidates, decide
from gateway.events import Event
from gateway.host.state import GatewayState
from gateway.store.base import now
from gateway.store.events import NewDecision, Recorded
from gateway.store.skips import POLICY_DENIAL, SkipGroup

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
    enabled = state.integrations.enabled()
    if receiver_id is not None:
        decisions, denial = [decide(event, i, state.host) for i in candidates(event, enabled, receiver_id)], None
    else:
        decided = index_for(state.integrations, enabled).decide(event, state.host)
        decisions, denial = decided.decisions, decided.denial
    due = now() + state.settings.retry_schedule[0]
    events = state.db.events
    recorded = events.record(
        state.names.as_received(event) if state.names is not None else event,
        [NewDecision(integration_id=d.integration.row.id, plugin=d.integration.row.plugin,
                     status=d.status, reason=d.reason, next_attempt_at=due if d.queued else None,
                     cooldown=d.cooldown)
         for d in decisions],
        integration_id=receiver_id,
        raw_json=raw_json,
        skips=[SkipGroup(POLICY_DENIAL, denial.set)] if denial is not None else [],
    )
    if not recorded.created:
        state.metrics.child(state.metrics.duplicates, event.source).inc()
        return recorded
    state.metrics.child(state.metrics.events_received, event.source).inc()
    counts: Counter = Counter()
    for d in decisions:
        queued = d.queued and d.integration.row.id not in recorded.cooled_down
        counts[d.integration.row.plugin, "queued" if queued else "skipped"] += 1
    if denial is not None:
        for plugin, number in denial.plugins.items():
            counts[plugin, "skipped"] += number
    for (plugin, outcome), number in counts.items():
        state.metrics.child(state.metrics.decisions, plugin, outcome).inc(number)
    log.debug("event %s (%s %s) stored: %d queued, %d skipped", recorded.event_id, event.source,
              event.source_id, recorded.queued, recorded.skipped)
    if recorded.queued:
        state.notify_new_work()
    return recorded

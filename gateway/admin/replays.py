"""Deciding again by hand for stored events: replays and overrides.

A **replay** takes an event's decision for an integration again, by the path an arriving event takes
(:mod:`gateway.inbound.intake`): whether the integration is offered the event, its policy as it is now, the
plugin's ``check_event`` (dry run, rules, ...), and the cooldown, claimed in the transaction that
applies the decision. A decision that takes the event queues a delivery, due now; one that skips it
sends nothing. Either way the new decision is recorded in the event's history beside the one before
(:mod:`gateway.store.decision_history`): a replay never sends an event a guard denies.

An **override** sends an event despite the denials it has now, and only those the person confirms
by name (``policy``, ``plugin``, ``cooldown``). It is refused when nothing denies the event (replay
it), when the confirmed denials are not exactly the current ones, and when one of them may not be
overridden: a plugin's ``Skip(..., overridable=False)``, the policy of a plugin declared with
``IntegrationType(policy_overridable=False)``, an integration whose config no longer validates, or
an event the integration is not offered.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.delivery.sample import TEST_SOURCE
from gateway.inbound.decisions import Decision, Stage, candidates, decide, decide_every_stage
from gateway.events import Event
from gateway.host.integrations import ActiveIntegration
from gateway.host.state import GatewayState
from gateway.store.audit_log import Entry
from gateway.store.base import now
from gateway.store.deliveries import Again, AgainResult, UnknownEvents
from gateway.store.events import EventRow

OVERRIDABLE_STAGES = ("policy", "plugin", "cooldown")


class OverrideRefused(Exception):
    """An override that is not done; ``status`` (409) and ``message`` as the API answers them,
    ``denials`` the stages that deny the event now."""

    def __init__(self, message: str, denials: list[Stage], status: int = 409):
        super().__init__(message)
        self.message = message
        self.denials = denials
        self.status = status


def _stored(state: GatewayState, event_ids: list[str]) -> dict[str, EventRow]:
    found = state.db.events.get_many(event_ids)
    unknown = [i for i in event_ids if i not in found]
    if unknown:
        raise UnknownEvents(unknown)
    return found


def _not_offered(event: Event, row: EventRow, active: ActiveIntegration, test_of: set[str]) -> Stage | None:
    """Why the integration is not offered the event (as an arriving event would not be), or None.
    ``test_of``: the integrations a test event (``test_event``) was sent to, when it is one."""
    if event.source == TEST_SOURCE:
        if active.row.id in test_of:
            return None
        return Stage("offer", False, "a test event is sent only to the integration it was made for", False)
    if candidates(event, [active], row.integration_id):
        return None
    if row.integration_id is not None:
        reason = (f"the event was received by the webhook of integration {row.integration_id} and is that "
                  "integration's alone")
    else:
        reason = (f"integration {active.row.name!r} (plugin {active.row.plugin!r}) is not offered events of "
                  f"source {event.source!r}")
    return Stage("offer", False, reason, False)


def decide_stored(state: GatewayState, active: ActiveIntegration, row: EventRow, *,
                  every_stage: bool = False) -> Decision:
    """The decision for a stored event now, as for an arriving one; ``every_stage`` goes on past a
    stage that skips (what an override must name)."""
    event = row.to_event()
    test_of = ({d.integration_id for d in state.db.deliveries.for_event(row.id)}
               if event.source == TEST_SOURCE else set())
    refused = _not_offered(event, row, active, test_of)
    if refused is not None:
        return Decision(active, False, refused.reason, (refused,))
    if event.source == TEST_SOURCE:  # as when it was sent: straight to the delivery
        return Decision(active, True, "test event, sent on request (no policy or check_event)", ())
    if every_stage:
        return decide_every_stage(event, active, state.host, state.db.cooldowns)
    return decide(event, active, state.host)


def replay(state: GatewayState, active: ActiveIntegration, event_ids: list[str], origin: str,
           audit: Entry | None = None) -> list[AgainResult]:
    """Decide again for each event and apply it (see the module's description).
    :class:`UnknownEvents` (and nothing done) when an id names no stored event. ``audit``: the
    action's audit log entry (given the results), written with the decisions."""
    wanted = list(dict.fromkeys(event_ids))
    rows = _stored(state, wanted)
    decisions = []
    for event_id in wanted:
        decision = decide_stored(state, active, rows[event_id])
        decisions.append(Again(event_id, decision.queued, decision.reason, decision.cooldown))
    return state.db.deliveries.decide_again(active.row.id, active.row.plugin, decisions, now=now(),
                                            action="replay", origin=origin, audit=audit)


@dataclass(frozen=True)
class Preview:
    """What an override of an event would send it despite: the denials now, and whether each may be
    overridden."""

    event_id: str
    decision: Decision

    @property
    def denials(self) -> list[Stage]:
        return [s for s in self.decision.stages if not s.took]

    @property
    def blocked(self) -> list[Stage]:
        return [s for s in self.denials if not s.overridable]

    @property
    def confirm(self) -> list[str]:
        """The stage names an override must confirm."""
        return [s.name for s in self.denials]


def preview(state: GatewayState, active: ActiveIntegration, event_id: str) -> Preview:
    row = _stored(state, [event_id])[event_id]
    return Preview(event_id, decide_stored(state, active, row, every_stage=True))


def describe(denials: list[Stage]) -> str:
    return "; ".join(f"{s.name}: {s.reason}" for s in denials)


def override(state: GatewayState, active: ActiveIntegration, event_id: str, confirm: list[str],
             origin: str, audit: Entry | None = None) -> AgainResult:
    """Send the event despite the confirmed denials, or raise :class:`OverrideRefused` (nothing done).
    ``audit``: the action's audit log entry (given the results), written with the decision."""
    seen = preview(state, active, event_id)
    denials = seen.denials
    if not denials:
        raise OverrideRefused(f"nothing to override: integration {active.row.name!r} takes event {event_id} "
                              "now; replay it instead", denials)
    if seen.blocked:
        raise OverrideRefused(
            f"event {event_id} cannot be sent to integration {active.row.name!r} despite its denial: "
            f"{describe(seen.blocked)} (this denial may not be overridden)", denials)
    if sorted(set(confirm)) != sorted(seen.confirm) or len(confirm) != len(set(confirm)):
        raise OverrideRefused(
            f"confirm exactly the denials to send event {event_id} despite: {', '.join(seen.confirm)} "
            f"(now: {describe(denials)}); confirmed: {', '.join(confirm) or 'nothing'}", denials)
    decision = seen.decision
    again = Again(event_id, True, "despite " + describe(denials), decision.cooldown,
                  overrode=tuple((s.name, s.reason) for s in denials),
                  force_cooldown=any(s.name == "cooldown" for s in denials))
    [result] = state.db.deliveries.decide_again(active.row.id, active.row.plugin, [again], now=now(),
                                                action="override", origin=origin, audit=audit)
    return result

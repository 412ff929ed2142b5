"""Which integrations take an event, and why: the integration's policy, then its plugin's policy hook.

How the answers combine: an event is queued for an integration only when both stages take it. The
policy (flag-platform policy language, :mod:`gateway.policy`) applies to events that carry accesses;
any deny there wins. Then the plugin's ``check_event`` may skip it. A plugin hook that raises, or an
integration whose stored config no longer validates, skips the event with that reason.

When the plugin takes the event with a :class:`gateway.Cooldown`, a third stage, ``cooldown``, runs
where the event is stored (:mod:`gateway.store.cooldowns`): in the same transaction, the event
claims the cooldown's key for the integration, or is skipped because another event holds it.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from gateway.events import Event
from gateway.redaction import redact
from gateway.host.integrations import ActiveIntegration
from gateway.host.event_scope import for_integration
from gateway.outcomes import Cooldown, Skip, Take
from gateway.host.plugins import PluginHost
from gateway.store.base import now
from gateway.store.cooldowns import CooldownStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    """One stage of the chain: ``config``, ``policy``, ``plugin`` or ``cooldown``, whether it took
    the event, and why. ``overridable``: for a stage that skipped, whether a person may send the
    event despite it (see :mod:`gateway.admin.replays`)."""

    name: str
    took: bool
    reason: str
    overridable: bool = True


@dataclass(frozen=True)
class Decision:
    integration: ActiveIntegration
    queued: bool
    reason: str
    stages: tuple[Stage, ...]
    cooldown: Cooldown | None = None  # queued only if this claim succeeds when the event is stored

    @property
    def status(self) -> str:
        return "pending" if self.queued else "skipped"


def policy_stage(event: Event, integration: ActiveIntegration) -> Stage:
    """The integration's policy applied to the event's accesses."""
    if not event.accesses:
        return Stage("policy", True, "policy not applied: the event carries no flag-platform accesses")
    decision = integration.policy.evaluate(
        event.accesses, tags=event.scope_tags, attributes=event.scope_attributes
    )
    plugin = integration.plugin
    overridable = plugin is None or plugin.declaration.policy_overridable
    return Stage("policy", decision.allowed, decision.reason, overridable)


def plugin_stage(event: Event, integration: ActiveIntegration, host: PluginHost) -> Stage:
    """The plugin's ``check_event`` hook (absent: it takes what the policy allowed)."""
    return plugin_verdict(event, integration, host)[0]


def plugin_verdict(event: Event, integration: ActiveIntegration,
                   host: PluginHost) -> tuple[Stage, Cooldown | None]:
    """The plugin stage, and the cooldown its ``Take`` carries (None when none, or skipped)."""
    plugin = integration.plugin
    if not plugin.has_hook("check_event"):
        return Stage("plugin", True, f"plugin {plugin.key!r} has no policy hook; taken"), None
    try:
        verdict = host.call(plugin.key, "check_event", event=event, config=integration.config,
                            integration=integration.ref)
    except Exception as exc:
        secrets = integration.secret_values()
        log.warning("plugin %r check_event raised for integration %s:\n%s", plugin.key, integration.row.id,
                    redact(traceback.format_exc(), secrets))
        return Stage("plugin", False, redact(
            f"plugin {plugin.key!r} policy hook raised {type(exc).__name__}: {exc}", secrets), False), None
    if isinstance(verdict, Skip):
        return Stage("plugin", False, f"plugin {plugin.key!r}: {verdict.reason}", verdict.overridable is not False), None
    if isinstance(verdict, Take):
        cooldown = verdict.cooldown
        if cooldown is not None and not isinstance(cooldown, Cooldown):
            return Stage("plugin", False, f"plugin {plugin.key!r} policy hook returned Take with a cooldown of "
                                          f"type {type(cooldown).__name__}, not gateway.Cooldown", False), None
        return Stage("plugin", True, f"plugin {plugin.key!r} takes it"), cooldown
    return Stage("plugin", False,
                 f"plugin {plugin.key!r} policy hook returned {type(verdict).__name__}, not Take or Skip", False), None


def decide(event: Event, integration: ActiveIntegration, host: PluginHost, policy: Stage | None = None) -> Decision:
    """The whole chain for one integration; stops at the first stage that skips. ``policy``: the
    policy stage when it is known already (another integration with the same policy had it)."""
    if integration.error:
        stage = Stage("config", False, f"integration cannot be used: {integration.error}", False)
        return Decision(integration, False, stage.reason, (stage,))
    if policy is None:
        policy = policy_stage(event, integration)
    if not policy.took:
        return Decision(integration, False, policy.reason, (policy,))
    plugin, cooldown = plugin_verdict(for_integration(event, integration), integration, host)
    if not plugin.took:
        return Decision(integration, False, plugin.reason, (policy, plugin))
    return Decision(integration, True, f"{policy.reason}; {plugin.reason}", (policy, plugin), cooldown)


def decide_every_stage(event: Event, integration: ActiveIntegration, host: PluginHost,
                       cooldowns: CooldownStore) -> Decision:
    """The whole chain without stopping at a stage that skips (what a person overriding a skip must
    see): the policy, the plugin's check (even when the policy denied), and the cooldown as it would
    go now. ``queued`` only when every stage takes it; ``reason`` joins the reasons of those that skip."""
    if integration.error:
        return decide(event, integration, host)
    policy = policy_stage(event, integration)
    plugin, cooldown = plugin_verdict(event, integration, host)
    stages: tuple[Stage, ...] = (policy, plugin)
    if cooldown is not None:
        held = cooldowns.current(integration.row.id, cooldown.key, now())
        if held is not None and held.event_id != event.id:  # its own claim does not hold it back
            stages += (Stage("cooldown", False, held.refusal(cooldown.description), cooldown.overridable is not False),)
    refused = [s for s in stages if not s.took]
    reason = "; ".join(s.reason for s in (refused or stages))
    return Decision(integration, not refused, reason, stages, cooldown)


def preview_cooldown(decision: Decision, cooldowns: CooldownStore, at: float | None = None) -> Decision:
    """``decision`` with its ``cooldown`` stage as it would go at ``at`` (default now), for an
    explanation, which stores nothing and so claims nothing."""
    cooldown = decision.cooldown
    if cooldown is None or not decision.queued:
        return decision
    held = cooldowns.current(decision.integration.row.id, cooldown.key, now() if at is None else at,
                             shared=cooldown.shared)
    if held is not None:
        stage = Stage("cooldown", False, held.refusal(cooldown.description))
        return Decision(decision.integration, False, stage.reason, decision.stages + (stage,), cooldown)
    stage = Stage("cooldown", True, f"cooldown: {cooldown.description or cooldown.key} is free; an event stored "
                                    f"now would claim it for {cooldown.seconds:g} s")
    return Decision(decision.integration, True, f"{decision.reason}; {stage.reason}",
                    decision.stages + (stage,), cooldown)


def candidates(event: Event, integrations: list[ActiveIntegration], receiver_id: str | None) -> list[ActiveIntegration]:
    """The integrations an event is offered to: for an inbound event, the integration that received
    it; otherwise every enabled integration whose plugin takes events of the event's source."""
    if receiver_id is not None:
        return [i for i in integrations if i.row.id == receiver_id]
    return [
        i for i in integrations
        if i.plugin is None or event.source in i.plugin.declaration.sources
    ]

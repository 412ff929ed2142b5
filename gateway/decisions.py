"""Which integrations take an event, and why: the integration's policy, then its plugin's policy hook.

How the answers combine: an event is queued for an integration only when both stages take it. The
policy (flag-platform policy language, :mod:`gateway.policy`) applies to events that carry accesses;
any deny there wins. Then the plugin's ``check_event`` may skip it. A plugin hook that raises, or an
integration whose stored config no longer validates, skips the event with that reason.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from .events import Event
from .http import redact
from .integrations import ActiveIntegration
from .outcomes import Skip, Take
from .plugins import PluginHost

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    """One stage of the chain: ``policy`` or ``plugin``, whether it took the event, and why."""

    name: str
    took: bool
    reason: str


@dataclass(frozen=True)
class Decision:
    integration: ActiveIntegration
    queued: bool
    reason: str
    stages: tuple[Stage, ...]

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
    return Stage("policy", decision.allowed, decision.reason)


def plugin_stage(event: Event, integration: ActiveIntegration, host: PluginHost) -> Stage:
    """The plugin's ``check_event`` hook (absent: it takes what the policy allowed)."""
    plugin = integration.plugin
    if not plugin.has_hook("check_event"):
        return Stage("plugin", True, f"plugin {plugin.key!r} has no policy hook; taken")
    try:
        verdict = host.call(plugin.key, "check_event", event=event, config=integration.config,
                            integration=integration.ref)
    except Exception as exc:
        secrets = integration.secret_values()
        log.warning("plugin %r check_event raised for integration %s:\n%s", plugin.key, integration.row.id,
                    redact(traceback.format_exc(), secrets))
        return Stage("plugin", False, redact(
            f"plugin {plugin.key!r} policy hook raised {type(exc).__name__}: {exc}", secrets))
    if isinstance(verdict, Skip):
        return Stage("plugin", False, f"plugin {plugin.key!r}: {verdict.reason}")
    if isinstance(verdict, Take):
        return Stage("plugin", True, f"plugin {plugin.key!r} takes it")
    return Stage("plugin", False,
                 f"plugin {plugin.key!r} policy hook returned {type(verdict).__name__}, not Take or Skip")


def decide(event: Event, integration: ActiveIntegration, host: PluginHost) -> Decision:
    """The whole chain for one integration; stops at the first stage that skips."""
    if integration.error:
        stage = Stage("config", False, f"integration cannot be used: {integration.error}")
        return Decision(integration, False, stage.reason, (stage,))
    policy = policy_stage(event, integration)
    if not policy.took:
        return Decision(integration, False, policy.reason, (policy,))
    plugin = plugin_stage(event, integration, host)
    if not plugin.took:
        return Decision(integration, False, plugin.reason, (policy, plugin))
    return Decision(integration, True, f"{policy.reason}; {plugin.reason}", (policy, plugin))


def candidates(event: Event, integrations: list[ActiveIntegration], receiver_id: str | None) -> list[ActiveIntegration]:
    """The integrations an event is offered to: for an inbound event, the integration that received
    it; otherwise every enabled integration whose plugin takes events of the event's source."""
    if receiver_id is not None:
        return [i for i in integrations if i.row.id == receiver_id]
    return [
        i for i in integrations
        if i.plugin is None or event.source in i.plugin.declaration.sources
    ]

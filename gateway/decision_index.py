"""Deciding an event for every integration at a cost that grows with the distinct policies, not
with the integrations.

The enabled integrations are indexed by source and then grouped by policy (the same statements give
the same answer). For an event, each group's policy is evaluated once: a group it denies is skipped
as a whole, with the reason the engine gives (:func:`gateway.decisions.policy_stage`, the same
function :func:`gateway.decisions.decide` uses, so the explanation is the one the engine would give
each member alone), and recorded as one skip row naming the group's set of integrations. Only the
members of a group whose policy allows the event go through the rest of the chain one by one
(:func:`gateway.decisions.decide`: the plugin's ``check_event``). Integrations that cannot be used
(config no longer valid, plugin gone) are skipped one by one with their own reason.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field

from .decisions import Decision, decide, policy_stage
from .events import Event
from .integrations import ActiveIntegration
from .plugins import PluginHost
from .store.base import dumps
from .store.skips import IntegrationSet


@dataclass
class PolicyGroup:
    """Usable integrations that share one policy (for one source)."""

    members: list[ActiveIntegration]
    set: IntegrationSet
    plugins: Counter = field(default_factory=Counter)  # plugin key -> members, for the metrics


@dataclass
class Decided:
    """What the index decided for one event: decisions to record one by one (queued, or skipped
    by a later stage), and groups skipped whole by their policy, each with its reason."""

    decisions: list[Decision]
    skipped_groups: list[tuple[str, PolicyGroup]]

    @property
    def queued(self) -> list[Decision]:
        return [d for d in self.decisions if d.queued]


class DecisionIndex:
    """The enabled integrations arranged for :meth:`decide`. Build one per list of enabled
    integrations (:func:`index_for` keeps it while the list stays the same)."""

    def __init__(self, integrations: list[ActiveIntegration], make_set=IntegrationSet.of):
        self._integrations = integrations
        self._make_set = make_set
        self._by_source: dict[str, tuple[list[PolicyGroup], list[ActiveIntegration]]] = {}
        self._lock = threading.Lock()

    def _for_source(self, source: str) -> tuple[list[PolicyGroup], list[ActiveIntegration]]:
        found = self._by_source.get(source)
        if found is not None:
            return found
        groups: dict[str, list[ActiveIntegration]] = {}
        unusable: list[ActiveIntegration] = []
        for integration in self._integrations:
            if integration.plugin is not None and source not in integration.plugin.declaration.sources:
                continue
            if integration.error or integration.policy is None:
                unusable.append(integration)
            else:
                groups.setdefault(dumps(integration.row.policy), []).append(integration)
        built = ([self._group(members) for members in groups.values()], unusable)
        with self._lock:
            self._by_source[source] = built
        return built

    def _group(self, members: list[ActiveIntegration]) -> PolicyGroup:
        keys = tuple(sorted((m.row.id, m.row.plugin) for m in members))
        return PolicyGroup(members, self._make_set(keys), Counter(m.row.plugin for m in members))

    def decide(self, event: Event, host: PluginHost) -> Decided:
        groups, unusable = self._for_source(event.source)
        decisions = [decide(event, integration, host) for integration in unusable]
        skipped: list[tuple[str, PolicyGroup]] = []
        for group in groups:
            stage = policy_stage(event, group.members[0])
            if stage.took:
                decisions.extend(decide(event, member, host) for member in group.members)
            else:
                skipped.append((stage.reason, group))
        return Decided(decisions, skipped)


_indexes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_indexes_lock = threading.Lock()


def index_for(service, integrations: list[ActiveIntegration], make_set=IntegrationSet.of) -> DecisionIndex:
    """The :class:`DecisionIndex` of ``integrations`` (``service.enabled()``), kept while that list
    is the one ``service`` returns."""
    with _indexes_lock:
        cached = _indexes.get(service)
        if cached is not None and cached[0] is integrations:
            return cached[1]
    index = DecisionIndex(integrations, make_set)
    with _indexes_lock:
        _indexes[service] = (integrations, index)
    return index

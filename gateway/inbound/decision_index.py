"""Deciding an event for every integration at a cost that grows with the policies that could take
it, not with the integrations that decline it.

The enabled integrations are indexed by source and then grouped by policy (the same statements give
the same answer). Each group's policy is also filed under the first scopes its statements can
match (``proj/team-7`` for ``proj/team-7:env/*:flag/*``); a policy with a pattern there
(``proj/*``) or a ``notResources`` statement is filed as able to match anything. For an event, only
the groups filed under the first scopes of its accesses, and those that match anything, are
evaluated: no statement of any other group can match any of its accesses, so the engine denies it
them (an event nothing matches is denied) without being asked. Each evaluated group's policy runs
once (:func:`gateway.inbound.decisions.policy_stage`, the function :func:`gateway.inbound.decisions.decide` uses).

Only the members of a group whose policy allows the event go through the rest of the chain one by
one (:func:`gateway.inbound.decisions.decide`: the plugin's ``check_event``). Every other group is denied,
and all of them together make one set of denials (:meth:`~gateway.store.skips.IntegrationSet.denied`:
each member with its policy revision), recorded as one skip row. Which groups allowed an event
picks the set, kept here, so that an event costs a look-up however many integrations decline it.
Integrations that cannot be used (config no longer valid, plugin gone) are skipped one by one with
their own reason.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from gateway.inbound.decisions import Decision, Stage, decide, policy_stage
from gateway.events import Event
from gateway.host.integrations import ActiveIntegration
from gateway.host.plugins import PluginHost
from gateway.host.policy_cache import policy_key
from gateway.store.skips import IntegrationSet, remember_policy, revision_id

_FIRST_SCOPE = re.compile(r"[;:]")
DENIALS_KEPT = 1024
"""How many sets of denials an index keeps (one per combination of groups that allowed an event)."""


def first_scopes(policy: list) -> frozenset[str] | None:
    """The first scopes (``proj/team-7``) that the statements of ``policy`` (raw JSON) can match;
    None when one of them can match any (a ``*`` in a first scope's key, a bare type, or a
    ``notResources`` statement)."""
    scopes: set[str] = set()
    for statement in policy:
        resources = statement.get("resources") if isinstance(statement, dict) else None
        if not isinstance(resources, list):
            return None
        for resource in resources:
            if not isinstance(resource, str):
                return None
            head = _FIRST_SCOPE.split(resource, 1)[0]
            kind, slash, key = head.partition("/")
            if not slash or not key or "*" in key:
                return None
            scopes.add(head)
    return frozenset(scopes)


def event_scopes(event: Event) -> set[str]:
    """The first scopes of the event's accesses, tags removed (only these can match a statement)."""
    return {_FIRST_SCOPE.split(a.resource, 1)[0] for a in event.accesses if isinstance(a.resource, str)}


@dataclass
class PolicyGroup:
    """Usable integrations that share one policy (for one source)."""

    members: list[ActiveIntegration]
    revision: str  # the policy revision's id
    policy_json: str  # its canonical JSON
    scopes: frozenset[str] | None  # first scopes its statements can match (None: any)
    plugins: Counter = field(default_factory=Counter)  # plugin key -> members, for the metrics


@dataclass(frozen=True)
class Denial:
    """The integrations whose policies denied an event, as one set, with a count per plugin."""

    set: IntegrationSet
    plugins: Counter


@dataclass
class Decided:
    """What the index decided for one event: decisions to record one by one (queued, or skipped
    by a later stage), and the integrations their policies denied (None: none)."""

    decisions: list[Decision]
    denial: Denial | None

    @property
    def queued(self) -> list[Decision]:
        return [d for d in self.decisions if d.queued]


@dataclass
class _Source:
    groups: list[PolicyGroup]
    unusable: list[ActiveIntegration]
    by_scope: dict[str, list[int]]  # first scope -> indexes of the groups filed under it
    anywhere: list[int]  # groups that can match any first scope


class DecisionIndex:
    """The enabled integrations arranged for :meth:`decide`. Build one per list of enabled
    integrations (:func:`index_for` keeps it while the list stays the same)."""

    def __init__(self, integrations: list[ActiveIntegration]):
        self._integrations = integrations
        self._by_source: dict[str, _Source] = {}
        self._denials: OrderedDict[tuple[str, tuple[int, ...]], Denial | None] = OrderedDict()
        self._lock = threading.Lock()

    def _for_source(self, source: str) -> _Source:
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
                groups.setdefault(policy_key(integration.row.policy), []).append(integration)
        built = _Source([], unusable, {}, [])
        for key, members in groups.items():
            scopes = first_scopes(members[0].row.policy)
            revision = revision_id(key)
            remember_policy(revision, members[0].policy)  # reading its denials needs it compiled
            built.groups.append(PolicyGroup(members, revision, key, scopes, Counter(m.row.plugin for m in members)))
            position = len(built.groups) - 1
            if scopes is None:
                built.anywhere.append(position)
            else:
                for scope in scopes:
                    built.by_scope.setdefault(scope, []).append(position)
        with self._lock:
            self._by_source[source] = built
        return built

    def decide(self, event: Event, host: PluginHost) -> Decided:
        source = self._for_source(event.source)
        decisions = [decide(event, integration, host) for integration in source.unusable]
        if event.accesses:
            candidates = set(source.anywhere)
            for scope in event_scopes(event):
                candidates.update(source.by_scope.get(scope, ()))
        else:  # the policy is not applied: every group goes on to its plugin
            candidates = set(range(len(source.groups)))
        allowed = []
        for position in sorted(candidates):
            group = source.groups[position]
            stage = policy_stage(event, group.members[0])
            if stage.took:
                allowed.append(position)
                decisions.extend(_decided(event, member, host, stage) for member in group.members)
        denial = self._denial(event.source, source, tuple(allowed))
        return Decided(decisions, denial)

    def _denial(self, name: str, source: _Source, allowed: tuple[int, ...]) -> Denial | None:
        key = (name, allowed)
        with self._lock:
            if key in self._denials:
                self._denials.move_to_end(key)
                return self._denials[key]
        taken = set(allowed)
        denied = [g for i, g in enumerate(source.groups) if i not in taken]
        denial = None
        if denied:
            plugins: Counter = Counter()
            for group in denied:
                plugins.update(group.plugins)
            denial = Denial(IntegrationSet.denied(
                ((m.row.id, m.row.plugin, g.revision) for g in denied for m in g.members),
                {g.revision: g.policy_json for g in denied}), plugins)
        with self._lock:
            self._denials[key] = denial
            while len(self._denials) > DENIALS_KEPT:
                self._denials.popitem(last=False)
        return denial


def _decided(event: Event, integration: ActiveIntegration, host: PluginHost, policy: Stage) -> Decision:
    """:func:`gateway.inbound.decisions.decide` for a member of a group whose policy took the event (the
    policy's stage is the group's)."""
    return decide(event, integration, host, policy=policy)


_indexes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_indexes_lock = threading.Lock()


def index_for(service, integrations: list[ActiveIntegration]) -> DecisionIndex:
    """The :class:`DecisionIndex` of ``integrations`` (``service.enabled()``), kept while that list
    is the one ``service`` returns."""
    with _indexes_lock:
        cached = _indexes.get(service)
        if cached is not None and cached[0] is integrations:
            return cached[1]
    index = DecisionIndex(integrations)
    with _indexes_lock:
        _indexes[service] = (integrations, index)
    return index

"""Compiling a policy once and evaluating events against it.

Combination rules: an event is allowed when at least one allow statement matches one of its
accesses and no deny statement matches any of them. Any deny wins, statement order never
changes the outcome, and an event nothing matches is denied.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from gateway.policy import explain
from gateway.policy.accesses import AccessLike, Attributes, Tags
from gateway.policy.errors import PolicyError
from gateway.policy.matching import EffectMatcher
from gateway.policy.resources import is_well_formed, split_inline_tags
from gateway.policy.statements import CompiledStatement, compile_statement, describe, json_kind

_NOTHING: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """The answer for one event.

    ``statement`` is the index of the statement that decided (the matching deny, or the
    matching allow), or ``None`` when no statement matched.
    """

    allowed: bool
    reason: str
    statement: int | None


_new_decision = object.__new__
_set_allowed = vars(PolicyDecision)["allowed"].__set__
_set_reason = vars(PolicyDecision)["reason"].__set__
_set_statement = vars(PolicyDecision)["statement"].__set__


def _decision(allowed: bool, reason: str, statement: int | None) -> PolicyDecision:
    """Build a :class:`PolicyDecision` at about half the cost of calling the class.

    A frozen dataclass's ``__init__`` routes every field through ``object.__setattr__``; this
    sets the slots directly. It runs once per evaluation, where that difference is measurable.
    """
    decision = _new_decision(PolicyDecision)
    _set_allowed(decision, allowed)
    _set_reason(decision, reason)
    _set_statement(decision, statement)
    return decision


class CompiledPolicy:
    """A validated policy, compiled for cheap repeated evaluation. Build it with :func:`compile_policy`."""

    __slots__ = ("_allow_hint", "_has_denies", "_matchers", "_raw", "_statements")

    def __init__(self, raw: list[Any], statements: list[CompiledStatement], *, matchers: bool) -> None:
        self._raw = raw
        self._statements = tuple(statements)
        allows = [s for s in statements if s.effect == "allow"]
        self._has_denies = len(allows) < len(statements)
        # (allow matcher, deny matcher), set in one assignment (threads may build it at once)
        self._matchers: tuple[EffectMatcher | None, EffectMatcher | None] | None = None
        if matchers:
            self._matchers = self._build_matchers()
        self._allow_hint = explain.allow_hint(allows)

    def _build_matchers(self) -> tuple[EffectMatcher | None, EffectMatcher | None]:
        """The regular expressions of each effect, compiled (at compile time, unless deferred)."""
        allows = [s for s in self._statements if s.effect == "allow"]
        denies = [s for s in self._statements if s.effect == "deny"]
        return (EffectMatcher(allows) if allows else None), (EffectMatcher(denies) if denies else None)

    @property
    def statements(self) -> list[Any]:
        """The policy's statements as given (a copy taken at compile time), for storing or echoing."""
        return self._raw

    def describe(self, index: int) -> str:
        """Short human text of statement ``index``, e.g. ``"denies proj/*:env/*:flag/ops_* actions *"``."""
        return self._statements[index].description

    def evaluate(
        self,
        accesses: Sequence[AccessLike],
        tags: Tags | None = None,
        attributes: Attributes | None = None,
    ) -> PolicyDecision:
        """Decide on an event from its accesses and the tags and attributes it carries per scope type.

        ``tags`` maps a scope type to the event's tags for it (``{"flag": ["frontend"]}``); tags
        written into a resource string (``proj/p;mobile:env/e``) count too. ``attributes`` maps a
        scope type to its attributes (``{"env": {"critical": True}}``). An access whose resource
        string is malformed, or whose action is not a string or holds a NUL, matches nothing.

        The reported statement is the lowest-index deny matching the first access any deny
        matches; failing that, the lowest-index allow matching the first access any allow matches.
        """
        if not self._statements:
            return _decision(False, "denied: the policy has no statements", None)
        matchers = self._matchers
        if matchers is None:  # deferred (compile_policy(..., defer_matchers=True))
            matchers = self._matchers = self._build_matchers()
        tags = _NOTHING if tags is None else tags
        attributes = _NOTHING if attributes is None else attributes
        allows, denies = matchers
        allowed_by: tuple[int, str, str, str] | None = None
        seen: set[tuple[str, str]] = set()
        for access in accesses:
            action, resource = access.action, access.resource
            if not isinstance(action, str) or not isinstance(resource, str) or "\x00" in action:
                continue
            if len(accesses) > 1:  # an access given again decides nothing new: matched once
                if (action, resource) in seen:
                    continue
                seen.add((action, resource))
            bare, scope_tags = resource, tags
            if ";" in resource:
                if not is_well_formed(resource):
                    continue
                bare, scope_tags = split_inline_tags(resource, tags)
            key = f"{action}\x00{bare}"
            if denies is not None:
                hit = denies.first_match(key, bare, scope_tags, attributes)
                if hit is not None:
                    return _decision(False, hit[1] + explain.access_text(action, resource), hit[0])
            if allowed_by is None and allows is not None:
                hit = allows.first_match(key, bare, scope_tags, attributes)
                if hit is not None:
                    allowed_by = (*hit, action, resource)
        if allowed_by is not None:
            index, prefix, action, resource = allowed_by
            return _decision(True, prefix + explain.access_text(action, resource), index)
        return _decision(False, explain.nothing_allows(accesses, self._allow_hint), None)

    def denial_reason(
        self,
        accesses: Sequence[AccessLike],
        tags: Tags | None = None,
        attributes: Attributes | None = None,
    ) -> str:
        """The reason of the denial of an event this policy is known to deny (it was evaluated
        before, with this result): the same reason :meth:`evaluate` gives it. A policy without deny
        statements denies only what nothing allows, and says so without matching anything: reading
        back a thousand stored denials then compiles no regular expression."""
        if self._statements and not self._has_denies:
            return explain.nothing_allows(accesses, self._allow_hint)
        return self.evaluate(accesses, tags, attributes).reason

    def __repr__(self) -> str:
        return f"<CompiledPolicy with {len(self._statements)} statements>"


class AllowOnlyDenials:
    """Explains the denials of a policy whose statements all allow: nothing allowed the event. Read
    from the statements as stored, without compiling them (see :func:`denial_explainer`)."""

    __slots__ = ("_hint",)

    def __init__(self, hint: str) -> None:
        self._hint = hint

    def denial_reason(
        self,
        accesses: Sequence[AccessLike],
        tags: Tags | None = None,
        attributes: Attributes | None = None,
    ) -> str:
        """The reason :meth:`CompiledPolicy.evaluate` gives an event this policy denies."""
        return explain.nothing_allows(accesses, self._hint)


def denial_explainer(raw: object) -> CompiledPolicy | AllowOnlyDenials:
    """What explains the denials of a policy validated before (a stored revision that judged
    events): for one of well-formed allow statements only, their descriptions, read without parsing
    or compiling anything (a thousand stored denials are explained in a few milliseconds); else the
    policy compiled with its matchers deferred (:class:`PolicyError` when it is not valid)."""
    if isinstance(raw, list) and raw and all(_plain_allow(entry) for entry in raw):
        allows = [(index, describe("allow", entry.get("resources") or entry.get("notResources"),
                                   "notResources" in entry, entry.get("actions") or entry.get("notActions"),
                                   "notActions" in entry)) for index, entry in enumerate(raw)]
        return AllowOnlyDenials(explain.hint_of(allows))
    return compile_policy(raw, defer_matchers=True)


def _plain_allow(entry: object) -> bool:
    """An allow statement of the stored shape: one of resources / notResources and one of actions /
    notActions, each a non-empty list of strings, and nothing else."""
    if not isinstance(entry, dict) or entry.get("effect") != "allow":
        return False
    if set(entry) - {"effect", "resources", "notResources", "actions", "notActions"}:
        return False
    for key in ("resources", "actions"):
        negated = "not" + key[0].upper() + key[1:]
        if (key in entry) == (negated in entry):
            return False
        values = entry.get(key, entry.get(negated))
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            return False
    return True


def compile_policy(raw: object, *, defer_matchers: bool = False) -> CompiledPolicy:
    """Validate a raw policy (a JSON list of statements) and compile it.

    Raises :class:`PolicyError` listing every problem, each under its path (``"policy[0].effect"``).
    ``defer_matchers``: compile the regular expressions at the first :meth:`~CompiledPolicy.evaluate`
    instead (for a policy validated before, read back only to explain its decisions).
    """
    if not isinstance(raw, list):
        raise PolicyError({"policy": f"must be a list of statements, got {json_kind(raw)}"})
    errors: dict[str, str] = {}
    statements = [compile_statement(entry, index, errors) for index, entry in enumerate(raw)]
    if errors:
        raise PolicyError(errors)
    return CompiledPolicy(copy.deepcopy(raw), [s for s in statements if s is not None], matchers=not defer_matchers)

"""Finding, among the statements of one effect, the lowest-index one that matches an access.

Each statement is a list of regular-expression alternatives over ``action NUL resource`` (see
:class:`~gateway.policy.statements.Alternative`). All of an effect's alternatives are joined in
statement order, each in its own capturing group. Python's regular expressions try alternatives
in order, so one call finds the first alternative whose strings match. If that alternative has
a condition on tags or attributes that the event does not meet, the alternatives after it are
tried one at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import islice

from gateway.policy import explain
from gateway.policy.accesses import Attributes, Tags
from gateway.policy.statements import CompiledStatement, Condition

Hit = tuple[int, str]
"""A matching statement: its index and the start of the decision's reason."""


class _Compiled:
    """One alternative: its statement's index, reason prefix, own regex (compiled when first
    needed: only when an alternative before it matched but failed its condition) and condition."""

    __slots__ = ("_matches_key", "condition", "hit", "source")

    def __init__(self, hit: Hit, source: str, condition: Condition | None) -> None:
        self.hit = hit
        self.source = source
        self._matches_key: Callable[[str], re.Match[str] | None] | None = None
        self.condition = condition

    def matches_key(self, key: str) -> re.Match[str] | None:
        if self._matches_key is None:
            self._matches_key = re.compile(self.source).fullmatch
        return self._matches_key(key)


class EffectMatcher:
    """The statements of one effect, arranged for :meth:`first_match`."""

    __slots__ = ("_alternatives", "_combined")

    def __init__(self, statements: Sequence[CompiledStatement]) -> None:
        sources: list[str] = []
        alternatives: list[_Compiled] = []
        for statement in sorted(statements, key=lambda statement: statement.index):
            for alternative in statement.alternatives:
                sources.append(f"({alternative.source})")
                hit = (statement.index, explain.reason_prefix(statement, alternative.text))
                alternatives.append(_Compiled(hit, alternative.source, alternative.condition))
        self._combined = re.compile("|".join(sources)).fullmatch
        self._alternatives = tuple(alternatives)

    def first_match(self, key: str, resource: str, tags: Tags, attributes: Attributes) -> Hit | None:
        """The lowest-index statement matching the access ``key`` (``f"{action}\\x00{resource}"``)."""
        found = self._combined(key)
        if found is None:
            return None
        position: int = found.lastindex - 1  # type: ignore[operator]  # every alternative is a group
        first = self._alternatives[position]
        if first.condition is None or first.condition(resource, tags, attributes):
            return first.hit
        for later in islice(self._alternatives, position + 1, None):
            if later.matches_key(key) is not None and (
                later.condition is None or later.condition(resource, tags, attributes)
            ):
                return later.hit
        return None

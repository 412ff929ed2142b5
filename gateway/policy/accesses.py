"""What the engine evaluates: an event's accesses (role actions on resource strings) and context."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Tags = Mapping[str, Collection[str]]
"""Scope type -> tags the event carries for that scope, e.g. ``{"flag": ["frontend"]}``."""

Attributes = Mapping[str, Mapping[str, Any]]
"""Scope type -> attributes the event carries for that scope, e.g. ``{"env": {"critical": True}}``."""


class AccessLike(Protocol):
    """Anything with an ``action`` and a ``resource``, such as :class:`Access` or the core's own."""

    @property
    def action(self) -> str: ...

    @property
    def resource(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Access:
    """One access of an event: a role ``action`` on a ``resource`` string."""

    action: str
    resource: str

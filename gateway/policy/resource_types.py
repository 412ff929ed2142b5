"""LaunchDarkly's resource types and, loosely, where each may sit in a resource specifier.

The types and their nesting follow LaunchDarkly's role documentation ("Using resources" and
"Using actions"): ``acct`` and ``member`` are top-level, ``env`` sits in ``proj``, ``flag`` and
``segment`` sit in ``env``, and so on. Where LaunchDarkly places a type in more than one spot
(``experiment``, ``holdout`` and AI Configs under a project or an environment,
``release-pipeline`` at the top or in a project) every documented spot is accepted.
``aiconfig`` is LaunchDarkly's spelling of the AI Config type; ``ai-config`` is accepted as an
alias.
"""

from __future__ import annotations

from collections.abc import Mapping

TOP_LEVEL = None
"""Placement marker: the type may be the first (outermost) scope of a specifier."""

_PLACEMENT: Mapping[str, tuple[str | None, ...]] = {
    # Top-level resources.
    "acct": (TOP_LEVEL,),
    "application": (TOP_LEVEL,),
    "code-reference-repository": (TOP_LEVEL,),
    "domain-verification": (TOP_LEVEL,),
    "integration": (TOP_LEVEL,),
    "member": (TOP_LEVEL,),
    "pending-request": (TOP_LEVEL,),
    "proj": (TOP_LEVEL,),
    "relay-proxy-config": (TOP_LEVEL,),
    "role": (TOP_LEVEL,),
    "service-token": (TOP_LEVEL,),
    "team": (TOP_LEVEL,),
    "template": (TOP_LEVEL,),
    "webhook": (TOP_LEVEL,),
    # Inside a project (the first entry is the placement used in examples).
    "agent-graph": ("proj",),
    "ai-config": ("proj", "env"),
    "ai-model-config": ("proj",),
    "ai-tool": ("proj",),
    "aiconfig": ("proj", "env"),
    "context-kind": ("proj",),
    "env": ("proj",),
    "layer": ("proj",),
    "metric": ("proj",),
    "metric-group": ("proj",),
    "release-pipeline": ("proj", TOP_LEVEL),
    "view": ("proj",),
    # Inside an environment.
    "destination": ("env",),
    "experiment": ("env", "proj"),
    "flag": ("env",),
    "holdout": ("env", "proj"),
    "segment": ("env",),
    # Inside a member.
    "token": ("member",),
}

KNOWN_RESOURCE_TYPES: frozenset[str] = frozenset(_PLACEMENT)
"""Every resource type a specifier may name."""

_KNOWN_LIST = ", ".join(sorted(KNOWN_RESOURCE_TYPES))


def unknown_type_message(resource_type: str) -> str:
    """The error for a resource type that LaunchDarkly does not have, listing the known ones."""
    return f'unknown resource type "{resource_type}" (known: {_KNOWN_LIST})'


def example_specifier(resource_type: str) -> str:
    """A specifier naming every resource of ``resource_type`` in its usual place.

    For example ``"flag"`` gives ``"proj/*:env/*:flag/*"``.
    """
    chain = [resource_type]
    while (parent := _PLACEMENT[chain[-1]][0]) is not TOP_LEVEL:
        chain.append(parent)
    return ":".join(f"{scope}/*" for scope in reversed(chain))


def placement_error(parent: str | None, resource_type: str) -> str | None:
    """Why ``resource_type`` cannot follow ``parent`` (``None``: first scope), or ``None`` if it can."""
    allowed = _PLACEMENT[resource_type]
    if parent in allowed:
        return None
    if allowed[0] is TOP_LEVEL:
        home = "it is a top-level resource"
    else:
        home = "it belongs inside " + " or ".join(f'"{p}"' for p in allowed if p is not TOP_LEVEL)
    where = "be the outermost scope" if parent is TOP_LEVEL else f'be nested in "{parent}"'
    return f'"{resource_type}" cannot {where}: {home}, e.g. "{example_specifier(resource_type)}"'

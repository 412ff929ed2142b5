"""The human reasons given with each policy decision.

Reasons name the deciding statement, its effect, what matched and the access, so that a reader
can fix the policy or understand the event. Their length is bounded whatever the input.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.policy.accesses import AccessLike
from gateway.policy.resources import is_well_formed
from gateway.policy.statements import CompiledStatement

_LISTED = 3
"""How many accesses or allow statements a "nothing allows" reason names."""
_CLIP = 160
"""Longest piece of event-supplied text quoted in a reason."""


def reason_prefix(statement: CompiledStatement, matched: str) -> str:
    """The start of the reason when ``statement`` decided, having matched via ``matched``.

    :func:`access_text` completes it: ``"allowed by statement 0 (allow proj/*:env/*:flag/*) for "``.
    """
    verdict = "allowed" if statement.effect == "allow" else "denied"
    return f"{verdict} by statement {statement.index} ({statement.effect} {matched}) for "


def access_text(action: str, resource: str) -> str:
    """An access as reasons name it: ``"updateOn on proj/x:env/y:flag/z"``."""
    if len(action) <= _CLIP and len(resource) <= _CLIP:
        return f"{action} on {resource}"
    return f"{_clip(action)} on {_clip(resource)}"


def allow_hint(allows: Sequence[CompiledStatement]) -> str:
    """What a "nothing allows" reason says about the policy: its first few allow statements."""
    return hint_of([(s.index, s.description) for s in allows])


def hint_of(allows: Sequence[tuple[int, str]]) -> str:
    """:func:`allow_hint` from each allow statement's (index, description)."""
    if not allows:
        return "the policy has only deny statements"
    hint = "; ".join(f"statement {index} {description}" for index, description in allows[:_LISTED])
    if len(allows) > _LISTED:
        hint += f"; and {len(allows) - _LISTED} more allow statements"
    return hint


def nothing_allows(accesses: Sequence[AccessLike], hint: str) -> str:
    """The reason when no allow statement matched any access (and no deny did either)."""
    if not accesses:
        return "denied: the event has no accesses to check"
    if len(accesses) == 1:
        listed = _access_text(accesses[0].action, accesses[0].resource)
    else:
        listed = "; ".join(_access_text(access.action, access.resource) for access in accesses[:_LISTED])
        if len(accesses) > _LISTED:
            listed += f"; and {len(accesses) - _LISTED} more accesses"
    return f"denied: no statement allows {listed} ({hint})"


def _access_text(action: object, resource: object) -> str:
    """One access as a reason names it, saying why it could not match when it was malformed."""
    if not isinstance(action, str) or "\x00" in action:
        return f"{_quoted(action)} on {_quoted(resource)} (not a valid action)"
    if not isinstance(resource, str) or not is_well_formed(resource):
        return f"{_clip(action)} on {_quoted(resource)} (not a valid resource string)"
    return access_text(action, resource)


def _quoted(value: object) -> str:
    """Event-supplied text in quotes (clipped), or the type of a value that is not text."""
    return f'"{_clip(value)}"' if isinstance(value, str) else type(value).__name__


def _clip(text: str) -> str:
    """``text``, cut to at most ``_CLIP`` characters."""
    return text if len(text) <= _CLIP else text[: _CLIP - 3] + "..."

"""The resource strings of accesses, as the flag platform sends them in events.

An access names one concrete resource: ``proj/checkout:env/production:flag/new-checkout-flow``.
Scopes are separated by ``:`` and each is ``type/key`` (or a bare ``type`` such as ``acct``,
whose key is empty), optionally followed by that scope's tags: ``proj/checkout;mobile,web``.
Keys are taken literally, so the all-environments key ``~`` is just a key.

A string without this form (an empty scope, key or tag, a second ``/`` in a scope, spaces,
control characters, or braces) is not an error: it matches no statement at all.
"""

from __future__ import annotations

import re

from gateway.policy.accesses import Tags

KEY_CHAR = r"[^\x00-\x20:;/,{}]"
"""Regular-expression class of the characters a type, key or tag of a resource string may hold.

It excludes every separator, so a run of them can always be matched possessively (``++``).
"""

WELL_FORMED = rf"{KEY_CHAR}++(?:/{KEY_CHAR}++)?(?::{KEY_CHAR}++(?:/{KEY_CHAR}++)?)*"
"""Regular-expression source (no capturing groups) for the well-formed resource strings without tags."""

_SCOPE_TAGS = rf"(?:;{KEY_CHAR}++(?:,{KEY_CHAR}++)*)?"
_WELL_FORMED = re.compile(
    rf"{KEY_CHAR}++(?:/{KEY_CHAR}++)?{_SCOPE_TAGS}(?::{KEY_CHAR}++(?:/{KEY_CHAR}++)?{_SCOPE_TAGS})*"
).fullmatch


def is_well_formed(resource: object) -> bool:
    """Whether ``resource`` is a resource string of the form ``type/key;tags:type/key...``."""
    return isinstance(resource, str) and _WELL_FORMED(resource) is not None


def split_inline_tags(resource: str, tags: Tags) -> tuple[str, Tags]:
    """``resource`` without the tags written into it, and ``tags`` with those tags added.

    ``proj/app;mobile:env/production`` gives ``proj/app:env/production`` and ``{"proj": ["mobile"]}``.
    """
    merged = dict(tags)
    scopes = []
    for scope in resource.split(":"):
        head, _, listed = scope.partition(";")
        scopes.append(head)
        if listed:
            scope_type = head.partition("/")[0]
            carried = merged.get(scope_type) or ()
            merged[scope_type] = [*([carried] if isinstance(carried, str) else carried), *listed.split(",")]
    return ":".join(scopes), merged

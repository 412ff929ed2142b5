"""How large a policy may be. Compiling takes time in proportion to the number and length of the
resource and action patterns, so these caps bound what one save (or the start) can cost; a webhook
never pays it (policies are compiled when saved)."""

from __future__ import annotations

from typing import Any

MAX_STATEMENTS = 200
"""Most statements in one policy."""
MAX_PATTERNS = 500
"""Most resource and action patterns (``resources``, ``notResources``, ``actions``, ``notActions``
entries) in one policy, all statements together."""
MAX_PATTERN_LENGTH = 256
"""Longest resource specifier or action pattern, in characters."""

_LISTS = ("resources", "notResources", "actions", "notActions")


def limit_errors(raw: Any) -> dict[str, str]:
    """Where ``raw`` (a list of statements) exceeds a cap, by path; empty when it does not.
    Checked before anything is compiled, so an oversized policy costs next to nothing."""
    if not isinstance(raw, list):
        return {}
    if len(raw) > MAX_STATEMENTS:
        return {"policy": f"has {len(raw)} statements; at most {MAX_STATEMENTS} are allowed"}
    errors: dict[str, str] = {}
    patterns = 0
    for index, statement in enumerate(raw):
        if not isinstance(statement, dict):
            continue
        for key in _LISTS:
            entries = statement.get(key)
            if not isinstance(entries, list):
                continue
            patterns += len(entries)
            for position, entry in enumerate(entries):
                if isinstance(entry, str) and len(entry) > MAX_PATTERN_LENGTH:
                    errors[f"policy[{index}].{key}[{position}]"] = (
                        f"is {len(entry)} characters long; at most {MAX_PATTERN_LENGTH} are allowed")
    if patterns > MAX_PATTERNS:
        errors["policy"] = (f"has {patterns} resource and action patterns in all; at most {MAX_PATTERNS} "
                            "are allowed (combine them with * globs or tags)")
    return errors

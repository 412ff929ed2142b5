"""How large a policy may be, and how much of an event it is matched against.

Compiling takes time in proportion to the number and length of the resource and action patterns,
so the first caps bound what one save (or the start) can cost; a webhook never pays it (policies
are compiled when saved). Matching takes time in proportion to the characters of the event's
accesses (times the policy's size, bounded above): the access caps bound what one webhook can cost,
whatever its sender puts in it (``bench/bench_policy_worst_case.py`` measures the worst case)."""

from __future__ import annotations

from typing import Any

MAX_STATEMENTS = 200
"""Most statements in one policy."""
MAX_PATTERNS = 500
"""Most resource and action patterns (``resources``, ``notResources``, ``actions``, ``notActions``
entries) in one policy, all statements together."""
MAX_PATTERN_LENGTH = 256
"""Longest resource specifier or action pattern, in characters."""

MAX_ACCESSES = 50
"""Most accesses one event may carry."""
MAX_RESOURCE_LENGTH = 1024
"""Longest resource of an access, in characters."""
MAX_ACTION_LENGTH = 100
"""Longest action of an access, in characters."""
MAX_ACCESS_CHARACTERS = 4096
"""Most characters of actions and resources one event's accesses may hold in all."""

_LISTS = ("resources", "notResources", "actions", "notActions")


def access_limit_error(accesses: list[tuple[str, str]]) -> str | None:
    """What in ``accesses`` ((action, resource) pairs) is past a cap, said for the sender; None when
    nothing is."""
    if len(accesses) > MAX_ACCESSES:
        return f"'accesses' has {len(accesses)} entries; at most {MAX_ACCESSES} accesses are accepted"
    total = 0
    for index, (action, resource) in enumerate(accesses):
        if len(resource) > MAX_RESOURCE_LENGTH:
            return (f"accesses[{index}].resource is {len(resource)} characters long; at most "
                    f"{MAX_RESOURCE_LENGTH} characters are accepted")
        if len(action) > MAX_ACTION_LENGTH:
            return (f"accesses[{index}].action is {len(action)} characters long; at most "
                    f"{MAX_ACTION_LENGTH} characters are accepted")
        total += len(action) + len(resource)
    if total > MAX_ACCESS_CHARACTERS:
        return (f"the accesses hold {total} characters of actions and resources; at most "
                f"{MAX_ACCESS_CHARACTERS} characters in all are accepted")
    return None


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

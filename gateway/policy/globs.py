"""Glob patterns in which only ``*`` is special, turned into regular expressions.

``*`` matches any run of characters, including none. Every other character, ``?`` and ``[``
included, stands for itself: LaunchDarkly keys, tags and actions are literal apart from ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Predicate = Callable[[str], object]
"""Called with a string; the result's truth says whether the string matched."""


def matches_everything(pattern: str) -> bool:
    """Whether ``pattern`` is made only of ``*`` (and so matches any string)."""
    return bool(pattern) and not pattern.strip("*")


def glob_to_regex(pattern: str, star: str = ".*", final_star: str | None = None) -> str:
    """Regular-expression source for ``pattern``, with ``star`` (ending in ``*``) for each ``*``.

    Every ``*`` but the last becomes an atomic, lazy match up to the next literal part, as
    :mod:`fnmatch` does: for a glob the earliest occurrence of each middle part is always good
    enough, and committing to it keeps matching linear however many stars a pattern has.
    ``final_star``, when given, stands for a ``*`` that ends the pattern: callers pass a
    possessive form (``[^:]*+``) when what follows can never be matched by the star.
    """
    if "*" not in pattern:
        return re.escape(pattern)
    first, *middle, last = pattern.split("*")
    source = re.escape(first) + "".join(f"(?>{star}?{re.escape(part)})" for part in middle)
    if not last and final_star is not None:
        return source + final_star
    return source + star + re.escape(last)


def compile_glob(pattern: str) -> Predicate:
    """A predicate matching whole strings against ``pattern``."""
    return re.compile(glob_to_regex(pattern), re.DOTALL).fullmatch

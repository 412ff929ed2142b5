"""Dynatrace's documented limits for custom events, and measuring text the way Dynatrace does.

Dynatrace counts characters as UTF-16 code units (a character outside the Basic Multilingual Plane,
such as most emoji, counts twice); counting that way keeps every value within the limit whatever the
text holds.
"""

from __future__ import annotations

SELECTOR_MAX_CHARS = 2000
"""The longest ``entitySelector`` Dynatrace accepts."""

PROPERTY_VALUE_MAX_CHARS = 4096
"""The longest event property value Dynatrace accepts (at most 100 properties, keys up to 100 characters)."""

REQUEST_MAX_BYTES = 1_000_000
"""The largest request body the plugin sends (Dynatrace accepts 1 MB)."""

ELLIPSIS = "…"


def char_count(text: str) -> int:
    """The length of ``text`` in UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters as :func:`char_count` counts them, ending in ``…``
    when cut."""
    if char_count(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    budget = limit - char_count(ELLIPSIS)
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > budget:
            break
        kept.append(char)
        used += size
    return "".join(kept) + ELLIPSIS

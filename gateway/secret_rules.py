"""What a secret given to the gateway may not be: the API's mask of a secret (``****``, ``****abcd``),
and — for secrets that guard the gateway's doors (inbound webhook secrets, the admin token) — a weak
value: too short, blank, or of one character class. One implementation for the config fields
(:class:`gateway.Secret`'s ``min_length``), the flag-platform connection and the settings."""

from __future__ import annotations

from typing import Any

from gateway.crypto import is_mask

CLASSES = ("lower-case letters", "upper-case letters", "digits", "other characters")


def looks_masked(value: Any) -> bool:
    """Whether ``value`` looks like a secret as the API shows it (``****``, ``****abcd``, or only
    asterisks): stored, it would be a secret anyone who read the API answer could guess."""
    if not isinstance(value, str):
        return False
    stripped = value.strip()
    return is_mask(stripped) or (stripped != "" and set(stripped) == {"*"})


MASK_MESSAGE = ("this is a masked secret as the API shows it (****abcd), not a secret: enter the secret "
                "itself (to keep a stored secret on an update, leave the field out)")


def _class(char: str) -> int | None:
    if char.isspace():
        return None
    if char.islower():
        return 0
    if char.isupper():
        return 1
    if char.isdigit():
        return 2
    return 3


def weakness(value: str, min_length: int) -> str | None:
    """Why ``value`` is too weak to guard a door (None when it is not): shorter than ``min_length``
    characters, blank (only white space), or made of one kind of character (only lower-case
    letters, only digits, one repeated character...). The value itself is never in the reason."""
    if len(value) < min_length:
        return f"must be at least {min_length} characters long (got {len(value)})"
    if not value.strip():
        return "must not be blank (it is only white space)"
    classes = {c for c in map(_class, value) if c is not None}
    if len(classes) < 2:
        kind = CLASSES[next(iter(classes))]
        return (f"is made of one kind of character only ({kind}): mix at least two of lower-case letters, "
                "upper-case letters, digits and other characters (a random value does)")
    return None

"""The LaunchDarkly context an application attaches to its Sentry events.

Applications call ``set_context("launchdarklyContext", {...})`` in their Sentry SDK with the context
they evaluate flags for: a single-kind context (``{"kind": "user", "key": "user-1"}``; without a
kind it is a user) or a multi-kind one (``{"kind": "multi", "user": {"key": ...}, "org": {...}}``).
The metric import API wants the context keys by kind (``{"user": "user-1", "org": "acme"}``).
"""

from __future__ import annotations

import re
from typing import Any

CONTEXT_NAME = "launchdarklyContext"
"""The Sentry context name that carries the LaunchDarkly context."""

DEFAULT_KIND = "user"
MULTI_KIND = "multi"

SENTRY_RESERVED_KEY = "type"
"""Sentry reserves this key in every context object for its own use, so it is never a context kind."""

_KIND_CHARACTERS = re.compile(r"[A-Za-z0-9._-]+")


class ContextError(ValueError):
    """The event's LaunchDarkly context cannot be used; the message says what is wrong with it."""


class MissingContext(ContextError):
    """The event carries no LaunchDarkly context at all."""


def context_keys(raw: Any) -> dict[str, str]:
    """The context keys by kind of a ``launchdarklyContext`` value, in the order given.

    Raises :class:`MissingContext` when there is none and :class:`ContextError` when it breaks
    LaunchDarkly's rules.
    """
    if raw is None:
        raise MissingContext(f"the Sentry event has no {CONTEXT_NAME} context")
    if not isinstance(raw, dict):
        raise ContextError(f"{CONTEXT_NAME} is {_describe(raw)}, not an object")
    kind = raw.get("kind")
    if kind is None:
        kind = DEFAULT_KIND
    elif not isinstance(kind, str):
        raise ContextError(f"{CONTEXT_NAME}.kind is {_describe(kind)}, not a string")
    if kind == MULTI_KIND:
        return _multi_kind_keys(raw)
    _check_kind(kind, CONTEXT_NAME + ".kind")
    return {kind: _key(raw, CONTEXT_NAME)}


def _multi_kind_keys(raw: dict[str, Any]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for kind, nested in raw.items():
        if kind in ("kind", SENTRY_RESERVED_KEY):
            continue
        path = f"{CONTEXT_NAME}.{kind}"
        if kind == MULTI_KIND:
            raise ContextError(f'{path}: a multi-kind context cannot contain a context of kind "multi"')
        _check_kind(kind, f"the kind name of {path}")
        if not isinstance(nested, dict):
            raise ContextError(f"{path} is {_describe(nested)}, not a context object")
        keys[kind] = _key(nested, path)
    if not keys:
        raise ContextError(f'{CONTEXT_NAME} has kind "multi" but contains no contexts')
    return keys


def _check_kind(kind: str, where: str) -> None:
    if kind == "kind":
        raise ContextError(f'{where} is "kind", which LaunchDarkly does not allow as a context kind')
    if not _KIND_CHARACTERS.fullmatch(kind):
        raise ContextError(
            f"{where} is {kind!r}; a context kind may only contain letters, digits, '.', '_' and '-'"
        )


def _key(context: dict[str, Any], path: str) -> str:
    key = context.get("key")
    if key is None:
        raise ContextError(f"{path} has no key")
    if not isinstance(key, str):
        raise ContextError(f"{path}.key is {_describe(key)}, not a string")
    if not key:
        raise ContextError(f"{path}.key is empty")
    return key


def _describe(value: Any) -> str:
    """A short description of a JSON value's type for a message (``a number``, ``a list``)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return "an object"

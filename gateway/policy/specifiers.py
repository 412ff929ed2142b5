"""Resource specifiers: the patterns with which statements name resources.

Grammar (LaunchDarkly's): scopes joined by ``:``, each ``type/key;modifier,modifier``.

* ``type`` is one of :data:`~gateway.policy.resource_types.KNOWN_RESOURCE_TYPES`, placed where
  LaunchDarkly nests it (``flag`` inside ``env`` inside ``proj``).
* ``key`` is a glob where only ``*`` is special; the bare ``acct`` (the account has no key) means
  ``acct/*``, and ``type/*`` also matches the bare resource ``type``; any other type without a key
  (``proj/shop:env/staging:flag``) is refused as incomplete.
* A modifier is a tag (letters, digits, ``.``, ``_``, ``-`` and ``*`` globs) or a property
  selector ``{property:value}``. A scope matches only when every tag pattern is matched by a
  tag the event carries for that scope type and every selector equals the attribute the event
  carries for it (no attribute, no match).

A specifier matches only resources of the same shape (the same sequence of types).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from gateway.policy.accesses import Attributes, Tags
from gateway.policy.globs import compile_glob, glob_to_regex, matches_everything
from gateway.policy.resource_types import KNOWN_RESOURCE_TYPES, TOP_LEVEL, placement_error, unknown_type_message
from gateway.policy.resources import KEY_CHAR

_TAG = re.compile(r"[A-Za-z0-9._*-]+")
_SELECTOR = re.compile(r"\{([A-Za-z0-9._-]+):([^{}:,;\s]+)\}")
_KEY_FORBIDDEN = re.compile(r"[/,{}$\"'\\]")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")


class InvalidSpecifier(ValueError):
    """A resource specifier is not well-formed; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class ScopePattern:
    """One parsed scope of a specifier, before compilation."""

    type: str
    key: str
    tags: tuple[str, ...] = ()
    selectors: tuple[tuple[str, str], ...] = ()


class ResourceSpecifier:
    """A compiled resource specifier.

    ``regex`` is the source of a regular expression over the whole resource string (it uses
    no capturing groups, so callers can combine it); ``has_context`` says whether some scope
    also has tag or property-selector conditions.
    """

    __slots__ = ("_context_checks", "_matches_resource", "has_context", "regex", "text")

    def __init__(self, text: str, scopes: Sequence[ScopePattern]) -> None:
        self.text = text
        self.regex = ":".join(map(_scope_regex, scopes))
        self._matches_resource: Callable[[str], re.Match[str] | None] | None = None  # compiled when first needed
        self._context_checks = tuple(_ScopeContext(scope) for scope in scopes if scope.tags or scope.selectors)
        self.has_context = bool(self._context_checks)

    def matches(self, resource: str, tags: Tags, attributes: Attributes) -> bool:
        """Whether the resource string, with the event's tags and attributes, matches this specifier.

        Only well-formed resource strings of the same shape (the same sequence of types) can match.
        """
        matches_resource = self._matches_resource
        if matches_resource is None:  # most specifiers are matched through their statement's regex only
            matches_resource = self._matches_resource = re.compile(self.regex).fullmatch
        return matches_resource(resource) is not None and self.context_matches(tags, attributes)

    def context_matches(self, tags: Tags, attributes: Attributes) -> bool:
        """Whether the event's tags and attributes satisfy every scope's tags and selectors."""
        return all(context_matches(tags, attributes) for context_matches in self._context_checks)

    def __repr__(self) -> str:
        return f"ResourceSpecifier({self.text!r})"


def _scope_regex(scope: ScopePattern) -> str:
    """Regular-expression source for one scope of a resource string (without inline tags).

    A key pattern of only ``*`` also accepts the bare type (``acct``); others require a key.
    """
    if matches_everything(scope.key):
        return f"{re.escape(scope.type)}(?:/{KEY_CHAR}++)?"
    key = glob_to_regex(scope.key, star=f"{KEY_CHAR}*", final_star=f"{KEY_CHAR}*+")
    return f"{re.escape(scope.type)}/{key}"


class _ScopeContext:
    """The tag and property-selector conditions of one scope."""

    __slots__ = ("selectors", "tag_checks", "type")

    def __init__(self, scope: ScopePattern) -> None:
        self.type = scope.type
        self.tag_checks = tuple(_tag_check(pattern) for pattern in scope.tags)
        self.selectors = scope.selectors

    def __call__(self, tags: Tags, attributes: Attributes) -> bool:
        if self.tag_checks:
            carried = tags.get(self.type) or ()
            if isinstance(carried, str):
                carried = (carried,)
            if not all(check(carried) for check in self.tag_checks):
                return False
        if self.selectors:
            carried_attributes = attributes.get(self.type)
            if not isinstance(carried_attributes, Mapping):
                return False
            for name, value in self.selectors:
                if name not in carried_attributes or _attribute_text(carried_attributes[name]) != value:
                    return False
        return True


def _tag_check(pattern: str) -> Callable[[Collection[object]], bool]:
    """A predicate on the tags an event carries for a scope: does one of them match ``pattern``?"""
    if "*" not in pattern:
        return lambda carried: pattern in carried
    matches = compile_glob(pattern)
    return lambda carried: any(isinstance(tag, str) and matches(tag) for tag in carried)


def _attribute_text(value: object) -> str | None:
    """An attribute as a selector compares it: ``True`` -> ``"true"``; non-scalars never match."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def parse_specifier(text: str) -> ResourceSpecifier:
    """Parse and compile a resource specifier; raises :class:`InvalidSpecifier` saying what is wrong."""
    if not text:
        raise InvalidSpecifier("must not be empty")
    if "${" in text:
        raise InvalidSpecifier('role attributes ("${...}") are not supported; name the resources explicitly')
    if _SPACE_OR_CONTROL.search(text):
        raise InvalidSpecifier("must not contain whitespace or control characters")
    scopes: list[ScopePattern] = []
    parent: str | None = TOP_LEVEL
    for position, scope_text in enumerate(_split_outside_braces(text, ":"), start=1):
        scope = _parse_scope(scope_text, position)
        problem = placement_error(parent, scope.type)
        if problem:
            raise InvalidSpecifier(problem)
        scopes.append(scope)
        parent = scope.type
    return ResourceSpecifier(text, scopes)


def _split_outside_braces(text: str, separator: str) -> list[str]:
    """Split on ``separator`` except inside ``{...}``; raises on unbalanced or nested braces."""
    parts: list[str] = []
    start = 0
    inside = False
    for index, char in enumerate(text):
        if char == "{":
            if inside:
                raise InvalidSpecifier('nested "{" in a property selector')
            inside = True
        elif char == "}":
            if not inside:
                raise InvalidSpecifier('"}" without a matching "{"')
            inside = False
        elif char == separator and not inside:
            parts.append(text[start:index])
            start = index + 1
    if inside:
        raise InvalidSpecifier('"{" without a matching "}"')
    parts.append(text[start:])
    return parts


KEYLESS_TYPES = frozenset({"acct"})
"""Types written without a key (the account is one): any other type needs ``/<key>`` or ``/*``."""


def _parse_scope(text: str, position: int) -> ScopePattern:
    """Parse one ``type/key;modifiers`` scope (``position`` counts from 1, for messages)."""
    if not text:
        raise InvalidSpecifier(f'scope {position} is empty (look for "::" or a ":" at either end)')
    head, has_modifiers, modifiers = text.partition(";")
    if "{" in head or "}" in head:
        raise InvalidSpecifier(f'braces in "{head}": property selectors go after ";", as in "env/*;{{critical:true}}"')
    resource_type, has_key, key = head.partition("/")
    if not resource_type and key:
        raise InvalidSpecifier(f'scope "{text}" starts with "/"; write it as "{text[1:]}"')
    if not resource_type:
        raise InvalidSpecifier(f'scope "{text}" has no resource type')
    if resource_type not in KNOWN_RESOURCE_TYPES:
        raise InvalidSpecifier(unknown_type_message(resource_type))
    if has_key and not key:
        raise InvalidSpecifier(f'"{head}" has an empty key; use "{resource_type}/*" for every {resource_type}')
    if not has_key and resource_type not in KEYLESS_TYPES:
        raise InvalidSpecifier(f'"{resource_type}" has no key, so the resource is incomplete; write '
                               f'"{resource_type}/*" for every {resource_type}, or "{resource_type}/<key>"')
    bad = _KEY_FORBIDDEN.search(key)
    if bad and bad.group() == "/":
        raise InvalidSpecifier(
            f'key "{key}" of "{resource_type}" contains "/"; separate scopes with ":", as in "proj/*:env/*"'
        )
    if bad:
        raise InvalidSpecifier(f'key "{key}" of "{resource_type}" contains "{bad.group()}"')
    tags: tuple[str, ...] = ()
    selectors: tuple[tuple[str, str], ...] = ()
    if has_modifiers:
        if not modifiers:
            raise InvalidSpecifier(f'nothing after ";" in "{text}"; list tags or remove the ";"')
        tags, selectors = _parse_modifiers(modifiers)
    return ScopePattern(resource_type, key if has_key else "*", tags, selectors)


def _parse_modifiers(modifiers: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Parse the ``tag,tag,{property:value}`` list after a scope's ``;`` into tags and selectors."""
    tags: list[str] = []
    selectors: list[tuple[str, str]] = []
    for item in _split_outside_braces(modifiers, ","):
        if not item:
            raise InvalidSpecifier(f'empty tag in "{modifiers}"')
        if "{" in item or "}" in item:
            selector = _SELECTOR.fullmatch(item)
            if not selector:
                raise InvalidSpecifier(
                    f'bad property selector "{item}": write {{property:value}}, as in {{critical:true}}'
                )
            selectors.append((selector.group(1), selector.group(2)))
        elif _TAG.fullmatch(item):
            tags.append(item)
        else:
            raise InvalidSpecifier(f'bad tag "{item}": tags may contain only letters, digits, ".", "_", "-" and "*"')
    return tuple(tags), tuple(selectors)

"""Validating one raw policy statement and compiling it into regex alternatives."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

from gateway.policy.accesses import Attributes, Tags
from gateway.policy.actions import likely_typo
from gateway.policy.globs import glob_to_regex
from gateway.policy.resources import WELL_FORMED
from gateway.policy.specifiers import ResourceSpecifier, parse_specifier

_Entry = TypeVar("_Entry")

EFFECTS = ("allow", "deny")
_KEYS = ("effect", "resources", "notResources", "actions", "notActions")
_ACTION = re.compile(r"[A-Za-z0-9*]+")
_LISTED = 3
"""How many resources or actions a description names before summarising the rest."""
_ACTION_STAR = "[^\\x00]*"
"""What ``*`` in an action pattern stands for in the regex alternatives."""


Condition = Callable[[str, Tags, Attributes], bool]
"""A check on (resource, tags, attributes) that a regex cannot make: tags and property selectors."""


@dataclass(frozen=True, slots=True)
class Alternative:
    """One way a statement can match: a regular expression over ``action NUL resource``.

    ``source`` has no capturing groups. Once it matches, ``condition`` (when not ``None``) must
    hold too. ``text`` is what matched, for the reason.
    """

    source: str
    text: str
    condition: Condition | None


class CompiledStatement:
    """One validated statement: its description, and its matching rules as regex alternatives.

    ``description`` is the short human text of the statement, for example
    ``"allows proj/*:env/production:flag/* actions *"``.
    """

    __slots__ = ("alternatives", "description", "effect", "index")

    def __init__(
        self,
        index: int,
        effect: str,
        specifiers: tuple[ResourceSpecifier, ...],
        negate_resources: bool,
        actions: tuple[str, ...],
        negate_actions: bool,
    ) -> None:
        self.index = index
        self.effect = effect
        texts = [specifier.text for specifier in specifiers]
        not_resources_text = "all but " + _listing(texts)
        self.description = describe(effect, texts, negate_resources, actions, negate_actions)
        action_source = _action_source(actions, negate_actions)
        self.alternatives: tuple[Alternative, ...]
        if negate_resources:
            self.alternatives = (_not_resources_alternative(action_source, specifiers, not_resources_text),)
        else:
            self.alternatives = tuple(
                Alternative(f"{action_source}\\x00{spec.regex}", spec.text, _context_condition(spec))
                for spec in specifiers
            )


def describe(effect: str, resources: list[str] | tuple[str, ...], negate_resources: bool,
             actions: list[str] | tuple[str, ...], negate_actions: bool) -> str:
    """The short human text of a statement, e.g. ``"allows proj/*:env/production:flag/* actions *"``."""
    verb = "allows" if effect == "allow" else "denies"
    resources_text = ("all but " if negate_resources else "") + _listing(resources)
    actions_text = ("all but " if negate_actions else "") + _listing(actions)
    return f"{verb} {resources_text} actions {actions_text}"


def _action_source(actions: tuple[str, ...], negate: bool) -> str:
    """Regex source for the action half: any of ``actions``, or (negated) none of them."""
    listed = "|".join(glob_to_regex(pattern, star=_ACTION_STAR, final_star=_ACTION_STAR + "+") for pattern in actions)
    return f"(?!(?:{listed})\\x00){_ACTION_STAR}+" if negate else f"(?:{listed})"


def _context_condition(specifier: ResourceSpecifier) -> Condition | None:
    """The tag and selector check of a ``resources`` specifier, if it has any."""
    if not specifier.has_context:
        return None
    return lambda _resource, tags, attributes: specifier.context_matches(tags, attributes)


def _not_resources_alternative(
    action_source: str, specifiers: tuple[ResourceSpecifier, ...], text: str
) -> Alternative:
    """A ``notResources`` statement: a well-formed resource that none of ``specifiers`` matches.

    Specifiers without tags or selectors are excluded by a negative look-ahead; those with
    them are checked by the condition, which needs the event's tags and attributes.
    """
    plain = [spec.regex for spec in specifiers if not spec.has_context]
    excluded = f"(?!(?:{'|'.join(plain)})\\Z)" if plain else ""
    source = f"{action_source}\\x00{excluded}{WELL_FORMED}"
    with_context = [spec for spec in specifiers if spec.has_context]
    if not with_context:
        return Alternative(source, text, None)

    def none_matches(resource: str, tags: Tags, attributes: Attributes) -> bool:
        return not any(spec.matches(resource, tags, attributes) for spec in with_context)

    return Alternative(source, text, none_matches)


def compile_statement(raw: object, index: int, errors: MutableMapping[str, str]) -> CompiledStatement | None:
    """Validate and compile ``raw``, the statement at ``policy[index]``.

    Every problem is added to ``errors`` under its path; ``None`` is returned when there was any.
    """
    path = f"policy[{index}]"
    if not isinstance(raw, Mapping):
        errors[path] = (
            f"must be an object with effect, resources or notResources, actions or notActions; got {json_kind(raw)}"
        )
        return None
    found = len(errors)
    for key in raw:
        if key not in _KEYS:
            errors[f"{path}.{key}"] = f"unknown key (allowed: {', '.join(_KEYS)})"
    effect = raw.get("effect")
    if "effect" not in raw:
        errors[f"{path}.effect"] = 'missing; must be "allow" or "deny"'
    elif effect not in EFFECTS:
        errors[f"{path}.effect"] = f'must be "allow" or "deny", got {_shown(effect)}'
    specifiers = _compile_pair(raw, path, "resources", errors, parse_specifier)
    actions = _compile_pair(raw, path, "actions", errors, _check_action)
    if len(errors) > found or specifiers is None or actions is None:
        return None
    (negate_resources, compiled_specifiers), (negate_actions, action_patterns) = specifiers, actions
    return CompiledStatement(index, str(effect), compiled_specifiers, negate_resources, action_patterns, negate_actions)


def _compile_pair(
    raw: Mapping[Any, Any],
    path: str,
    key: str,
    errors: MutableMapping[str, str],
    compile_entry: Callable[[str], _Entry],
) -> tuple[bool, tuple[_Entry, ...]] | None:
    """Validate exactly one of ``key``/``notKey`` and compile its entries.

    Returns ``(negated, compiled entries)``, or ``None`` after adding the problems to ``errors``.
    ``compile_entry`` raises :class:`ValueError` with the message for an invalid entry.
    """
    negated_key = "not" + key[0].upper() + key[1:]
    present = [name for name in (key, negated_key) if name in raw]
    if len(present) != 1:
        if present:
            errors[f"{path}.{key}"] = f'give "{key}" or "{negated_key}", not both'
        else:
            errors[f"{path}.{key}"] = f'missing; give "{key}" or "{negated_key}"'
        return None
    name = present[0]
    entries = raw[name]
    if not isinstance(entries, list):
        errors[f"{path}.{name}"] = f"must be a list of strings, got {json_kind(entries)}"
        return None
    if not entries:
        errors[f"{path}.{name}"] = "must not be empty"
        return None
    compiled = []
    for position, entry in enumerate(entries):
        entry_path = f"{path}.{name}[{position}]"
        if not isinstance(entry, str):
            errors[entry_path] = f"must be a string, got {json_kind(entry)}"
            continue
        try:
            compiled.append(compile_entry(entry))
        except ValueError as problem:
            errors[entry_path] = str(problem)
    if len(compiled) != len(entries):
        return None
    return name == negated_key, tuple(compiled)


def _check_action(text: str) -> str:
    """Check an action pattern: non-empty, letters, digits and ``*`` only."""
    if not text:
        raise ValueError("must not be empty")
    if not _ACTION.fullmatch(text):
        raise ValueError(f'invalid action "{text}": use only letters, digits and "*"')
    nearest = likely_typo(text)
    if nearest is not None:
        raise ValueError(f'unknown action "{text}": did you mean "{nearest}"? (LaunchDarkly action names are '
                         "case-sensitive)")
    return text


def _listing(items: list[str] | tuple[str, ...]) -> str:
    """Join the first few items with ", ", summarising the rest."""
    shown = ", ".join(items[:_LISTED])
    rest = len(items) - _LISTED
    return f"{shown} and {rest} more" if rest > 0 else shown


def json_kind(value: object) -> str:
    """A JSON-ish name for the type of ``value``, for messages."""
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _shown(value: object) -> str:
    """``value`` as a message shows it: strings quoted, others by type."""
    return f'"{value}"' if isinstance(value, str) else json_kind(value)

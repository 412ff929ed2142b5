"""Which Dynatrace tags an event carries, and which tags the plugin refuses.

An event's tags are the values of the flag's custom properties ``dynatrace`` ("Dynatrace tags") and
``dynatrace-v2`` ("Dynatrace tags (V2 API)"), then the integration's own ``tag``: surrounding
whitespace removed, duplicates dropped, first occurrence first. Dynatrace reads a tag written
``value``, ``key:value`` or ``[context]key:value``; a colon meant literally is written ``\\:``.

A tag is refused when it is empty or holds a control character, a line or paragraph separator or an
unpaired surrogate: none of them can be typed as a Dynatrace tag, so such a value is a mistake in the
flag's custom property or the integration's config.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from collections.abc import Iterable
from typing import Any

from gateway import Event

CUSTOM_PROPERTY_KEYS = ("dynatrace", "dynatrace-v2")
"""The flag custom properties holding Dynatrace tags, as the hosted integrations named them."""

CUSTOM_PROPERTY_NAME = "Dynatrace tags"
"""The display name of the ``dynatrace`` custom property in the flag platform."""

_REFUSED_CATEGORIES = {
    "Cc": "the control character",
    "Cs": "the unpaired surrogate",
    "Zl": "the line separator",
    "Zp": "the paragraph separator",
}
_CONTEXT = re.compile(r"\[([^\]]+)\](.*)", re.DOTALL)
_UNESCAPED_COLON = re.compile(r"(?<!\\):")


class TagError(ValueError):
    """The event cannot be sent: it has no tag, or a tag the plugin refuses. The message says how to
    fix it."""


@dataclass(frozen=True)
class Tag:
    """A tag and where it came from (for messages)."""

    text: str
    origin: str


def clean_tag(value: Any) -> str | None:
    """A configured tag with surrounding whitespace removed; ``None`` when blank or absent."""
    if value is None:
        return None
    return str(value).strip() or None


def tag_problem(text: str) -> str | None:
    """Why ``text`` cannot be used as a Dynatrace tag, or ``None`` when it can."""
    if not text.strip():
        return "is empty"
    for char in text:
        what = _REFUSED_CATEGORIES.get(unicodedata.category(char))
        if what:
            return f"contains {what} U+{ord(char):04X}"
    return None


def event_tags(event: Event, integration_tag: str | None) -> list[Tag]:
    """The tags of ``event`` for an integration whose own tag is ``integration_tag``: in order, each
    once."""
    found: list[Tag] = []
    for key in CUSTOM_PROPERTY_KEYS:
        origin = f'the flag\'s custom property "{key}"'
        found.extend(Tag(value.strip(), origin) for value in event.custom_property_values(key))
    if integration_tag:
        found.append(Tag(integration_tag.strip(), "the integration's tag"))
    unique: dict[str, Tag] = {}
    for tag in found:
        unique.setdefault(tag.text, tag)
    return list(unique.values())


def deliverable_tags(event: Event, integration_tag: str | None) -> list[str]:
    """The tags to send ``event`` with; raises :class:`TagError` when there is none or one is refused."""
    tags = event_tags(event, integration_tag)
    if not tags:
        raise TagError(
            'no Dynatrace tag: the flag has no "Dynatrace tags" custom property (key dynatrace) and the '
            "integration has no tag. Add the custom property to the flag in LaunchDarkly with the tags of "
            "the Dynatrace entities to annotate, or set the integration's tag to send every flag change to "
            "the entities carrying it"
        )
    for tag in tags:
        problem = tag_problem(tag.text)
        if problem:
            raise TagError(
                f"the Dynatrace tag {tag.text!r} from {tag.origin} {problem}, which a Dynatrace tag cannot "
                "hold; correct or remove it"
            )
    return [tag.text for tag in tags]


V1_CONTEXTS = ("CONTEXTLESS", "AWS", "AWS_GENERIC", "AZURE", "CLOUD_FOUNDRY", "ENVIRONMENT", "GOOGLE_CLOUD",
               "KUBERNETES")
"""The tag contexts Events API v1 takes in a tag rule (an enum there)."""

_V1_CONTEXT_NAMES = {name.replace("_", ""): name for name in V1_CONTEXTS}


def v1_context(written: str) -> str | None:
    """The v1 spelling of the context a tag is written with (``CloudFoundry``, ``Cloud Foundry`` and
    ``cloud_foundry`` are ``CLOUD_FOUNDRY``), or None for a context v1 does not know."""
    return _V1_CONTEXT_NAMES.get(re.sub(r"[\s_-]+", "", written).upper())


def tag_rule_tag(text: str) -> dict[str, str]:
    """A tag as Events API v1 matches it: ``{"context", "key"[, "value"]}``.

    ``[context]key:value`` gives that context in v1's spelling (:func:`v1_context`; :class:`TagError`
    for one v1 does not know), ``key:value`` and ``value`` the ``CONTEXTLESS`` context; the first colon
    not written ``\\:`` separates key and value.
    """
    context = "CONTEXTLESS"
    rest = text
    match = _CONTEXT.fullmatch(text)
    if match and match.group(2):
        written, rest = match.group(1).strip(), match.group(2)
        known = v1_context(written)
        if known is None:
            raise TagError(f"the Dynatrace tag {text!r} has the context [{written}], which Events API v1 does "
                           f"not take (it takes {', '.join(V1_CONTEXTS)}); correct the tag, or use api_version v2")
        context = known
    key, colon, value = _split_once(rest)
    key, value = key.replace("\\:", ":"), value.replace("\\:", ":")
    if not key:
        return {"context": context, "key": rest.replace("\\:", ":")}
    tag = {"context": context, "key": key}
    if colon:
        tag["value"] = value
    return tag


def tag_rule_tags(tags: Iterable[str]) -> list[dict[str, str]]:
    """``tags`` as v1 tag rule tags; :class:`TagError` names the first with a context v1 does not know."""
    return [tag_rule_tag(tag) for tag in tags]


def _split_once(text: str) -> tuple[str, str, str]:
    match = _UNESCAPED_COLON.search(text)
    if not match:
        return text, "", ""
    return text[: match.start()], ":", text[match.end() :]

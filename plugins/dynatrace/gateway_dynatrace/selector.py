"""The Events API v2 ``entitySelector``: ``type(<entity type>),tag("t1","t2",...)``.

Every tag is quoted. Inside quotes Dynatrace's selector syntax gives two characters a meaning, and
both are escaped with a tilde: ``~`` is written ``~~`` and ``"`` is written ``~"``; everything else
(commas, parentheses, colons, backslashes) is carried as it is. An entity with *any* of the tags
matches. The whole selector must stay within 2,000 characters; the plugin refuses rather than drops
tags, since a shorter selector would quietly reach other entities.
"""

from __future__ import annotations

from collections.abc import Sequence

from .limits import SELECTOR_MAX_CHARS, char_count


class SelectorTooLong(ValueError):
    """The tags do not fit in one entity selector; the message names them and what to do."""


def quote(value: str) -> str:
    """``value`` as a quoted selector string, with ``~`` and ``"`` escaped."""
    return '"' + value.replace("~", "~~").replace('"', '~"') + '"'


def entity_selector(entity_type: str, tags: Sequence[str]) -> str:
    """The selector for entities of ``entity_type`` carrying any of ``tags`` (at least one).

    Raises :class:`SelectorTooLong` when it would exceed Dynatrace's 2,000 characters.
    """
    selector = f"type({entity_type}),tag({','.join(quote(tag) for tag in tags)})"
    length = char_count(selector)
    if length <= SELECTOR_MAX_CHARS:
        return selector
    alone = [tag for tag in tags if char_count(f"type({entity_type}),tag({quote(tag)})") > SELECTOR_MAX_CHARS]
    if alone:
        raise SelectorTooLong(
            f"the Dynatrace tag {_preview(alone[0])} is too long: with it the entity selector is over "
            f"{SELECTOR_MAX_CHARS:,} characters, the most Dynatrace accepts; use a shorter tag"
        )
    raise SelectorTooLong(
        f"the {len(tags)} Dynatrace tags make an entity selector of {length:,} characters, over the "
        f"{SELECTOR_MAX_CHARS:,} Dynatrace accepts; give the flag fewer or shorter Dynatrace tags"
    )


def _preview(tag: str, limit: int = 60) -> str:
    """A long tag shortened for a message: its start and its length."""
    if len(tag) <= limit:
        return repr(tag)
    return f"{tag[:limit]!r}… ({char_count(tag):,} characters)"

"""Plain text from the small markdown the flag platform puts in titles and descriptions."""

from __future__ import annotations

import re

# Every pattern stops at the next bracket or marker of its kind, so none backtracks over the rest of
# the text: the work stays proportional to the length, whatever the input.
_IMAGE = re.compile(r"!\[([^\[\]]*)\]\([^()]*\)")
_LINK = re.compile(r"\[([^\[\]]*)\]\(([^()\s]*)(?:\s+\"[^\"]*\")?\)")
_CODE = re.compile(r"`([^`]*)`")
_EMPHASIS = re.compile(
    r"\*\*(?=\S)([^*\n]+)(?<=\S)\*\*"
    r"|(?<!\w)__(?=\S)([^_\n]+)(?<=\S)__(?!\w)"
    r"|~~(?=\S)([^~\n]+)(?<=\S)~~"
    r"|\*(?=\S)([^*\n]+)(?<=\S)\*"
    r"|(?<!\w)_(?=\S)([^_\n]+)(?<=\S)_(?!\w)"  # not inside words: snake_case stays
)
_SPACES = re.compile(r"[ \t]+")


MAX_CHARS = 10_000
"""Text past this many characters is left out (titles are a sentence; a longer one is not a title)."""


def markdown_to_text(text: str | None) -> str:
    """``text`` (its first :data:`MAX_CHARS` characters) with links reduced to their text and code
    and emphasis marks removed."""
    if not text:
        return ""
    # Each pattern runs only when the text holds the characters it needs (most titles have a link
    # or two and nothing else): the same result, without the passes that cannot change anything.
    out = text[:MAX_CHARS]
    if "![" in out:
        out = _IMAGE.sub(r"\1", out)
    if "](" in out:
        out = _LINK.sub(r"\1", out)
    if "`" in out:
        out = _CODE.sub(r"\1", out)
    if "*" in out or "_" in out or "~" in out:
        for _ in range(3):  # nested emphasis (**_x_**) unwraps one level a pass
            out, changed = _EMPHASIS.subn(_emphasised, out)
            if not changed:
                break
    if "  " in out or "\t" in out:
        out = _SPACES.sub(" ", out)
    return out.strip()


def _emphasised(match: re.Match) -> str:
    return next(g for g in match.groups() if g is not None)


def markdown_links(text: str | None) -> list[tuple[str, str]]:
    """The ``(text, url)`` of every link in ``text``, in order."""
    if not text:
        return []
    return [(m.group(1), m.group(2)) for m in _LINK.finditer(text[:MAX_CHARS])]

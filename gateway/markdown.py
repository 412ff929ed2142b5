"""Plain text from the small markdown the flag platform puts in titles and descriptions."""

from __future__ import annotations

import re

_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)(?:\s+\"[^\"]*\")?\)")
_CODE = re.compile(r"`([^`]*)`")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|~~)(?=\S)(.+?)(?<=\S)\1")
_SPACES = re.compile(r"[ \t]+")


def markdown_to_text(text: str | None) -> str:
    """``text`` with links reduced to their text and code and emphasis marks removed."""
    if not text:
        return ""
    out = _IMAGE.sub(r"\1", text)
    out = _LINK.sub(r"\1", out)
    out = _CODE.sub(r"\1", out)
    previous = None
    while previous != out:
        previous, out = out, _EMPHASIS.sub(r"\2", out)
    return _SPACES.sub(" ", out).strip()


def markdown_links(text: str | None) -> list[tuple[str, str]]:
    """The ``(text, url)`` of every link in ``text``, in order."""
    if not text:
        return []
    return [(m.group(1), m.group(2)) for m in _LINK.finditer(text)]

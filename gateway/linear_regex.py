"""Regular expressions from configuration, run by a linear-time engine.

A pattern an integration's config gives (a Dynatrace problem rule's ``title_pattern``, for one) is
matched against text a sender controls, in the thread that answers the webhook. Python's ``re``
backtracks: ``^(a|a)+$`` takes seconds on 22 characters and four times longer per two more. RE2
(``google-re2``) runs in time linear in the text whatever the pattern, and refuses what it cannot
run that way (backreferences such as ``\\1``, lookahead and lookbehind): :func:`compile_regex`
raises :class:`UnsupportedPattern` for those, so that a config holding one is refused when saved.

The syntax is RE2's (https://github.com/google/re2/wiki/Syntax): Python's syntax without
backreferences and lookaround; ``(?i)`` and the other inline flags work.
"""

from __future__ import annotations

import re

import re2

MAX_PATTERN_LENGTH = 1000
"""Longest pattern accepted."""

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error is raised; RE2 would also print it to stderr


class UnsupportedPattern(re.error):
    """A pattern the linear-time engine cannot run, or not a regular expression at all; the message
    says why. A subclass of ``re.error``, so that code catching that catches this too."""


def compile_regex(pattern: str, *, ignore_case: bool = False):
    """``pattern`` compiled by RE2: an object with ``search``, ``match`` and ``fullmatch`` as
    ``re.Pattern`` has, each linear in the text. :class:`UnsupportedPattern` when RE2 refuses it."""
    if not isinstance(pattern, str):
        raise UnsupportedPattern(f"a pattern is text, not {type(pattern).__name__}")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UnsupportedPattern(f"the pattern is {len(pattern)} characters; at most {MAX_PATTERN_LENGTH} are accepted")
    options = _OPTIONS
    if ignore_case:
        options = re2.Options()
        options.log_errors = False
        options.case_sensitive = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise UnsupportedPattern(f"{detail} (patterns run on RE2: no backreferences, lookahead or lookbehind)") from None

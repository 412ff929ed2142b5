"""Patterns from configuration run on a linear-time engine (RE2): a pattern that makes Python's
``re`` backtrack for hours is answered at once, and what RE2 cannot run is refused when compiled."""

from __future__ import annotations

import re

import pytest

from gateway import UnsupportedPattern, compile_regex


def test_a_catastrophic_pattern_for_backtracking_engines_is_answered():
    pattern = compile_regex(r"^(a|a)+$")
    # Python's re takes hours on this (x4.7 per 2 characters from 2.6 s at 22); RE2 is linear.
    assert pattern.search("a" * 5000 + "b") is None
    assert pattern.search("a" * 5000) is not None
    assert not isinstance(pattern, re.Pattern)


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)b", r"(?<!a)b", "(unclosed", "x" * 1001])
def test_patterns_the_engine_cannot_run_are_refused(pattern):
    with pytest.raises(UnsupportedPattern) as refused:
        compile_regex(pattern)
    assert isinstance(refused.value, re.error)  # caught by code that catches re.error
    assert str(refused.value)


@pytest.mark.parametrize("pattern, text, found", [
    ("failure rate$", "High failure rate", True),
    ("(?i)HIGH", "High failure rate", True),
    ("HIGH", "High failure rate", False),
    (r"\bdisk\b", "disk full on host-1", True),
    ("é+", "café", True),
])
def test_ordinary_patterns_match_as_before(pattern, text, found):
    assert (compile_regex(pattern).search(text) is not None) is found
    assert (re.search(pattern, text) is not None) is found


def test_case_can_be_ignored():
    assert compile_regex("abc", ignore_case=True).search("xABCx")

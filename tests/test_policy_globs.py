"""Glob patterns on their own: only ``*`` is special, whole strings match, near misses do not."""

from __future__ import annotations

import re

import pytest

from gateway.policy.globs import compile_glob, glob_to_regex, matches_everything


@pytest.mark.parametrize("pattern, everything", [
    ("*", True), ("**", True), ("***", True),
    ("", False), ("a", False), ("a*", False), ("*a", False), ("* ", False), (" *", False), ("*?*", False),
    ("X*", False), ("*X", False), ("X", False),
])
def test_matches_everything(pattern, everything):
    assert matches_everything(pattern) is everything


@pytest.mark.parametrize("pattern, subject, matched", [
    ("*", "", True), ("*", "anything: at all", True), ("", "", True), ("", "x", False),
    ("prod", "prod", True), ("prod", "production", False), ("prod", "pro", False), ("prod", "PROD", False),
    ("prod*", "production", True), ("prod*", "prod", True), ("prod*", "pro", False), ("prod*", "xprod", False),
    ("*prod", "preprod", True), ("*prod", "prod", True), ("*prod", "prodx", False),
    ("a*b*c", "abc", True), ("a*b*c", "aXbYc", True), ("a*b*c", "acb", False), ("a*b*c", "abcx", False),
    ("a*b*c", "ab", False), ("a*a", "a", False), ("a*a", "aa", True), ("*a*", "bab", True), ("*a*", "bbb", False),
    # every other character stands for itself
    ("fl?g", "flag", False), ("fl?g", "fl?g", True), ("[ab]", "a", False), ("[ab]", "[ab]", True),
    ("a.c", "abc", False), ("a.c", "a.c", True), ("a+", "aa", False), ("(x)", "(x)", True),
    ("x*", "x\nline", True), ("*", "\n", True),
])
def test_compile_glob(pattern, subject, matched):
    assert bool(compile_glob(pattern)(subject)) is matched


def test_regex_source():
    assert glob_to_regex("a.b") == r"a\.b"
    assert glob_to_regex("a*") == "a.*"
    assert glob_to_regex("a*b*c") == r"a(?>.*?b).*c"
    assert glob_to_regex("a*", star="[^:]*", final_star="[^:]*+") == "a[^:]*+"
    assert glob_to_regex("a*b", star="[^:]*", final_star="[^:]*+") == "a[^:]*b"
    assert glob_to_regex("*", final_star="X") == "X"


def test_final_star_keeps_matching_linear():
    predicate = re.compile(glob_to_regex("a*" * 30 + "b"), re.DOTALL).fullmatch
    assert predicate("a" * 60) is None
    assert predicate("a" * 60 + "b") is not None

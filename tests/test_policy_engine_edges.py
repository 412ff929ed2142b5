"""Edges of the policy engine the mutation run showed untested: an unusable access followed by a
usable one, reasons at the exact clipping and listing limits, decisions that cannot be changed."""

from __future__ import annotations

import dataclasses
from collections import namedtuple

import pytest

from gateway.policy import Access, compile_policy

FLAG = "proj/shop:env/production:flag/search"
ALLOW_ALL = [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}]
CoreAccess = namedtuple("CoreAccess", ["action", "resource"])


@pytest.mark.parametrize("unusable", [
    CoreAccess(None, FLAG),  # not a string
    CoreAccess("updateOn", None),
    CoreAccess("update\x00On", FLAG),
    CoreAccess("updateOn", "proj/shop;a;b:env/production:flag/search"),  # inline tags, malformed
])
def test_an_unusable_access_does_not_hide_the_next_one(unusable):
    decision = compile_policy(ALLOW_ALL).evaluate([unusable, Access("updateOn", FLAG)])
    assert decision.allowed and decision.statement == 0
    assert decision.reason == f"allowed by statement 0 (allow proj/*:env/*:flag/*) for updateOn on {FLAG}"


def test_an_access_given_again_does_not_hide_the_next_one():
    policy = compile_policy([*ALLOW_ALL, {"effect": "deny", "resources": [FLAG], "actions": ["deleteFlag"]}])
    again = Access("updateOn", FLAG)
    decision = policy.evaluate([again, again, Access("deleteFlag", FLAG)])
    assert not decision.allowed and decision.statement == 1
    assert decision.reason == f"denied by statement 1 (deny {FLAG}) for deleteFlag on {FLAG}"


def test_three_accesses_are_listed_without_a_remainder():
    policy = compile_policy([{"effect": "allow", "resources": ["proj/none"], "actions": ["*"]}])
    accesses = [Access("a", "proj/x"), Access("b", "proj/y"), Access("c", "proj/z")]
    assert policy.evaluate(accesses).reason == (
        "denied: no statement allows a on proj/x; b on proj/y; c on proj/z (statement 0 allows proj/none actions *)")
    assert policy.evaluate([*accesses, Access("d", "proj/w")]).reason.endswith(
        "c on proj/z; and 1 more accesses (statement 0 allows proj/none actions *)")


def test_text_of_exactly_the_clip_length_is_kept_whole():
    action = "a" * 160
    resource = "proj/" + "k" * 156  # 161 characters: clipped
    policy = compile_policy([{"effect": "allow", "resources": ["proj/*"], "actions": ["*"]}])
    decision = policy.evaluate([Access(action, resource)])
    assert decision.allowed
    assert decision.reason == f"allowed by statement 0 (allow proj/*) for {action} on {resource[:157]}..."
    exact = policy.evaluate([Access(action, "proj/" + "k" * 155)])
    assert exact.reason.endswith(f"for {action} on proj/{'k' * 155}")


def test_a_decision_and_a_policy_show_what_they_are():
    policy = compile_policy(ALLOW_ALL + ALLOW_ALL)
    assert repr(policy) == "<CompiledPolicy with 2 statements>"
    decision = policy.evaluate([Access("updateOn", FLAG)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.allowed = False


def test_the_allow_statements_named_in_a_denial_are_separated_clearly():
    policy = compile_policy([{"effect": "allow", "resources": ["proj/a"], "actions": ["*"]},
                             {"effect": "allow", "resources": ["proj/b"], "actions": ["updateOn"]}])
    assert policy.evaluate([Access("x", "proj/c")]).reason == (
        "denied: no statement allows x on proj/c "
        "(statement 0 allows proj/a actions *; statement 1 allows proj/b actions updateOn)")


@pytest.mark.parametrize("action, shown", [(None, "NoneType"), (3, "int"), ("x\x00", '"x\x00"')])
def test_an_unusable_action_is_named_in_the_reason(action, shown):
    decision = compile_policy(ALLOW_ALL).evaluate([CoreAccess(action, FLAG)])
    assert decision.reason == (f'denied: no statement allows {shown} on "{FLAG}" (not a valid action) '
                               "(statement 0 allows proj/*:env/*:flag/* actions *)")


def test_three_allow_statements_are_named_without_a_remainder():
    policy = compile_policy([{"effect": "allow", "resources": [f"proj/{name}"], "actions": ["*"]} for name in "abc"])
    assert policy.evaluate([Access("x", "proj/z")]).reason == (
        "denied: no statement allows x on proj/z (statement 0 allows proj/a actions *; "
        "statement 1 allows proj/b actions *; statement 2 allows proj/c actions *)")


def test_a_specifier_shows_its_text():
    from gateway.policy.specifiers import parse_specifier

    assert repr(parse_specifier("proj/*:env/production")) == "ResourceSpecifier('proj/*:env/production')"


@pytest.mark.parametrize("specifier, message", [
    ("proj/x{;y}", 'braces in "proj/x{": property selectors go after ";", as in "env/*;{critical:true}"'),
    ("proj/a/b", 'key "a/b" of "proj" contains "/"; separate scopes with ":", as in "proj/*:env/*"'),
    ("proj/a$b:env/*", 'key "a$b" of "proj" contains "$"'),
    ("proj:env/*:flag/*",
     '"proj" has no key, so the resource is incomplete; write "proj/*" for every proj, or "proj/<key>"'),
])
def test_specifier_messages(specifier, message):
    from gateway.policy import PolicyError

    with pytest.raises(PolicyError) as raised:
        compile_policy([{"effect": "allow", "resources": [specifier], "actions": ["*"]}])
    assert raised.value.errors == {"policy[0].resources[0]": message}


def test_a_selector_for_false_matches_an_attribute_that_is_false_and_only_that():
    policy = compile_policy([{"effect": "allow", "resources": ["proj/*:env/*;{critical:false}:flag/*"],
                              "actions": ["*"]}])
    access = [Access("updateOn", FLAG)]
    assert policy.evaluate(access, attributes={"env": {"critical": False}}).statement == 0
    assert not policy.evaluate(access, attributes={"env": {"critical": True}}).allowed
    assert not policy.evaluate(access, attributes={"env": {"critical": "False"}}).allowed


def test_every_entry_that_is_not_a_string_is_reported():
    from gateway.policy import PolicyError

    with pytest.raises(PolicyError) as raised:
        compile_policy([{"effect": "allow", "resources": [1, "proj/*", [2], 2.5], "actions": ["*"]}])
    assert raised.value.errors == {"policy[0].resources[0]": "must be a string, got number",
                                   "policy[0].resources[2]": "must be a string, got list",
                                   "policy[0].resources[3]": "must be a string, got number"}


def test_three_resources_and_actions_are_described_without_a_remainder():
    policy = compile_policy([{"effect": "allow", "resources": ["proj/a", "proj/b", "proj/c"], "actions": ["a", "b", "c"]}])
    assert policy.describe(0) == "allows proj/a, proj/b, proj/c actions a, b, c"


def test_json_kinds():
    from gateway.policy.statements import json_kind

    assert [json_kind(v) for v in ({}, [], "", True, 1, 1.5, None, b"")] == \
        ["object", "list", "string", "boolean", "number", "number", "null", "bytes"]

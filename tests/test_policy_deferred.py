"""Reading stored denials back: a policy compiled with its matchers deferred decides as one compiled
at once, and ``denial_reason`` gives the reason ``evaluate`` gives, matching nothing when the
policy has no deny statement."""

from __future__ import annotations

import re

import pytest

from gateway.policy import Access, PolicyError, compile_policy, denial_explainer

POLICIES = [
    [{"effect": "allow", "resources": ["proj/team-7:env/*:flag/*"], "actions": ["*"]}],
    [{"effect": "allow", "resources": ["proj/a:env/production:flag/*", "proj/b;mobile:env/*:flag/*"],
      "actions": ["updateOn", "update*"]},
     {"effect": "allow", "notResources": ["proj/*:env/test:flag/*"], "actions": ["createFlag"]}],
    [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]},
     {"effect": "deny", "resources": ["proj/*:env/production:flag/ops-*"], "actions": ["*"]}],
    [{"effect": "deny", "resources": ["proj/shop:env/*:flag/*"], "actions": ["updateOn"]}],
    [],
    [{"effect": "allow", "resources": [f"proj/p{n}:env/*:flag/*"], "notActions": ["deleteFlag", "createFlag"]}
     for n in range(5)],
]
EVENTS = [
    ([Access("updateOn", "proj/shop:env/production:flag/search")], {}),
    ([Access("updateRules", "proj/team-7:env/staging:flag/x")], {}),
    ([Access("updateOn", "proj/a:env/production:flag/ops-kill")], {}),
    ([Access("updateOn", "proj/b:env/staging:flag/y")], {"proj": ["mobile"]}),
    ([Access("updateOn", "proj/b:env/staging:flag/y")], {}),
    ([Access("createFlag", "proj/c:env/test:flag/z"), Access("deleteFlag", "proj/c:env/prod:flag/z")], {}),
    ([], {}),
    ([Access("updateOn", "not a resource")], {}),
]


@pytest.mark.parametrize("raw", POLICIES)
def test_a_deferred_policy_decides_as_one_compiled_at_once(raw):
    eager, deferred = compile_policy(raw), compile_policy(raw, defer_matchers=True)
    for accesses, tags in EVENTS:
        assert deferred.evaluate(accesses, tags=tags) == eager.evaluate(accesses, tags=tags)


@pytest.mark.parametrize("raw", POLICIES)
def test_the_reason_of_a_known_denial_is_the_reason_evaluate_gives(raw):
    denied = 0
    for accesses, tags in EVENTS:
        decision = compile_policy(raw).evaluate(accesses, tags=tags)
        if decision.allowed:
            continue
        denied += 1
        assert compile_policy(raw, defer_matchers=True).denial_reason(accesses, tags=tags) == decision.reason
        assert compile_policy(raw).denial_reason(accesses, tags=tags) == decision.reason
        assert denial_explainer(raw).denial_reason(accesses, tags=tags) == decision.reason
    assert denied  # every policy here denies some of the events


def test_explaining_a_denial_by_a_policy_without_deny_statements_compiles_no_regular_expression(monkeypatch):
    raw = POLICIES[1]
    policy = compile_policy(raw, defer_matchers=True)
    accesses = [Access("deleteFlag", "proj/shop:env/production:flag/search")]
    expected = compile_policy(raw).evaluate(accesses).reason

    def refused(*args, **kwargs):
        raise AssertionError("a regular expression was compiled")

    monkeypatch.setattr(re, "compile", refused)
    assert policy.denial_reason(accesses) == expected
    assert expected.startswith("denied: no statement allows deleteFlag on proj/shop:env/production:flag/search")


def test_a_deferred_policy_still_refuses_what_is_invalid():
    with pytest.raises(Exception) as refused:
        compile_policy([{"effect": "allow", "resources": ["proj/x:env"], "actions": ["updateOnn"]}],
                       defer_matchers=True)
    assert "updateOnn" in str(refused.value.errors)


def test_the_denials_of_allow_statements_alone_are_explained_without_parsing_them(monkeypatch):
    from gateway.policy import engine

    raw = POLICIES[1]
    accesses = [Access("deleteFlag", "proj/shop:env/production:flag/search")]
    expected = compile_policy(raw).evaluate(accesses).reason

    def refused(*args, **kwargs):
        raise AssertionError("a statement was compiled")

    monkeypatch.setattr(engine, "compile_statement", refused)
    monkeypatch.setattr(re, "compile", refused)
    assert denial_explainer(raw).denial_reason(accesses) == expected
    with pytest.raises(AssertionError):  # (what the check would catch)
        denial_explainer(POLICIES[2])


def test_allow_statements_are_read_as_stored_the_policy_was_valid_when_it_judged():
    raw = [{"effect": "allow", "resources": ["proj/x:env"], "actions": ["*"]}]  # not refused when read back
    assert denial_explainer(raw).denial_reason([Access("updateOn", "proj/y:env/z")]) == (
        "denied: no statement allows updateOn on proj/y:env/z (statement 0 allows proj/x:env actions *)")


@pytest.mark.parametrize("raw", [
    [{"effect": "allow", "resources": [], "actions": ["*"]}],
    [{"effect": "allow", "resources": ["proj/*"], "notResources": ["proj/a"], "actions": ["*"]}],
    [{"effect": "allow", "resources": ["proj/*"], "actions": ["*"], "condition": {}}],
    [{"effect": "deny", "resources": ["proj/x:env"], "actions": ["*"]}],
    "not a list",
])
def test_a_policy_of_another_shape_is_compiled_and_refused_when_invalid(raw):
    with pytest.raises(PolicyError):
        denial_explainer(raw)


@pytest.mark.parametrize("resources", ["resources", "notResources"])
@pytest.mark.parametrize("actions", ["actions", "notActions"])
def test_allow_statements_of_every_stored_shape_are_explained_without_parsing_them(monkeypatch, resources, actions):
    from gateway.policy import engine

    raw = [{"effect": "allow", resources: ["proj/a:env/*:flag/*"], actions: ["updateOn"]}]
    action = "deleteFlag" if (resources, actions) == ("resources", "actions") else "updateOn"  # one it denies
    accesses = [Access(action, "proj/a:env/production:flag/search")]
    expected = compile_policy(raw).evaluate(accesses).reason
    assert expected.startswith("denied: no statement allows")

    def refused(*args, **kwargs):
        raise AssertionError("a statement was compiled")

    monkeypatch.setattr(engine, "compile_statement", refused)
    monkeypatch.setattr(re, "compile", refused)
    assert denial_explainer(raw).denial_reason(accesses) == expected


def test_a_policy_with_deny_statements_is_read_back_without_compiling_its_matchers(monkeypatch):
    raw = POLICIES[2]
    accesses = [Access("updateOn", "proj/a:env/production:flag/ops-kill")]
    expected = compile_policy(raw).evaluate(accesses).reason
    compiled = []
    real_compile = re.compile
    monkeypatch.setattr(re, "compile", lambda *args, **kwargs: compiled.append(args[0]) or real_compile(*args, **kwargs))
    explainer = denial_explainer(raw)
    assert compiled == []  # read back only: its matchers wait until a denial is explained
    assert explainer.denial_reason(accesses) == expected and compiled


def test_a_policy_compiled_at_once_compiles_nothing_when_it_decides(monkeypatch):
    """compile_policy builds the matchers when the policy is saved, so the intake does not."""
    policy = compile_policy(POLICIES[2])

    def refused(*args, **kwargs):
        raise AssertionError("a regular expression was compiled")

    monkeypatch.setattr(re, "compile", refused)
    accesses, tags = EVENTS[2]
    assert policy.evaluate(accesses, tags=tags).reason.startswith("denied by statement 1")

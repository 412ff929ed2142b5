"""The policy engine: LaunchDarkly's documented examples, validation, explanations, fixtures, docs."""

from __future__ import annotations

import json
import re
import time
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from gateway.policy import (
    KNOWN_RESOURCE_TYPES,
    Access,
    CompiledPolicy,
    PolicyDecision,
    PolicyError,
    compile_policy,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "launchdarkly"
FIXTURE_NAMES = (
    "flag-turned-on-production",
    "flag-rules-updated-staging",
    "flag-without-custom-properties",
    "environment-renamed",
)
DYNATRACE_DEFAULT = [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]


def allow(*resources: str, actions: tuple[str, ...] = ("*",)) -> dict[str, Any]:
    return {"effect": "allow", "resources": list(resources), "actions": list(actions)}


def deny(*resources: str, actions: tuple[str, ...] = ("*",)) -> dict[str, Any]:
    return {"effect": "deny", "resources": list(resources), "actions": list(actions)}


def decide(policy: list[dict[str, Any]], action: str, resource: str, **context: Any) -> PolicyDecision:
    return compile_policy(policy).evaluate([Access(action, resource)], **context)


def load_fixture(name: str) -> tuple[list[Access], dict[str, list[str]]]:
    """A fixture's accesses, and its flag's tags (``currentVersion.tags``) as scope tags."""
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    accesses = [Access(access["action"], access["resource"]) for access in body["accesses"]]
    version = body.get("currentVersion")
    return accesses, ({"flag": version["tags"]} if version else {})


# --- LaunchDarkly's documented examples, as a table -------------------------------------------

PROD_FLAG = "proj/checkout:env/production:flag/new-checkout-flow"
STAGING_FLAG = "proj/checkout:env/staging:flag/new-checkout-flow"

DOCUMENTED_CASES = [
    # "Grant access to kill switch features": updateOn in production only.
    ("kill switch: updateOn in production", [allow("proj/*:env/production:flag/*", actions=("updateOn",))],
     "updateOn", PROD_FLAG, {}, True),
    ("kill switch: not rules", [allow("proj/*:env/production:flag/*", actions=("updateOn",))],
     "updateRules", PROD_FLAG, {}, False),
    ("kill switch: not staging", [allow("proj/*:env/production:flag/*", actions=("updateOn",))],
     "updateOn", STAGING_FLAG, {}, False),
    # "Grant all actions to just one flag".
    ("one flag: that flag", [allow("proj/*:env/*:flag/new-checkout-flow")], "deleteFlag", STAGING_FLAG, {}, True),
    ("one flag: another flag", [allow("proj/*:env/*:flag/new-checkout-flow")],
     "deleteFlag", "proj/checkout:env/staging:flag/old-flow", {}, False),
    # One project.
    ("one project: in it", [allow("proj/checkout:env/*:flag/*")], "updateOn", PROD_FLAG, {}, True),
    ("one project: another project", [allow("proj/checkout:env/*:flag/*")],
     "updateOn", "proj/search:env/production:flag/x", {}, False),
    # Action globs: "update*" describes all modifications.
    ("action glob update*", [allow("proj/*:env/*:flag/*", actions=("update*",))], "updateTargets", PROD_FLAG, {}, True),
    ("action glob misses create", [allow("proj/*:env/*:flag/*", actions=("update*",))],
     "createFlag", PROD_FLAG, {}, False),
    ("action glob in the middle", [allow("proj/*:env/*:flag/*", actions=("update*Rollout",))],
     "updateFallthroughWithMeasuredRollout", PROD_FLAG, {}, True),
    # Key globs anywhere in a name.
    ("key prefix glob", [allow("proj/*:env/*:flag/ops_*")], "updateOn", "proj/x:env/y:flag/ops_kill", {}, True),
    ("key prefix glob matches empty rest", [allow("proj/*:env/*:flag/ops_*")],
     "updateOn", "proj/x:env/y:flag/ops_", {}, True),
    ("key suffix glob", [allow("proj/*:env/*:flag/*-beta")], "updateOn", "proj/x:env/y:flag/search-beta", {}, True),
    ("key inner glob", [allow("proj/*:env/*:flag/a*z")], "updateOn", "proj/x:env/y:flag/abcz", {}, True),
    ("key glob is not a regex", [allow("proj/*:env/*:flag/a.c")], "updateOn", "proj/x:env/y:flag/abc", {}, False),
    ("key ? is literal", [allow("proj/*:env/*:flag/a?c")], "updateOn", "proj/x:env/y:flag/abc", {}, False),
    # Deny overrides allow, in either order.
    ("deny overrides allow", [allow("proj/*:env/*:flag/*"), deny("proj/*:env/production:flag/*")],
     "updateOn", PROD_FLAG, {}, False),
    ("deny first overrides allow", [deny("proj/*:env/production:flag/*"), allow("proj/*:env/*:flag/*")],
     "updateOn", PROD_FLAG, {}, False),
    ("deny elsewhere leaves allow", [allow("proj/*:env/*:flag/*"), deny("proj/*:env/production:flag/*")],
     "updateOn", STAGING_FLAG, {}, True),
    ("deny alone denies", [deny("proj/*:env/*:flag/*")], "updateOn", PROD_FLAG, {}, False),
    # Tags: all listed tags must be present ("tag1 AND tag2").
    ("tags: both present", [allow("proj/*:env/*:flag/*;tag1,tag2")], "updateOn", PROD_FLAG,
     {"tags": {"flag": ["tag2", "tag1", "other"]}}, True),
    ("tags: one missing", [allow("proj/*:env/*:flag/*;tag1,tag2")], "updateOn", PROD_FLAG,
     {"tags": {"flag": ["tag1"]}}, False),
    ("tags: or via two statements", [allow("proj/*:env/*:flag/*;tag1"), allow("proj/*:env/*:flag/*;tag2")],
     "updateOn", PROD_FLAG, {"tags": {"flag": ["tag2"]}}, True),
    ("tags: on the wrong scope", [allow("proj/*:env/*:flag/*;tag1")], "updateOn", PROD_FLAG,
     {"tags": {"env": ["tag1"]}}, False),
    ("tags: none given", [allow("proj/*:env/*:flag/*;tag1")], "updateOn", PROD_FLAG, {}, False),
    # "Grant access to environments tagged qa_*" (a tag glob) and their flags.
    ("env tag glob", [allow("proj/*:env/*;qa_*:flag/*")], "updateOn", "proj/x:env/qa-1:flag/f",
     {"tags": {"env": ["qa_test"]}}, True),
    ("env tag glob misses", [allow("proj/*:env/*;qa_*:flag/*")], "updateOn", "proj/x:env/qa-1:flag/f",
     {"tags": {"env": ["prod"]}}, False),
    ("project tag", [allow("proj/*;mobile:env/*:flag/*")], "updateOn", PROD_FLAG, {"tags": {"proj": ["mobile"]}}, True),
    # Property-based selectors: "critical" environments.
    ("selector: critical", [allow("proj/*:env/*;{critical:true}:flag/*")], "updateOn", PROD_FLAG,
     {"attributes": {"env": {"critical": True}}}, True),
    ("selector: not critical", [allow("proj/*:env/*;{critical:true}:flag/*")], "updateOn", PROD_FLAG,
     {"attributes": {"env": {"critical": False}}}, False),
    ("selector: no attribute", [allow("proj/*:env/*;{critical:true}:flag/*")], "updateOn", PROD_FLAG,
     {"attributes": {"env": {}}}, False),
    ("selector: no attributes at all", [allow("proj/*:env/*;{critical:true}:flag/*")], "updateOn", PROD_FLAG, {},
     False),
    ("selector: string value", [allow("proj/*:env/*;{critical:true}:flag/*")], "updateOn", PROD_FLAG,
     {"attributes": {"env": {"critical": "true"}}}, True),
    ("selector: value case matters", [allow("proj/*:env/*;{critical:true}:flag/*")], "updateOn", PROD_FLAG,
     {"attributes": {"env": {"critical": "True"}}}, False),
    ("selector and tag together", [allow("proj/*:env/*;fedramp,{critical:true}:flag/*")], "updateOn", PROD_FLAG,
     {"tags": {"env": ["fedramp"]}, "attributes": {"env": {"critical": True}}}, True),
    ("selector and tag, tag missing", [allow("proj/*:env/*;fedramp,{critical:true}:flag/*")], "updateOn",
     PROD_FLAG, {"attributes": {"env": {"critical": True}}}, False),
    ("deny in critical environments", [allow("proj/*:env/*:flag/*"), deny("proj/*:env/*;{critical:true}:flag/*")],
     "updateOn", PROD_FLAG, {"attributes": {"env": {"critical": True}}}, False),
    # notResources: everything the specifiers do not match, of any shape.
    ("notResources excludes", [{"effect": "allow", "notResources": ["proj/*:env/production:flag/*"], "actions": ["*"]}],
     "updateOn", PROD_FLAG, {}, False),
    ("notResources includes the rest",
     [{"effect": "allow", "notResources": ["proj/*:env/production:flag/*"], "actions": ["*"]}],
     "updateOn", STAGING_FLAG, {}, True),
    ("notResources includes other shapes",
     [{"effect": "allow", "notResources": ["proj/*:env/production:flag/*"], "actions": ["*"]}],
     "updateName", "proj/checkout:env/production", {}, True),
    ("notResources with a tag", [{"effect": "allow", "notResources": ["proj/*:env/*:flag/*;tag1"], "actions": ["*"]}],
     "updateOn", PROD_FLAG, {"tags": {"flag": ["tag1"]}}, False),
    ("deny notResources",
     [allow("proj/*:env/*:flag/*"),
      {"effect": "deny", "notResources": ["proj/checkout:env/*:flag/*"], "actions": ["*"]}],
     "updateOn", "proj/search:env/production:flag/x", {}, False),
    # LaunchDarkly's "all flags except those tagged tag1 or tag2" as two statements allows a
    # flag with one of the tags (each statement allows what the other excludes) ...
    ("two notResources statements: one tag", [
        {"effect": "allow", "notResources": ["proj/*:env/*:flag/*;tag1"], "actions": ["*"]},
        {"effect": "allow", "notResources": ["proj/*:env/*:flag/*;tag2"], "actions": ["*"]},
    ], "updateOn", PROD_FLAG, {"tags": {"flag": ["tag2"]}}, True),
    ("two notResources statements: both tags", [
        {"effect": "allow", "notResources": ["proj/*:env/*:flag/*;tag1"], "actions": ["*"]},
        {"effect": "allow", "notResources": ["proj/*:env/*:flag/*;tag2"], "actions": ["*"]},
    ], "updateOn", PROD_FLAG, {"tags": {"flag": ["tag1", "tag2"]}}, False),
    # ... while one statement listing both excludes either.
    ("one notResources statement, two specifiers", [
        {"effect": "allow", "notResources": ["proj/*:env/*:flag/*;tag1", "proj/*:env/*:flag/*;tag2"], "actions": ["*"]},
    ], "updateOn", PROD_FLAG, {"tags": {"flag": ["tag2"]}}, False),
    # notActions.
    ("notActions allows the rest", [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"],
                                     "notActions": ["deleteFlag"]}], "updateOn", PROD_FLAG, {}, True),
    ("notActions excludes", [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "notActions": ["delete*"]}],
     "deleteFlag", PROD_FLAG, {}, False),
    ("notActions on a deny", [allow("proj/*:env/*:flag/*"),
                              {"effect": "deny", "resources": ["proj/*:env/*:flag/*"], "notActions": ["updateOn"]}],
     "updateRules", PROD_FLAG, {}, False),
    ("notActions * matches nothing", [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "notActions": ["*"]}],
     "updateOn", PROD_FLAG, {}, False),
    # Shape: a specifier matches only resources with the same sequence of types.
    ("shape: project is not its environment", [allow("proj/x")], "updateName", "proj/x:env/y", {}, False),
    ("shape: environment is not a flag", [allow("proj/*:env/*")], "updateOn", PROD_FLAG, {}, False),
    ("shape: flag is not an environment", [allow("proj/*:env/*:flag/*")], "updateName", "proj/x:env/y", {}, False),
    ("shape: segment is not a flag", [allow("proj/*:env/*:flag/*")], "updateRules", "proj/x:env/y:segment/s", {},
     False),
    ("shape: same shape", [allow("proj/x")], "updateProjectName", "proj/x", {}, True),
    ("shape: both listed", [allow("proj/*:env/*", "proj/*:env/*:flag/*")], "updateName", "proj/x:env/y", {}, True),
    # Case sensitivity, of keys and types.
    ("case: key", [allow("proj/*:env/production:flag/*")], "updateOn", "proj/x:env/Production:flag/f", {}, False),
    ("case: type", [allow("proj/*:env/*:flag/*")], "updateOn", "proj/x:env/y:Flag/f", {}, False),
    ("case: action", [allow("proj/*:env/*:flag/*", actions=("updateOn",))], "updateon", PROD_FLAG, {}, False),
    # The all-environments key "~" is an ordinary key.
    ("~ matched by env/*", [allow("proj/*:env/*:flag/*")], "updateName", "proj/checkout:env/~:flag/f", {}, True),
    ("~ not matched by env/production", [allow("proj/*:env/production:flag/*")],
     "updateName", "proj/checkout:env/~:flag/f", {}, False),
    ("~ matched by env/~", [allow("proj/*:env/~:flag/*")], "updateName", "proj/checkout:env/~:flag/f", {}, True),
    # Bare types: "acct" means acct/*, and acct/* matches the bare resource.
    ("bare acct", [allow("acct")], "updateRequireMfa", "acct", {}, True),
    ("acct/* matches bare acct", [allow("acct/*")], "updateRequireMfa", "acct", {}, True),
    ("member token", [allow("member/*:token/*")], "createAccessToken", "member/abc:token/t1", {}, True),
    # Nothing matching means denied.
    ("nothing matches", [allow("proj/other:env/*:flag/*")], "updateOn", PROD_FLAG, {}, False),
]


@pytest.mark.parametrize(
    ("policy", "action", "resource", "context", "allowed"),
    [case[1:] for case in DOCUMENTED_CASES],
    ids=[case[0] for case in DOCUMENTED_CASES],
)
def test_documented_examples(policy: list[dict[str, Any]], action: str, resource: str,
                             context: dict[str, Any], allowed: bool) -> None:
    assert decide(policy, action, resource, **context).allowed is allowed


# --- Decisions and their explanations ----------------------------------------------------------

def test_allowed_reason_names_statement_specifier_and_access() -> None:
    decision = decide(DYNATRACE_DEFAULT, "updateOn", PROD_FLAG)
    assert decision == PolicyDecision(
        allowed=True,
        reason=f"allowed by statement 0 (allow proj/*:env/production:flag/*) for updateOn on {PROD_FLAG}",
        statement=0,
    )


def test_denied_reason_lists_what_the_policy_allows() -> None:
    decision = decide(DYNATRACE_DEFAULT, "updateRules", STAGING_FLAG)
    assert decision == PolicyDecision(
        allowed=False,
        reason=f"denied: no statement allows updateRules on {STAGING_FLAG} "
        "(statement 0 allows proj/*:env/production:flag/* actions *)",
        statement=None,
    )


def test_deny_reason_names_the_deny() -> None:
    policy = [allow("proj/*:env/*:flag/*"), allow("proj/x:env/*:flag/*"), deny("proj/*:env/*:flag/ops_*")]
    decision = decide(policy, "updateOn", "proj/x:env/y:flag/ops_kill")
    assert decision == PolicyDecision(
        allowed=False,
        reason="denied by statement 2 (deny proj/*:env/*:flag/ops_*) for updateOn on proj/x:env/y:flag/ops_kill",
        statement=2,
    )


def test_reason_names_the_specifier_that_matched() -> None:
    decision = decide([allow("proj/a:env/*:flag/*", "proj/b:env/*:flag/*")], "updateOn", "proj/b:env/y:flag/f")
    assert decision.reason == "allowed by statement 0 (allow proj/b:env/*:flag/*) for updateOn on proj/b:env/y:flag/f"


def test_not_resources_reason() -> None:
    policy = [{"effect": "allow", "notResources": ["proj/*:env/test:flag/*"], "actions": ["*"]}]
    assert decide(policy, "updateOn", PROD_FLAG).reason == (
        f"allowed by statement 0 (allow all but proj/*:env/test:flag/*) for updateOn on {PROD_FLAG}"
    )


def test_lowest_index_statement_is_reported() -> None:
    policy = [
        allow("proj/*:env/staging:flag/*"),
        {"effect": "allow", "resources": ["proj/*:env/*:flag/*;frontend"], "actions": ["*"]},
        allow("proj/*:env/*:flag/*"),
        deny("proj/*:env/*:flag/*", actions=("delete*",)),
        {"effect": "deny", "notResources": ["proj/*:env/production:flag/*"], "actions": ["deleteFlag"]},
    ]
    compiled = compile_policy(policy)
    assert compiled.evaluate([Access("updateOn", PROD_FLAG)], tags={"flag": ["frontend"]}).statement == 1
    assert compiled.evaluate([Access("updateOn", PROD_FLAG)]).statement == 2
    assert compiled.evaluate([Access("deleteFlag", STAGING_FLAG)]).statement == 3


def test_empty_policy_denies_everything() -> None:
    decision = compile_policy([]).evaluate([Access("updateOn", PROD_FLAG)])
    assert decision == PolicyDecision(False, "denied: the policy has no statements", None)


def test_event_without_accesses_is_denied() -> None:
    decision = compile_policy(DYNATRACE_DEFAULT).evaluate([])
    assert decision == PolicyDecision(False, "denied: the event has no accesses to check", None)


def test_policy_of_only_denies_says_so() -> None:
    decision = decide([deny("proj/*:env/test:flag/*")], "updateOn", PROD_FLAG)
    assert decision.reason == (
        f"denied: no statement allows updateOn on {PROD_FLAG} (the policy has only deny statements)"
    )


def test_denied_reason_is_bounded() -> None:
    policy = [allow(f"proj/p{number}:env/*:flag/*") for number in range(50)]
    accesses = [Access("updateOn", f"proj/x:env/y:flag/{'f' * 5000}{number}") for number in range(20)]
    decision = compile_policy(policy).evaluate(accesses)
    assert not decision.allowed
    assert "and 47 more allow statements" in decision.reason
    assert "and 17 more accesses" in decision.reason
    assert len(decision.reason) < 1200


def test_multi_access_event_any_allow_suffices() -> None:
    accesses = [Access("updateOn", STAGING_FLAG), Access("updateOn", PROD_FLAG)]
    decision = compile_policy(DYNATRACE_DEFAULT).evaluate(accesses)
    assert decision.allowed and decision.statement == 0
    assert decision.reason.endswith(f"for updateOn on {PROD_FLAG}")


def test_multi_access_event_any_deny_wins() -> None:
    policy = [allow("proj/*:env/*:flag/*"), deny("proj/*:env/production:flag/*")]
    accesses = [Access("updateOn", STAGING_FLAG), Access("updateOn", PROD_FLAG)]
    decision = compile_policy(policy).evaluate(accesses)
    assert decision == PolicyDecision(
        False, f"denied by statement 1 (deny proj/*:env/production:flag/*) for updateOn on {PROD_FLAG}", 1
    )


def test_denied_reason_lists_several_accesses() -> None:
    accesses = [Access("updateRules", STAGING_FLAG), Access("updateName", "proj/checkout:env/test")]
    decision = compile_policy(DYNATRACE_DEFAULT).evaluate(accesses)
    assert decision.reason == (
        f"denied: no statement allows updateRules on {STAGING_FLAG}; updateName on proj/checkout:env/test "
        "(statement 0 allows proj/*:env/production:flag/* actions *)"
    )


def test_accesses_are_duck_typed() -> None:
    CoreAccess = namedtuple("CoreAccess", ["action", "resource"])
    assert compile_policy(DYNATRACE_DEFAULT).evaluate([CoreAccess("updateOn", PROD_FLAG)]).allowed


@pytest.mark.parametrize(
    "resource",
    [
        "",
        ":",
        "proj/x::flag/y",
        "proj/x:env/y:",
        ":proj/x",
        "proj/",
        "/x",
        "proj/x/y:env/z:flag/f",
        "proj/x:env/y:flag/a b",
        "proj/x;:env/y:flag/f",
        "proj/x;a,,b:env/y:flag/f",
        "proj/x;a;b:env/y:flag/f",
        "proj/x:env/{y}:flag/f",
        "proj/x:env/y:flag/f\n",
        "proj/x:env/y:flag/f\x00updateOn",
    ],
)
def test_malformed_access_resources_match_nothing(resource: str) -> None:
    policy = compile_policy([
        allow("proj/*:env/*:flag/*"),
        {"effect": "allow", "notResources": ["proj/nothing"], "actions": ["*"]},
    ])
    decision = policy.evaluate([Access("updateOn", resource)])
    assert not decision.allowed
    assert "(not a valid resource string)" in decision.reason


@pytest.mark.parametrize(
    ("action", "resource", "why"),
    [
        (None, PROD_FLAG, "not a valid action"),
        (3, PROD_FLAG, "not a valid action"),
        ("updateOn\x00", PROD_FLAG, "not a valid action"),
        ("updateOn", None, "not a valid resource string"),
        ("updateOn", ["proj/x"], "not a valid resource string"),
    ],
)
def test_invalid_accesses_match_nothing(action: Any, resource: Any, why: str) -> None:
    CoreAccess = namedtuple("CoreAccess", ["action", "resource"])
    policy = compile_policy([allow("proj/*:env/*:flag/*"), {"effect": "allow", "notResources": ["acct"],
                                                           "notActions": ["x"]}])
    decision = policy.evaluate([CoreAccess(action, resource)])
    assert not decision.allowed and decision.statement is None
    assert f"({why})" in decision.reason


def test_nul_in_action_cannot_forge_a_match() -> None:
    policy = compile_policy([allow("proj/*:env/*:flag/*", actions=("updateOn",))])
    assert not policy.evaluate([Access("updateOn\x00x", PROD_FLAG)]).allowed
    assert not policy.evaluate([Access("x", f"{PROD_FLAG}\x00updateOn")]).allowed


def test_many_wildcards_still_match_in_linear_time() -> None:
    stars = "*a" * 25 + "*b"
    policy = compile_policy([
        {"effect": "allow", "resources": [f"proj/*:env/*;{stars}:flag/{stars}"], "actions": [stars]},
        {"effect": "allow", "notResources": [f"proj/*:env/*:flag/{stars}"], "actions": ["x"]},
    ])
    started = time.perf_counter()
    decision = policy.evaluate([Access("a" * 3000, "proj/x:env/y:flag/" + "a" * 3000)], tags={"env": ["a" * 3000]})
    assert not decision.allowed
    assert time.perf_counter() - started < 1.0


def test_tags_written_into_the_resource_count() -> None:
    policy = compile_policy([allow("proj/*;mobile:env/*:flag/*;beta,web")])
    resource = "proj/app;mobile,ios:env/production:flag/f;beta"
    assert not policy.evaluate([Access("updateOn", resource)]).allowed
    assert policy.evaluate([Access("updateOn", resource)], tags={"flag": ["web"]}).allowed
    assert policy.evaluate([Access("updateOn", resource)], tags={"flag": "web"}).allowed
    assert compile_policy([allow("proj/app:env/*:flag/f")]).evaluate([Access("updateOn", resource)]).allowed


def test_tags_given_as_a_single_string_are_one_tag() -> None:
    policy = compile_policy([allow("proj/*:env/*:flag/*;front")])
    assert not policy.evaluate([Access("updateOn", PROD_FLAG)], tags={"flag": "frontend"}).allowed
    assert policy.evaluate([Access("updateOn", PROD_FLAG)], tags={"flag": "front"}).allowed


# --- The compiled policy -----------------------------------------------------------------------

def test_statements_echo_a_copy_of_the_input() -> None:
    raw = [allow("proj/*:env/*:flag/*"), deny("proj/*:env/production:flag/*", actions=("delete*",))]
    policy = compile_policy(raw)
    assert isinstance(policy, CompiledPolicy)
    assert policy.statements == raw
    raw[0]["resources"].append("proj/x")
    assert policy.statements[0]["resources"] == ["proj/*:env/*:flag/*"]


@pytest.mark.parametrize(
    ("statement", "description"),
    [
        (DYNATRACE_DEFAULT[0], "allows proj/*:env/production:flag/* actions *"),
        (deny("proj/*:env/*:flag/ops_*"), "denies proj/*:env/*:flag/ops_* actions *"),
        ({"effect": "allow", "notResources": ["proj/a", "proj/b"], "notActions": ["deleteFlag"]},
         "allows all but proj/a, proj/b actions all but deleteFlag"),
        (allow("proj/a", "proj/b", "proj/c", "proj/d", "proj/e", actions=("a", "b", "c", "d")),
         "allows proj/a, proj/b, proj/c and 2 more actions a, b, c and 1 more"),
    ],
)
def test_describe(statement: dict[str, Any], description: str) -> None:
    assert compile_policy([allow("proj/*"), statement]).describe(1) == description


# --- Validation --------------------------------------------------------------------------------

KNOWN = ", ".join(sorted(KNOWN_RESOURCE_TYPES))

VALIDATION_CASES = [
    ("not a list", {"effect": "allow"}, {"policy": "must be a list of statements, got object"}),
    ("null", None, {"policy": "must be a list of statements, got null"}),
    ("statement not an object", ["allow"], {
        "policy[0]": "must be an object with effect, resources or notResources, actions or notActions; got string"}),
    ("unknown resource type", [allow("proj/*"), allow("flg/*")], {
        "policy[1].resources[0]": f'unknown resource type "flg" (known: {KNOWN})'}),
    ("unknown nested type", [allow("proj/*:env/*:flg/*")], {
        "policy[0].resources[0]": f'unknown resource type "flg" (known: {KNOWN})'}),
    ("missing effect", [{"resources": ["proj/*"], "actions": ["*"]}], {
        "policy[0].effect": 'missing; must be "allow" or "deny"'}),
    ("bad effect", [{"effect": "Allow", "resources": ["proj/*"], "actions": ["*"]}], {
        "policy[0].effect": 'must be "allow" or "deny", got "Allow"'}),
    ("effect not a string", [{"effect": True, "resources": ["proj/*"], "actions": ["*"]}], {
        "policy[0].effect": 'must be "allow" or "deny", got boolean'}),
    ("unknown key", [{"effect": "allow", "resources": ["proj/*"], "actions": ["*"], "condition": {}}], {
        "policy[0].condition": "unknown key (allowed: effect, resources, notResources, actions, notActions)"}),
    ("both resources and notResources",
     [{"effect": "allow", "resources": ["proj/*"], "notResources": ["proj/x"], "actions": ["*"]}], {
         "policy[0].resources": 'give "resources" or "notResources", not both'}),
    ("neither resources nor notResources", [{"effect": "allow", "actions": ["*"]}], {
        "policy[0].resources": 'missing; give "resources" or "notResources"'}),
    ("both actions and notActions",
     [{"effect": "allow", "resources": ["proj/*"], "actions": ["*"], "notActions": ["x"]}], {
         "policy[0].actions": 'give "actions" or "notActions", not both'}),
    ("no actions", [{"effect": "deny", "resources": ["proj/*"]}], {
        "policy[0].actions": 'missing; give "actions" or "notActions"'}),
    ("empty resources", [{"effect": "allow", "resources": [], "actions": ["*"]}], {
        "policy[0].resources": "must not be empty"}),
    ("empty notActions", [{"effect": "allow", "resources": ["proj/*"], "notActions": []}], {
        "policy[0].notActions": "must not be empty"}),
    ("resources not a list", [{"effect": "allow", "resources": "proj/*", "actions": ["*"]}], {
        "policy[0].resources": "must be a list of strings, got string"}),
    ("non-string entries", [{"effect": "allow", "resources": ["proj/*", 7], "actions": [None]}], {
        "policy[0].resources[1]": "must be a string, got number",
        "policy[0].actions[0]": "must be a string, got null"}),
    ("empty action", [allow("proj/*", actions=("",))], {"policy[0].actions[0]": "must not be empty"}),
    ("bad action", [allow("proj/*", actions=("update On",))], {
        "policy[0].actions[0]": 'invalid action "update On": use only letters, digits and "*"'}),
    ("action with a colon", [allow("proj/*", actions=("flag:updateOn",))], {
        "policy[0].actions[0]": 'invalid action "flag:updateOn": use only letters, digits and "*"'}),
    ("empty specifier", [allow("")], {"policy[0].resources[0]": "must not be empty"}),
    ("whitespace", [allow("proj/* ")], {"policy[0].resources[0]": "must not contain whitespace or control characters"}),
    ("empty scope", [allow("proj/*::flag/*")], {
        "policy[0].resources[0]": 'scope 2 is empty (look for "::" or a ":" at either end)'}),
    ("trailing colon", [allow("proj/*:")], {
        "policy[0].resources[0]": 'scope 2 is empty (look for "::" or a ":" at either end)'}),
    ("empty key", [allow("proj/")], {
        "policy[0].resources[0]": '"proj/" has an empty key; use "proj/*" for every proj'}),
    ("slash in key", [allow("proj/*/env/production")], {
        "policy[0].resources[0]":
            'key "*/env/production" of "proj" contains "/"; separate scopes with ":", as in "proj/*:env/*"'}),
    ("leading slash (a typo in some LaunchDarkly examples)", [allow("proj/*:env/*;qa_*:/flag/*")], {
        "policy[0].resources[0]": 'scope "/flag/*" starts with "/"; write it as "flag/*"'}),
    ("no type", [allow("proj/*:;x")], {"policy[0].resources[0]": 'scope ";x" has no resource type'}),
    ("bad tag", [allow("proj/*:env/*:flag/*;a/b")], {
        "policy[0].resources[0]": 'bad tag "a/b": tags may contain only letters, digits, ".", "_", "-" and "*"'}),
    ("empty tag", [allow("proj/*:env/*:flag/*;a,,b")], {"policy[0].resources[0]": 'empty tag in "a,,b"'}),
    ("empty tag list", [allow("proj/*:env/*:flag/*;")], {
        "policy[0].resources[0]": 'nothing after ";" in "flag/*;"; list tags or remove the ";"'}),
    ("selector without value", [allow("proj/*:env/*;{critical}:flag/*")], {
        "policy[0].resources[0]": 'bad property selector "{critical}": write {property:value}, as in {critical:true}'}),
    ("selector with empty value", [allow("proj/*:env/*;{critical:}:flag/*")], {
        "policy[0].resources[0]":
            'bad property selector "{critical:}": write {property:value}, as in {critical:true}'}),
    ("unclosed brace", [allow("proj/*:env/*;{critical:true")], {
        "policy[0].resources[0]": '"{" without a matching "}"'}),
    ("unopened brace", [allow("proj/*:env/*;critical:true}")], {
        "policy[0].resources[0]": '"}" without a matching "{"'}),
    ("nested braces", [allow("proj/*:env/*;{a:{b}}")], {
        "policy[0].resources[0]": 'nested "{" in a property selector'}),
    ("braces before the semicolon", [allow("proj/*:env/{critical:true}")], {
        "policy[0].resources[0]":
            'braces in "env/{critical:true}": property selectors go after ";", as in "env/*;{critical:true}"'}),
    ("brace glued to a tag", [allow("proj/*:env/*;x{critical:true}")], {
        "policy[0].resources[0]":
            'bad property selector "x{critical:true}": write {property:value}, as in {critical:true}'}),
    ("role attribute", [allow("proj/${roleAttribute/projects}:env/*:flag/*")], {
        "policy[0].resources[0]": 'role attributes ("${...}") are not supported; name the resources explicitly'}),
    ("flag at the top", [deny("flag/ops_*")], {
        "policy[0].resources[0]":
            '"flag" cannot be the outermost scope: it belongs inside "env", e.g. "proj/*:env/*:flag/*"'}),
    ("flag without environment", [allow("proj/*:flag/*")], {
        "policy[0].resources[0]":
            '"flag" cannot be nested in "proj": it belongs inside "env", e.g. "proj/*:env/*:flag/*"'}),
    ("env at the top", [allow("env/production")], {
        "policy[0].resources[0]":
            '"env" cannot be the outermost scope: it belongs inside "proj", e.g. "proj/*:env/*"'}),
    ("top-level type nested", [allow("member/*:proj/*")], {
        "policy[0].resources[0]": '"proj" cannot be nested in "member": it is a top-level resource, e.g. "proj/*"'}),
    ("every problem is reported", [
        {"effect": "maybe", "resources": ["flg/*", "proj/*"], "actions": ["*", ""], "extra": 1},
        allow("proj/*"),
        {"effect": "deny"},
    ], {
        "policy[0].extra": "unknown key (allowed: effect, resources, notResources, actions, notActions)",
        "policy[0].effect": 'must be "allow" or "deny", got "maybe"',
        "policy[0].resources[0]": f'unknown resource type "flg" (known: {KNOWN})',
        "policy[0].actions[1]": "must not be empty",
        "policy[2].resources": 'missing; give "resources" or "notResources"',
        "policy[2].actions": 'missing; give "actions" or "notActions"',
    }),
]


@pytest.mark.parametrize(
    ("raw", "errors"), [case[1:] for case in VALIDATION_CASES], ids=[case[0] for case in VALIDATION_CASES]
)
def test_validation_errors(raw: Any, errors: dict[str, str]) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policy(raw)
    assert caught.value.errors == errors
    assert str(caught.value) == "; ".join(f"{path}: {message}" for path, message in errors.items())
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "specifier",
    [
        "acct",
        "proj/*:env/*:flag/*",
        "proj/*:env/*:segment/*",
        "proj/*:env/*:experiment/*",
        "proj/*:experiment/*",
        "proj/*:env/*:holdout/*",
        "proj/*:env/*:destination/*",
        "proj/*:metric/*",
        "proj/*:metric-group/*",
        "proj/*:layer/*",
        "proj/*:context-kind/*",
        "proj/*:release-pipeline/*",
        "release-pipeline/*",
        "proj/*:aiconfig/*",
        "proj/*:env/*:aiconfig/*",
        "proj/*:ai-config/*",
        "member/*:token/*",
        "application/*",
        "code-reference-repository/*",
        "domain-verification/*",
        "integration/*",
        "pending-request/*",
        "relay-proxy-config/*",
        "role/*",
        "service-token/*",
        "team/*",
        "webhook/*",
        "proj/*;mobile,beta:env/*;qa_*,{critical:true}:flag/*;x.y_z-1",
        "proj/checkout:env/~:flag/new-checkout-flow",
    ],
)
def test_valid_specifiers(specifier: str) -> None:
    compile_policy([allow(specifier)])


def test_known_resource_types_cover_launchdarkly() -> None:
    assert {
        "proj", "env", "flag", "segment", "metric", "metric-group", "experiment", "holdout", "release-pipeline",
        "layer", "ai-config", "context-kind", "destination", "member", "role", "team", "webhook", "integration",
        "service-token", "pending-request", "relay-proxy-config", "code-reference-repository", "application",
        "domain-verification", "acct",
    } <= KNOWN_RESOURCE_TYPES


# --- The LaunchDarkly fixtures -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("fixture", "allowed"),
    [
        ("flag-turned-on-production", True),
        ("flag-rules-updated-staging", False),
        ("flag-without-custom-properties", True),
        ("environment-renamed", False),
    ],
)
def test_dynatrace_default_policy_on_fixtures(fixture: str, allowed: bool) -> None:
    accesses, tags = load_fixture(fixture)
    assert compile_policy(DYNATRACE_DEFAULT).evaluate(accesses, tags=tags).allowed is allowed


def test_fixture_rules_update_explains_itself() -> None:
    accesses, tags = load_fixture("flag-rules-updated-staging")
    decision = compile_policy(DYNATRACE_DEFAULT).evaluate(accesses, tags=tags)
    assert decision.reason == (
        "denied: no statement allows updateRules on proj/checkout:env/staging:flag/new-checkout-flow "
        "(statement 0 allows proj/*:env/production:flag/* actions *)"
    )


def test_fixture_tags_select_flags() -> None:
    policy = compile_policy([allow("proj/*:env/*:flag/*;frontend")])
    results = {name: policy.evaluate(*load_fixture(name)).allowed for name in FIXTURE_NAMES}
    assert results == {
        "flag-turned-on-production": True,
        "flag-rules-updated-staging": True,
        "flag-without-custom-properties": False,
        "environment-renamed": False,
    }


def test_critical_selector_with_attributes_on_fixtures() -> None:
    policy = compile_policy([allow("proj/*:env/*;{critical:true}:flag/*")])
    allowed = set()
    for name in FIXTURE_NAMES:
        accesses, tags = load_fixture(name)
        critical = all(":env/production" in access.resource for access in accesses)
        if policy.evaluate(accesses, tags=tags, attributes={"env": {"critical": critical}}).allowed:
            allowed.add(name)
    assert allowed == {"flag-turned-on-production", "flag-without-custom-properties"}


# --- docs/policies.md --------------------------------------------------------------------------

def documented_examples() -> list[tuple[str, list[Any], dict[str, tuple[bool, int | None]]]]:
    """Each "### Example" of docs/policies.md: its title, policy and per-fixture outcome table."""
    text = (REPO / "docs" / "policies.md").read_text()
    examples = []
    for section in re.split(r"^### ", text, flags=re.MULTILINE)[1:]:
        if not section.startswith("Example"):
            continue
        title = section.splitlines()[0]
        policy = json.loads(re.search(r"```json\n(.*?)```", section, re.DOTALL).group(1))  # type: ignore[union-attr]
        rows = re.findall(r"^\| `([a-z-]+)` \| (allowed|denied)(?: by statement (\d+))?", section, re.MULTILINE)
        outcomes = {name: (verdict == "allowed", int(index) if index else None) for name, verdict, index in rows}
        examples.append((title, policy, outcomes))
    return examples


def test_docs_have_the_promised_examples() -> None:
    titles = [title for title, _, outcomes in documented_examples() if set(outcomes) == set(FIXTURE_NAMES)]
    for topic in ("Dynatrace default", "one project", "a set of flags", "a set of actions", "deny overrides",
                  "tags", "notResources", "notActions", "property selector"):
        assert any(topic in title for title in titles), topic


@pytest.mark.parametrize(("title", "policy", "outcomes"), documented_examples(),
                         ids=[example[0] for example in documented_examples()])
def test_docs_examples_match_the_engine(
    title: str, policy: list[Any], outcomes: dict[str, tuple[bool, int | None]]
) -> None:
    compiled = compile_policy(policy)
    for name, (allowed, statement) in outcomes.items():
        decision = compiled.evaluate(*load_fixture(name))
        assert decision.allowed is allowed, (name, decision.reason)
        if statement is not None:
            assert decision.statement == statement, (name, decision.reason)


def test_docs_validation_example() -> None:
    text = (REPO / "docs" / "policies.md").read_text()
    section = text.split("## Validation errors", 1)[1]
    raw = json.loads(re.search(r"```json\n(.*?)```", section, re.DOTALL).group(1))  # type: ignore[union-attr]
    with pytest.raises(PolicyError) as caught:
        compile_policy(raw)
    for path, message in re.findall(r"^\| `(policy[^`]*)` \| (.*?) \|$", section, re.MULTILINE):
        assert caught.value.errors[path].startswith(message.removesuffix("...)").removesuffix(", "))

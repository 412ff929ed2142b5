"""Properties of the policy engine, checked with hypothesis.

Deny wins whatever the order; order never changes the outcome; ``notResources`` and
``notActions`` are complements; the engine agrees with a direct reading of the rules; and no
input, however odd, raises anything but :class:`PolicyError` (or, for events, anything at all).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy import Access, PolicyDecision, PolicyError, compile_policy

SHAPES = [("proj",), ("proj", "env"), ("proj", "env", "flag"), ("proj", "env", "segment"), ("member", "token")]
KEYS = ["a", "b", "ab", "production", "~", "x-1"]
KEY_PATTERNS = ["*", "a", "b", "a*", "*b", "production", "~", "x-*", "*-*"]
TAGS = ["t1", "t2", "t3"]
MODIFIERS = ["t1", "t2", "t*", "{critical:true}"]
ACTIONS = ["updateOn", "updateRules", "createFlag", "deleteFlag"]
ACTION_PATTERNS = ["*", "update*", "updateOn", "createFlag", "*Flag"]


@st.composite
def specifiers(draw: st.DrawFn) -> str:
    scopes = []
    for resource_type in draw(st.sampled_from(SHAPES)):
        scope = f"{resource_type}/{draw(st.sampled_from(KEY_PATTERNS))}"
        modifiers = draw(st.lists(st.sampled_from(MODIFIERS), max_size=2, unique=True))
        scopes.append(scope + (";" + ",".join(modifiers) if modifiers else ""))
    return ":".join(scopes)


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    return {
        "effect": effect or draw(st.sampled_from(["allow", "deny"])),
        draw(st.sampled_from(["resources", "notResources"])): draw(st.lists(specifiers(), min_size=1, max_size=3)),
        draw(st.sampled_from(["actions", "notActions"])): draw(
            st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=2)
        ),
    }


@st.composite
def resources(draw: st.DrawFn) -> str:
    """A well-formed resource string; now and then a scope carries tags of its own (``proj/a;t1``)."""
    scopes = []
    for scope_type in draw(st.sampled_from(SHAPES)):
        inline = draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True) | st.just([]))
        scopes.append(f"{scope_type}/{draw(st.sampled_from(KEYS))}" + (";" + ",".join(inline) if inline else ""))
    return ":".join(scopes)


accesses = st.builds(Access, st.sampled_from(ACTIONS), resources())
events = st.lists(accesses, min_size=1, max_size=3)
tag_maps = st.dictionaries(st.sampled_from(["proj", "env", "flag"]), st.lists(st.sampled_from(TAGS), unique=True))
attribute_maps = st.fixed_dictionaries({"env": st.fixed_dictionaries({"critical": st.booleans()})}) | st.just({})
policies = st.lists(statements(), max_size=8)


@given(policies, events, tag_maps, attribute_maps, st.data())
def test_a_matching_deny_wins_wherever_it_is(policy: list[dict[str, Any]], event: list[Access],
                                            tags: dict[str, list[str]], attributes: dict[str, Any],
                                            data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(event))
    deny = {"effect": "deny", "resources": [target.resource], "actions": [target.action]}
    shuffled = data.draw(st.permutations([*policy, deny]))
    decision = compile_policy(shuffled).evaluate(event, tags=tags, attributes=attributes)
    assert not decision.allowed
    assert decision.statement is not None and shuffled[decision.statement]["effect"] == "deny"


@given(policies, events, tag_maps, attribute_maps, st.data())
def test_order_never_changes_the_outcome(policy: list[dict[str, Any]], event: list[Access],
                                         tags: dict[str, list[str]], attributes: dict[str, Any],
                                         data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(policy))
    original = compile_policy(policy).evaluate(event, tags=tags, attributes=attributes)
    assert compile_policy(shuffled).evaluate(event, tags=tags, attributes=attributes).allowed is original.allowed


@given(st.lists(specifiers(), min_size=1, max_size=3), accesses, tag_maps, attribute_maps)
def test_not_resources_is_the_complement_of_resources(listed: list[str], access: Access,
                                                      tags: dict[str, list[str]], attributes: dict[str, Any]) -> None:
    def allowed(key: str) -> bool:
        policy = compile_policy([{"effect": "allow", key: listed, "actions": ["*"]}])
        return policy.evaluate([access], tags=tags, attributes=attributes).allowed

    assert allowed("notResources") is not allowed("resources")


@given(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3), st.sampled_from(ACTIONS), resources())
def test_not_actions_is_the_complement_of_actions(listed: list[str], action: str, resource: str) -> None:
    def allowed(key: str) -> bool:
        policy = compile_policy([{"effect": "allow", "resources": [re.sub(r"/[^:]*", "/*", resource)], key: listed}])
        return policy.evaluate([Access(action, resource)]).allowed

    assert allowed("notActions") is not allowed("actions")


globs = st.text(alphabet="ab*", min_size=1, max_size=8)
glob_subjects = st.text(alphabet="ab", max_size=12)


@given(globs, glob_subjects)
def test_key_globs_match_like_fnmatch(pattern: str, key: str) -> None:
    policy = compile_policy([{"effect": "allow", "resources": [f"proj/{pattern}:env/*"], "actions": ["*"]}])
    resource = f"proj/{key}:env/e" if key else "proj:env/e"
    assert policy.evaluate([Access("updateOn", resource)]).allowed is fnmatch.fnmatchcase(key, pattern)


@given(globs, glob_subjects)
def test_action_globs_match_like_fnmatch(pattern: str, action: str) -> None:
    policy = compile_policy([{"effect": "allow", "resources": ["proj/*"], "actions": [pattern]}])
    assert policy.evaluate([Access(action, "proj/p")]).allowed is fnmatch.fnmatchcase(action, pattern)


@given(globs, st.lists(glob_subjects, max_size=3))
def test_tag_globs_match_like_fnmatch(pattern: str, tags: list[str]) -> None:
    policy = compile_policy([{"effect": "allow", "resources": [f"proj/*;{pattern}"], "actions": ["*"]}])
    expected = any(fnmatch.fnmatchcase(tag, pattern) for tag in tags)
    assert policy.evaluate([Access("updateOn", "proj/p")], tags={"proj": tags}).allowed is expected


# --- A direct reading of the rules, to check the compiled engine against ----------------------

def _scope_matches(pattern: str, resource_scope: str, tags: dict[str, list[str]], attributes: dict[str, Any]) -> bool:
    head, _, modifiers = pattern.partition(";")
    resource_head, _, inline = resource_scope.partition(";")
    resource_type, _, key = resource_head.partition("/")
    pattern_type, _, key_pattern = head.partition("/")
    if pattern_type != resource_type or not fnmatch.fnmatchcase(key, key_pattern):
        return False
    carried_tags = [*tags.get(resource_type, []), *filter(None, inline.split(","))]
    for modifier in filter(None, modifiers.split(",")):
        if modifier.startswith("{"):
            name, _, value = modifier.strip("{}").partition(":")
            carried = attributes.get(resource_type, {})
            if name not in carried or str(carried[name]).lower() != value:
                return False
        elif not any(fnmatch.fnmatchcase(tag, modifier) for tag in carried_tags):
            return False
    return True


def _specifier_matches(specifier: str, resource: str, tags: dict[str, list[str]], attributes: dict[str, Any]) -> bool:
    patterns = re.split(r":(?![^{]*\})", specifier)
    scopes = resource.split(":")
    return len(patterns) == len(scopes) and all(
        _scope_matches(pattern, scope, tags, attributes) for pattern, scope in zip(patterns, scopes, strict=True)
    )


def _statement_matches(statement: dict[str, Any], access: Access, tags: dict[str, list[str]],
                       attributes: dict[str, Any]) -> bool:
    negate_resources = "notResources" in statement
    listed = statement["notResources" if negate_resources else "resources"]
    resource_hit = any(_specifier_matches(spec, access.resource, tags, attributes) for spec in listed)
    negate_actions = "notActions" in statement
    actions = statement["notActions" if negate_actions else "actions"]
    action_hit = any(fnmatch.fnmatchcase(access.action, pattern) for pattern in actions)
    return resource_hit != negate_resources and action_hit != negate_actions


def _reference(policy: list[dict[str, Any]], event: list[Access], tags: dict[str, list[str]],
               attributes: dict[str, Any]) -> tuple[bool, int | None]:
    """(allowed, deciding statement): the lowest-index deny for the first access a deny matches,
    else the lowest-index allow for the first access an allow matches."""
    first_allow = None
    for access in event:
        matching = [i for i, statement in enumerate(policy) if _statement_matches(statement, access, tags, attributes)]
        denies = [i for i in matching if policy[i]["effect"] == "deny"]
        if denies:
            return False, denies[0]
        allows = [i for i in matching if policy[i]["effect"] == "allow"]
        if first_allow is None and allows:
            first_allow = allows[0]
    return first_allow is not None, first_allow


@settings(max_examples=300)
@given(policies, events, tag_maps, attribute_maps)
def test_engine_agrees_with_a_direct_reading_of_the_rules(policy: list[dict[str, Any]], event: list[Access],
                                                         tags: dict[str, list[str]],
                                                         attributes: dict[str, Any]) -> None:
    decision = compile_policy(policy).evaluate(event, tags=tags, attributes=attributes)
    assert (decision.allowed, decision.statement) == _reference(policy, event, tags, attributes)


# --- Robustness --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
specifier_noise = st.text(alphabet="projenvflag/*:;,{}~$ acttrue-_.", max_size=40)
statement_noise = st.dictionaries(
    st.sampled_from(["effect", "resources", "notResources", "actions", "notActions", "other"]),
    st.sampled_from(["allow", "deny"]) | st.lists(specifier_noise | json_values, max_size=3) | json_values,
    max_size=5,
)


@given(json_values | st.lists(statement_noise, max_size=4) | st.text())
def test_compile_policy_raises_only_policy_error(raw: Any) -> None:
    try:
        policy = compile_policy(raw)
    except PolicyError as error:
        assert error.errors and all(isinstance(message, str) for message in error.errors.values())
        return
    policy.evaluate([Access("updateOn", "proj/a:env/b:flag/c")])


@given(st.lists(specifier_noise, min_size=1, max_size=3))
def test_specifier_noise_raises_only_policy_error(listed: list[str]) -> None:
    try:
        compile_policy([{"effect": "allow", "resources": listed, "actions": ["*"]}])
    except PolicyError as error:
        assert all(path.startswith("policy[0].resources[") for path in error.errors)


_ROBUST_POLICY = compile_policy([
    {"effect": "allow", "resources": ["proj/*:env/*:flag/*", "acct"], "actions": ["*"]},
    {"effect": "allow", "resources": ["proj/*:env/*;{critical:true}:flag/*;t*"], "actions": ["update*"]},
    {"effect": "deny", "notResources": ["proj/*:env/production:flag/*"], "notActions": ["updateOn"]},
    {"effect": "allow", "notResources": ["proj/a"], "actions": ["*"]},
])


@given(st.lists(st.builds(Access, st.text(max_size=12), st.text(max_size=60)) | st.builds(
    Access, st.sampled_from(ACTIONS), st.text(alphabet="projenvflag/*:;,{}~ \x00\n-", max_size=60)), max_size=3),
    tag_maps, attribute_maps)
def test_random_access_strings_never_raise(event: list[Access], tags: dict[str, list[str]],
                                           attributes: dict[str, Any]) -> None:
    decision = _ROBUST_POLICY.evaluate(event, tags=tags, attributes=attributes)
    assert isinstance(decision, PolicyDecision) and isinstance(decision.allowed, bool)
    assert isinstance(decision.reason, str) and decision.reason

"""Where each LaunchDarkly resource type may stand in a specifier, written out type by type: a
specifier placing it there compiles, one placing it anywhere else is refused with the usual place."""

from __future__ import annotations

import pytest

from gateway.policy import PolicyError, compile_policy

# type -> every specifier prefix it may follow ("" = the outermost scope); the first is its usual place
PLACES = {
    **{t: [""] for t in ("acct", "application", "code-reference-repository", "domain-verification", "integration",
                         "member", "pending-request", "proj", "relay-proxy-config", "role", "service-token", "team",
                         "template", "webhook")},
    **{t: ["proj/*:"] for t in ("agent-graph", "ai-model-config", "ai-tool", "context-kind", "env", "layer", "metric",
                                "metric-group", "view")},
    "ai-config": ["proj/*:", "proj/*:env/*:"],
    "aiconfig": ["proj/*:", "proj/*:env/*:"],
    "release-pipeline": ["proj/*:", ""],
    "destination": ["proj/*:env/*:"],
    "experiment": ["proj/*:env/*:", "proj/*:"],
    "flag": ["proj/*:env/*:"],
    "holdout": ["proj/*:env/*:", "proj/*:"],
    "segment": ["proj/*:env/*:"],
    "token": ["member/*:"],
}
ALL_PREFIXES = ["", "proj/*:", "proj/*:env/*:", "member/*:"]


def compiles(specifier: str) -> bool:
    try:
        compile_policy([{"effect": "allow", "resources": [specifier], "actions": ["*"]}])
    except PolicyError:
        return False
    return True


@pytest.mark.parametrize("resource_type", sorted(PLACES))
def test_each_type_stands_where_it_may_and_nowhere_else(resource_type):
    for prefix in ALL_PREFIXES:
        assert compiles(f"{prefix}{resource_type}/*") is (prefix in PLACES[resource_type]), (prefix, resource_type)


@pytest.mark.parametrize("resource_type", sorted(t for t, places in PLACES.items() if "" not in places))
def test_a_misplaced_type_is_told_its_usual_place(resource_type):
    with pytest.raises(PolicyError) as raised:
        compile_policy([{"effect": "allow", "resources": [f"{resource_type}/*"], "actions": ["*"]}])
    assert f'e.g. "{PLACES[resource_type][0]}{resource_type}/*"' in str(raised.value.errors)


@pytest.mark.parametrize("specifier, message", [
    ("experiment/*", '"experiment" cannot be the outermost scope: it belongs inside "env" or "proj", '
                     'e.g. "proj/*:env/*:experiment/*"'),
    ("proj/*:acct/*", '"acct" cannot be nested in "proj": it is a top-level resource, e.g. "acct/*"'),
    ("proj/*:token/*", '"token" cannot be nested in "proj": it belongs inside "member", e.g. "member/*:token/*"'),
])
def test_placement_messages(specifier, message):
    with pytest.raises(PolicyError) as raised:
        compile_policy([{"effect": "allow", "resources": [specifier], "actions": ["*"]}])
    assert message in str(raised.value.errors)

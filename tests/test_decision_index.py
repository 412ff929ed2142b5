"""The decision index decides each policy once, and gives every integration the decision and the
reason the engine gives it alone (gateway.decisions.decide)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from gateway.decision_index import DecisionIndex, index_for
from gateway.decisions import candidates, decide
from gateway.launchdarkly import normalize_audit_entry
from gateway.state import get_state
from gateway.store.tables import integrations

from .conftest import add_integration, fixture_bytes

POLICIES = [
    None,  # the plugin's default: every flag
    [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}],
    [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]},
     {"effect": "deny", "resources": ["proj/*:env/staging:flag/*"], "actions": ["updateRules"]}],
    [{"effect": "allow", "resources": ["proj/checkout:env/*:flag/new-*"], "actions": ["updateOn", "updateOff"]}],
    [{"effect": "allow", "notResources": ["proj/*:env/production:flag/*"], "actions": ["*"]}],
]
PAYLOADS = ["launchdarkly/flag-turned-on-production.json", "launchdarkly/flag-rules-updated-staging.json"]


def event_of(name: str):
    return normalize_audit_entry(json.loads(fixture_bytes(name)))


@pytest.fixture
def many(app, client):
    """Integrations of several plugins and policies, three of each; one whose config broke."""
    for n, policy in enumerate(POLICIES):
        for copy in range(3):
            add_integration(client, "recorder", name=f"r{n}-{copy}", config={"token": f"t{n}{copy}"}, policy=policy)
            add_integration(client, "picky", name=f"p{n}-{copy}", config={"wanted_tag": "beta" if copy else "x"},
                            policy=policy)
    add_integration(client, "exploding", name="boom", config={})
    state = get_state(app)
    broken = add_integration(client, "recorder", name="broken", config={"token": "t"})
    with state.db.engine.begin() as connection:
        connection.execute(update(integrations).where(integrations.c.id == broken["id"])
                           .values(config=json.dumps({"label": 5})))
    state.integrations.changed()
    return state


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_index_gives_every_integration_the_engines_decision(many, payload):
    state = many
    event = event_of(payload)
    enabled = state.integrations.enabled()
    expected = {i.row.id: decide(event, i, state.host) for i in candidates(event, enabled, None)}
    decided = DecisionIndex(enabled).decide(event, state.host)
    got = {d.integration.row.id: (d.queued, d.reason) for d in decided.decisions}
    for reason, group in decided.skipped_groups:
        for member in group.members:
            assert member.row.id not in got
            got[member.row.id] = (False, reason)
    assert got == {key: (d.queued, d.reason) for key, d in expected.items()}
    assert any(not d.queued for d in expected.values()) and any(d.queued for d in expected.values())


def test_each_distinct_policy_is_evaluated_once(many, monkeypatch):
    state = many
    event = event_of(PAYLOADS[1])
    calls = []
    from gateway import decision_index

    real = decision_index.policy_stage

    def counting(event, integration):
        calls.append(json.dumps(integration.row.policy))
        return real(event, integration)

    monkeypatch.setattr(decision_index, "policy_stage", counting)
    index = DecisionIndex(state.integrations.enabled())
    decided = index.decide(event, state.host)
    assert len(calls) == len(set(calls))  # one evaluation per distinct policy
    denied = [group for _, group in decided.skipped_groups]
    assert denied and all(len(group.members) == 6 for group in denied)  # 3 recorder + 3 picky share each


def test_the_index_is_kept_while_the_integrations_stay_the_same(many, client):
    state = many
    first = index_for(state.integrations, state.integrations.enabled())
    assert index_for(state.integrations, state.integrations.enabled()) is first
    add_integration(client, "recorder", name="new", config={"token": "new"})
    assert index_for(state.integrations, state.integrations.enabled()) is not first

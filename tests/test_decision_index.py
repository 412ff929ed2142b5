"""The decision index decides each policy once, and gives every integration the decision and the
reason the engine gives it alone (gateway.inbound.decisions.decide)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import update

from gateway.inbound.decision_index import DecisionIndex, first_scopes, index_for
from gateway.inbound.decisions import candidates, decide
from gateway.host.builtin.launchdarkly import normalize_audit_entry
from gateway.host.state import get_state
from gateway.store.skips import policy_reason
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
    denied = decided.denial.set
    texts = dict(denied.revisions)
    body = event.to_dict(include_raw=False)
    for (member, _), revision in zip(denied.members, denied.policies):
        assert member not in got
        got[member] = (False, policy_reason(texts[revision], revision, body))  # as reading explains it
    assert got == {key: (d.queued, d.reason) for key, d in expected.items()}
    assert any(not d.queued for d in expected.values()) and any(d.queued for d in expected.values())


def test_each_distinct_policy_is_evaluated_once(many, monkeypatch):
    state = many
    event = event_of(PAYLOADS[1])
    calls = []
    from gateway.inbound import decision_index

    real = decision_index.policy_stage

    def counting(event, integration):
        calls.append(json.dumps(integration.row.policy))
        return real(event, integration)

    monkeypatch.setattr(decision_index, "policy_stage", counting)
    index = DecisionIndex(state.integrations.enabled())
    decided = index.decide(event, state.host)
    assert len(calls) == len(set(calls))  # one evaluation per distinct policy
    by_revision = Counter(decided.denial.set.policies)
    assert by_revision and all(n == 6 for n in by_revision.values())  # 3 recorder + 3 picky share each


def test_the_index_is_kept_while_the_integrations_stay_the_same(many, client):
    state = many
    first = index_for(state.integrations, state.integrations.enabled())
    assert index_for(state.integrations, state.integrations.enabled()) is first
    add_integration(client, "recorder", name="new", config={"token": "new"})
    assert index_for(state.integrations, state.integrations.enabled()) is not first


def team_policy(team: str) -> list:
    return [{"effect": "allow", "resources": [f"proj/{team}:env/*:flag/*"], "actions": ["*"]}]


def test_only_the_policies_that_name_the_events_project_are_evaluated(app, client, monkeypatch):
    """One policy per team: an event of one project is judged by that team's policy (and those that
    can match any project); the others deny it unasked, with the engine's reason when read."""
    state = get_state(app)
    teams = {team: add_integration(client, "recorder", name=team, config={"token": team}, policy=team_policy(team))
             for team in ("checkout", "search", "billing")}
    everything = add_integration(client, "recorder", name="all", config={"token": "all"},
                                 policy=[{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}])
    from gateway.inbound import decision_index

    calls = []
    real = decision_index.policy_stage
    monkeypatch.setattr(decision_index, "policy_stage",
                        lambda event, integration: calls.append(integration.row.name) or real(event, integration))
    event = event_of(PAYLOADS[0])  # proj/checkout
    enabled = state.integrations.enabled()
    decided = DecisionIndex(enabled).decide(event, state.host)
    expected = {i.row.name: decide(event, i, state.host) for i in enabled}
    assert sorted(calls) == ["all", "checkout"]
    assert {d.integration.row.id for d in decided.decisions if d.queued} == {everything["id"], teams["checkout"]["id"]}
    denied = decided.denial.set
    texts = dict(denied.revisions)
    names = {i.row.id: i.row.name for i in enabled}
    body = event.to_dict(include_raw=False)
    for (member, _), revision in zip(denied.members, denied.policies):
        assert policy_reason(texts[revision], revision, body) == expected[names[member]].reason
    assert {member for member, _ in denied.members} == {teams["search"]["id"], teams["billing"]["id"]}


@pytest.mark.parametrize("policy, scopes", [
    (team_policy("a"), frozenset({"proj/a"})),
    ([{"effect": "allow", "resources": ["proj/a;mobile:env/*", "proj/b:env/x"], "actions": ["*"]},
      {"effect": "deny", "resources": ["proj/c"], "actions": ["*"]}], frozenset({"proj/a", "proj/b", "proj/c"})),
    ([{"effect": "allow", "resources": ["proj/a-*:env/*"], "actions": ["*"]}], None),
    ([{"effect": "allow", "resources": ["proj:env/*"], "actions": ["*"]}], None),
    ([{"effect": "allow", "notResources": ["proj/a:env/*"], "actions": ["*"]}], None),
    ([], frozenset()),
])
def test_first_scopes_of_a_policy(policy, scopes):
    assert first_scopes(policy) == scopes

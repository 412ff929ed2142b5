"""The policy simulator and the explain endpoint: decisions with reasons, nothing stored."""

from __future__ import annotations

from .conftest import AUTH, add_integration, fixture_json
from .test_intake import stored_counts

PROD_ONLY = [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]


def test_evaluate_with_an_event(client):
    staging = fixture_json("launchdarkly/flag-rules-updated-staging.json")
    answer = client.post("/api/v1/policy/evaluate", json={"policy": PROD_ONLY, "event": staging}, headers=AUTH)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["allowed"] is False
    assert "updateRules on proj/checkout:env/staging:flag/new-checkout-flow" in body["reason"]
    prod = fixture_json("launchdarkly/flag-turned-on-production.json")
    body = client.post("/api/v1/policy/evaluate", json={"policy": PROD_ONLY, "event": prod}, headers=AUTH).get_json()
    assert body["allowed"] is True and body["statement"] == 0


def test_evaluate_with_an_access(client):
    deny_ops = PROD_ONLY + [{"effect": "deny", "resources": ["proj/*:env/*:flag/ops_*"], "actions": ["*"]}]
    body = client.post("/api/v1/policy/evaluate", headers=AUTH, json={
        "policy": deny_ops, "access": {"action": "updateOn", "resource": "proj/a:env/production:flag/ops_kill"}}).get_json()
    assert body["allowed"] is False and body["statement"] == 1


def test_evaluate_refuses_bad_input(client):
    cases = [
        ({"event": {}}, "missing 'policy'"),
        ({"policy": [{"effect": "allow"}], "access": {"action": "a", "resource": "proj/x"}}, "invalid policy"),
        ({"policy": PROD_ONLY}, "exactly one of"),
        ({"policy": PROD_ONLY, "access": {"action": 1}}, "access must be"),
        ({"policy": PROD_ONLY, "event": {"accesses": []}}, "missing '_id'"),
    ]
    for body, message in cases:
        answer = client.post("/api/v1/policy/evaluate", json=body, headers=AUTH)
        assert answer.status_code == 400, body
        assert message in answer.get_json()["error"], body


def test_explain_shows_the_chain_and_stores_nothing(app, client):
    picky = add_integration(client, "picky", config={"wanted_tag": "frontend"}, policy=PROD_ONLY)
    prod = fixture_json("launchdarkly/flag-turned-on-production.json")
    body = client.post(f"/api/v1/integrations/{picky['id']}/explain", json=prod, headers=AUTH).get_json()
    assert body["outcome"] == "queued"
    assert [s["stage"] for s in body["stages"]] == ["policy", "plugin"]
    client.patch(f"/api/v1/integrations/{picky['id']}", json={"config": {"wanted_tag": "backend"}}, headers=AUTH)
    body = client.post(f"/api/v1/integrations/{picky['id']}/explain", json=prod, headers=AUTH).get_json()
    assert body["outcome"] == "skipped" and "no tag 'backend'" in body["reason"]
    staging = fixture_json("launchdarkly/flag-rules-updated-staging.json")
    body = client.post(f"/api/v1/integrations/{picky['id']}/explain", json=staging, headers=AUTH).get_json()
    assert [s["stage"] for s in body["stages"]] == ["policy"] and body["stages"][0]["took"] is False
    assert stored_counts(app) == (0, 0)
    assert client.post("/api/v1/integrations/nope/explain", json=prod, headers=AUTH).status_code == 404

"""Policies are compiled and checked when saved, never while a webhook waits, and their size is
capped (issue 9, item 14)."""

from __future__ import annotations

import threading

import pytest

from gateway.host import integrations as integrations_module
from gateway.host import policy_cache
from gateway.host.integrations import IntegrationService
from gateway.policy.limits import MAX_PATTERN_LENGTH, MAX_PATTERNS, MAX_STATEMENTS, limit_errors
from gateway.host.state import get_state

from .conftest import AUTH, add_integration, fixture_bytes

PROD_ONLY = [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]
EVENT = fixture_bytes("launchdarkly/flag-turned-on-production.json")


def _statement(i: int) -> dict:
    return {"effect": "allow", "resources": [f"proj/p{i}:env/production:flag/*"], "actions": ["*"]}


@pytest.fixture
def compiles(monkeypatch):
    """Every policy compilation, with the thread that did it."""
    seen: list[str] = []
    real = policy_cache.compile_policy

    def counting(raw):
        seen.append(threading.current_thread().name)
        return real(raw)

    monkeypatch.setattr(policy_cache, "compile_policy", counting)
    return seen


def _post_event(client):
    return client.post("/webhooks/launchdarkly", data=EVENT, content_type="application/json")


def test_saving_compiles_and_the_webhook_does_not(client, compiles):
    add_integration(client, "picky", config={"wanted_tag": "x"}, policy=PROD_ONLY + [_statement(1)])
    assert len(compiles) == 1  # at save
    assert _post_event(client).status_code == 202
    assert len(compiles) == 1  # none on the way in


def test_changing_a_policy_compiles_it_at_save(client, compiles):
    picky = add_integration(client, "picky", config={"wanted_tag": "x"}, policy=PROD_ONLY)
    assert _post_event(client).status_code == 202
    changed = client.patch(f"/api/v1/integrations/{picky['id']}", json={"policy": [_statement(2)]}, headers=AUTH)
    assert changed.status_code == 200 and len(compiles) == 2
    second = EVENT.replace(b'"_id": "', b'"_id": "second-')
    assert client.post("/webhooks/launchdarkly", data=second, content_type="application/json").status_code == 202
    assert len(compiles) == 2  # the first webhook after the change paid nothing


def test_a_restarted_gateway_compiles_at_start(make_app, tmp_path, compiles):
    instance = tmp_path / "instance"
    first = make_app(instance=instance)
    add_integration(first.test_client(), "picky", config={"wanted_tag": "x"}, policy=PROD_ONLY + [_statement(3)])
    get_state(first).db.dispose()
    compiles.clear()
    second = make_app(instance=instance)
    assert len(compiles) == 1  # while starting
    assert _post_event(second.test_client()).status_code == 202
    assert len(compiles) == 1


def test_a_change_made_by_another_process_decides_the_next_webhook_once_the_list_is_old(app, client, compiles,
                                                                                         monkeypatch):
    picky = add_integration(client, "picky", config={"wanted_tag": "x"}, policy=PROD_ONLY)
    assert _post_event(client).status_code == 202
    state = get_state(app)
    other = IntegrationService(state.db, state.host, state.box, allow_private_targets=False)  # like the CLI
    other.update(state.db.integrations.get(picky["id"]), {"policy": [_statement(4)]})
    compiles.clear()
    monkeypatch.setattr(integrations_module, "ENABLED_TTL", 0.0)
    second = EVENT.replace(b'"_id": "', b'"_id": "second-')
    assert client.post("/webhooks/launchdarkly", data=second, content_type="application/json").status_code == 202
    assert len(compiles) == 1  # the changed policy, once
    assert state.integrations.enabled()[0].policy.statements == [_statement(4)]
    third = EVENT.replace(b'"_id": "', b'"_id": "third-')
    assert client.post("/webhooks/launchdarkly", data=third, content_type="application/json").status_code == 202
    assert len(compiles) == 1  # read again, compiled no more


@pytest.mark.parametrize("policy,path,message", [
    ([_statement(i) for i in range(MAX_STATEMENTS + 1)], "policy", f"at most {MAX_STATEMENTS}"),
    ([{"effect": "allow", "resources": ["proj/" + "a" * MAX_PATTERN_LENGTH], "actions": ["*"]}],
     "policy[0].resources[0]", f"at most {MAX_PATTERN_LENGTH}"),
    ([{"effect": "allow", "resources": [f"proj/p{i}" for i in range(MAX_PATTERNS)], "actions": ["*"]}],
     "policy", f"at most {MAX_PATTERNS}"),
])
def test_oversized_policies_are_refused_with_a_clear_400(client, compiles, policy, path, message):
    response = client.post("/api/v1/integrations", headers=AUTH,
                           json={"plugin": "picky", "name": "big", "config": {"wanted_tag": "x"}, "policy": policy})
    assert response.status_code == 400
    assert message in " ".join(response.get_json()["errors"][path])
    assert client.get("/api/v1/integrations", headers=AUTH).get_json()["items"] == []
    evaluated = client.post("/api/v1/policy/evaluate", headers=AUTH,
                            json={"policy": policy, "access": {"action": "a", "resource": "proj/x"}})
    assert evaluated.status_code == 400 and path in evaluated.get_json()["errors"]


def test_twenty_thousand_statements_are_refused_before_compiling(make_app, monkeypatch):
    from gateway.policy import engine

    compiled_statements = []
    real = engine.compile_statement
    monkeypatch.setattr(engine, "compile_statement", lambda *a: compiled_statements.append(1) or real(*a))
    client = make_app({"GATEWAY_MAX_API_BODY_BYTES": 10_000_000}).test_client()
    compiled_statements.clear()  # the plugins' default policies, checked while loading them
    policy = [_statement(i) for i in range(20_000)]
    response = client.post("/api/v1/integrations", headers=AUTH,
                           json={"plugin": "picky", "name": "huge", "config": {"wanted_tag": "x"}, "policy": policy})
    assert response.status_code == 400 and "20000 statements" in response.get_json()["errors"]["policy"][0]
    assert compiled_statements == []  # refused by the caps, before any statement was compiled


# --- the caps on their own, at their edges (docs/policies.md: 200 statements, 500 patterns, 256 characters)

LISTS = ("resources", "notResources", "actions", "notActions")


def test_two_hundred_statements_pass_and_one_more_is_refused():
    assert limit_errors([_statement(i) for i in range(200)]) == {}
    assert limit_errors([_statement(i) for i in range(201)]) == {"policy": "has 201 statements; at most 200 are allowed"}


def test_five_hundred_patterns_pass_counted_over_all_four_lists_and_one_more_is_refused():
    statement = {"effect": "allow", **{name: [f"p{name}{i}" for i in range(125)] for name in LISTS}}
    assert limit_errors([statement]) == {}
    for name in LISTS:
        bigger = {**statement, name: [*statement[name], "one-more"]}
        assert limit_errors([bigger]) == {"policy": "has 501 resource and action patterns in all; at most 500 are "
                                                    "allowed (combine them with * globs or tags)"}


@pytest.mark.parametrize("name", LISTS)
def test_a_pattern_of_256_characters_passes_and_one_of_257_is_refused_in_each_list(name):
    assert limit_errors([{"effect": "allow", name: ["a" * 256]}]) == {}
    assert limit_errors([{"effect": "allow", name: ["ok", "a" * 257]}]) == {
        f"policy[0].{name}[1]": "is 257 characters long; at most 256 are allowed"}


def test_what_is_not_a_policy_is_left_to_the_compiler_and_the_rest_is_still_checked():
    assert limit_errors(None) == {} and limit_errors({"effect": "allow"}) == {}
    too_long = "a" * 257
    assert limit_errors(["not a statement", {"resources": [too_long]}]) == {
        "policy[1].resources[0]": "is 257 characters long; at most 256 are allowed"}
    assert limit_errors([{"resources": "not a list", "actions": [too_long]}]) == {
        "policy[0].actions[0]": "is 257 characters long; at most 256 are allowed"}

"""A replay decides again with the integration's current policy, plugin check and cooldown, and never
sends an event a guard denies; sending despite a denial is a separate override, confirmed by name,
refused where the plugin does not allow it, and recorded in the event's history beside the original
skip (issue: a replay click turned a production flag off while the integration was in dry run)."""

from __future__ import annotations

import json
import logging

import pytest

from gateway.host.state import get_state
from gateway.store.base import now

from . import plugins_for_tests as test_plugins
from .conftest import AUTH, add_integration, fixture_bytes

PROD = "launchdarkly/flag-turned-on-production.json"
STAGING = "launchdarkly/flag-rules-updated-staging.json"
PRODUCTION_ONLY = [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]
EVERYTHING = [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}]


@pytest.fixture
def rehearsal():
    return test_plugins.Rehearsal()


@pytest.fixture
def app(make_app, rehearsal):
    return make_app(plugins=(("recorder", test_plugins.Recorder()), ("picky", test_plugins.Picky()),
                             ("rehearsal", rehearsal)))


@pytest.fixture
def client(app):
    return app.test_client()


def post(client, name: str, source_id: str) -> str:
    body = json.loads(fixture_bytes(name))
    body["_id"] = source_id
    response = client.post("/webhooks/launchdarkly", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.get_json()
    return response.get_json()["event_id"]


def detail(client, event_id: str) -> dict:
    return client.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json()


def mine(client, event_id: str, integration_id: str) -> dict:
    [decision] = [d for d in detail(client, event_id)["decisions"] if d["integration_id"] == integration_id]
    return decision


def replay(client, integration_id: str, *event_ids: str):
    return client.post(f"/api/v1/integrations/{integration_id}/replay", headers=AUTH,
                       json={"event_ids": list(event_ids)})


def override(client, integration_id: str, event_id: str, confirm=None):
    body = {"event_id": event_id}
    if confirm is not None:
        body["confirm"] = confirm
    return client.post(f"/api/v1/integrations/{integration_id}/override", headers=AUTH, json=body)


def test_a_policy_denied_event_replayed_stays_denied_and_keeps_its_reason(app, client):
    prod = add_integration(client, "recorder", "prod only", {"token": "t"}, policy=PRODUCTION_ONLY)["id"]
    event_id = post(client, STAGING, "s-1")
    original = mine(client, event_id, prod)
    assert original["status"] == "skipped" and original["reason"].startswith("denied")

    answer = replay(client, prod, event_id)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["requeued"], body["skipped"], body["created"]) == (0, 1, 0)
    [result] = body["results"]
    assert result["outcome"] == "skipped" and result["reason"] == original["reason"]
    assert result["delivery_id"] is None and result["previous_status"] == "skipped"
    assert mine(client, event_id, prod) == original  # nothing sent, the original skip as it was
    assert get_state(app).db.deliveries.stats(now()).by_status["pending"] == 0
    [entry] = detail(client, event_id)["history"]
    assert (entry["action"], entry["origin"], entry["outcome"]) == ("replay", "api", "skipped")
    assert entry["previous_reason"] == original["reason"] and entry["integration_name"] == "prod only"


def test_a_replay_once_the_policy_allows_it_queues_it_and_the_skip_stays_in_the_history(client):
    prod = add_integration(client, "recorder", "prod only", {"token": "t"}, policy=PRODUCTION_ONLY)["id"]
    event_id = post(client, STAGING, "s-2")
    original = mine(client, event_id, prod)["reason"]
    client.patch(f"/api/v1/integrations/{prod}", headers=AUTH, json={"policy": EVERYTHING})
    body = replay(client, prod, event_id).get_json()
    assert (body["requeued"], body["created"], body["skipped"]) == (1, 1, 0)
    queued = mine(client, event_id, prod)
    assert queued["status"] == "pending" and queued["reason"].startswith("re-queued by hand (replay): allowed")
    [entry] = detail(client, event_id)["history"]
    assert entry["outcome"] == "queued" and entry["delivery_id"] == queued["id"]
    assert (entry["previous_status"], entry["previous_reason"]) == ("skipped", original)


def test_override_of_a_policy_denial_delivers_and_the_history_keeps_both(app, client, caplog):
    prod = add_integration(client, "recorder", "prod only", {"token": "t"}, policy=PRODUCTION_ONLY)["id"]
    event_id = post(client, STAGING, "s-3")
    original = mine(client, event_id, prod)["reason"]
    replay(client, prod, event_id)

    refused = override(client, prod, event_id, ["plugin"])
    assert refused.status_code == 409 and "confirm exactly the denials" in refused.get_json()["error"]
    assert "policy: denied" in refused.get_json()["error"]
    missing = override(client, prod, event_id)
    assert missing.status_code == 400 and "confirm" in missing.get_json()["errors"]

    with caplog.at_level(logging.INFO, logger="gateway.audit"):
        answer = override(client, prod, event_id, ["policy"])
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["outcome"] == "queued" and body["overrode"] == [{"stage": "policy", "reason": original}]
    queued = mine(client, event_id, prod)
    assert queued["status"] == "pending" and "(override)" in queued["reason"] and original in queued["reason"]
    history = detail(client, event_id)["history"]
    assert [(e["action"], e["outcome"]) for e in history] == [("replay", "skipped"), ("override", "queued")]
    assert history[0]["previous_reason"] == original and history[1]["previous_reason"] == original
    assert history[1]["overrode"] == [{"stage": "policy", "reason": original}]
    assert (f"admin action integration.override origin=api integration={prod} event={event_id} overrode=policy "
            "result=queued") in caplog.text


def test_override_when_nothing_denies_it_says_to_replay(client):
    taker = add_integration(client, "recorder", "all", {"token": "t"})["id"]
    event_id = post(client, STAGING, "s-4")
    refused = override(client, taker, event_id, ["policy"])
    assert refused.status_code == 409 and "replay it instead" in refused.get_json()["error"]
    assert override(client, taker, "no-such-event", ["policy"]).status_code == 404
    assert client.post("/api/v1/integrations/nope/override", headers=AUTH,
                       json={"event_id": event_id, "confirm": ["policy"]}).status_code == 404
    for body in ({"event_id": event_id, "confirm": ["everything"]}, {"event_id": "", "confirm": ["policy"]},
                 {"event_id": event_id, "confirm": "policy"}, {"event_id": event_id, "confirm": ["policy"], "x": 1}):
        assert client.post(f"/api/v1/integrations/{taker}/override", headers=AUTH, json=body).status_code == 400


def test_a_dry_run_skip_replayed_stays_skipped_and_cannot_be_overridden(app, client, rehearsal):
    acting = add_integration(client, "rehearsal", "kill switch", {"dry_run": True})["id"]
    event_id = post(client, PROD, "p-1")
    original = mine(client, event_id, acting)
    assert original["status"] == "skipped" and "dry run" in original["reason"]

    body = replay(client, acting, event_id).get_json()
    assert (body["requeued"], body["skipped"]) == (0, 1) and "dry run" in body["results"][0]["reason"]
    refused = override(client, acting, event_id, ["plugin"])
    assert refused.status_code == 409
    assert "may not be overridden" in refused.get_json()["error"] and "dry run" in refused.get_json()["error"]
    assert mine(client, event_id, acting) == original
    assert get_state(app).db.deliveries.stats(now()).by_status["pending"] == 0
    assert [e["action"] for e in detail(client, event_id)["history"]] == ["replay"]


def test_a_plugin_may_declare_its_policy_not_overridable(client):
    acting = add_integration(client, "rehearsal", "kill switch", {"dry_run": False}, policy=PRODUCTION_ONLY)["id"]
    event_id = post(client, STAGING, "s-5")
    refused = override(client, acting, event_id, ["policy"])
    assert refused.status_code == 409 and "may not be overridden" in refused.get_json()["error"]
    assert mine(client, event_id, acting)["status"] == "skipped"


def test_an_override_names_every_denial_the_policy_and_the_plugin(client):
    picky = add_integration(client, "picky", "picky", {"wanted_tag": "nope"}, policy=PRODUCTION_ONLY)["id"]
    event_id = post(client, STAGING, "s-6")
    refused = override(client, picky, event_id, ["policy"])
    assert refused.status_code == 409
    assert "policy, plugin" in refused.get_json()["error"] and "tag 'nope'" in refused.get_json()["error"]
    body = override(client, picky, event_id, ["plugin", "policy"]).get_json()
    assert body["outcome"] == "queued" and [o["stage"] for o in body["overrode"]] == ["policy", "plugin"]


def test_a_replay_claims_the_cooldown_and_an_override_of_the_cooldown_takes_it(app, client):
    acting = add_integration(client, "rehearsal", "kill switch", {"dry_run": False, "cooldown_seconds": 3600})["id"]
    first = post(client, PROD, "p-2")
    second = post(client, PROD, "p-3")
    assert mine(client, first, acting)["status"] == "pending"
    assert mine(client, second, acting)["status"] == "skipped"

    body = replay(client, acting, second, first).get_json()
    outcomes = {r["event_id"]: r["outcome"] for r in body["results"]}
    assert outcomes == {second: "skipped", first: "queued"}  # its own claim does not hold an event back
    assert first in body["results"][0]["reason"] and "cooldown" in body["results"][0]["reason"]

    answer = override(client, acting, second, ["cooldown"]).get_json()
    assert answer["outcome"] == "queued" and answer["overrode"][0]["stage"] == "cooldown"
    [held] = get_state(app).db.cooldowns.for_integration(acting)
    assert held.event_id == second
    later = replay(client, acting, first).get_json()
    assert later["results"][0]["outcome"] == "skipped" and second in later["results"][0]["reason"]


def test_a_dead_delivery_denied_now_stays_dead_on_replay_since(app, client):
    prod = add_integration(client, "recorder", "prod", {"token": "t"}, policy=EVERYTHING)["id"]
    event_id = post(client, STAGING, "s-7")
    store = get_state(app).db.deliveries
    delivery = mine(client, event_id, prod)["id"]
    store.claim("w1", 60, now(), integration_id=prod)
    from gateway.store.deliveries import NewAttempt
    store.finish(delivery, "w1", NewAttempt(1, "w1", now(), 1.0, "failed", "400"), status="dead", reason="400",
                 now=now())
    client.patch(f"/api/v1/integrations/{prod}", headers=AUTH, json={"policy": PRODUCTION_ONLY})
    body = client.post(f"/api/v1/integrations/{prod}/replay", headers=AUTH, json={"since": 0}).get_json()
    assert (body["requeued"], body["skipped"]) == (0, 1)
    assert store.get(delivery).status == "dead"
    [entry] = detail(client, event_id)["history"]
    assert (entry["previous_status"], entry["outcome"]) == ("dead", "skipped")
    client.patch(f"/api/v1/integrations/{prod}", headers=AUTH, json={"policy": EVERYTHING})
    body = client.post(f"/api/v1/integrations/{prod}/replay", headers=AUTH, json={"since": 0}).get_json()
    assert body["requeued"] == 1 and store.get(delivery).status == "pending"


# the command line ------------------------------------------------------------------------------

def cli(app, *args, input=None):
    result = app.test_cli_runner().invoke(args=list(args), input=input)
    return result, (json.loads(result.stdout) if result.exit_code == 0 else None)


def test_the_cli_replays_and_overrides_as_the_api_does(app, client, rehearsal, caplog):
    prod = add_integration(client, "recorder", "prod only", {"token": "t"}, policy=PRODUCTION_ONLY)["id"]
    acting = add_integration(client, "rehearsal", "kill switch", {"dry_run": True})["id"]
    staging = post(client, STAGING, "s-cli")
    production = post(client, PROD, "p-cli")
    original = mine(client, staging, prod)["reason"]

    _, replayed = cli(app, "integrations", "replay", prod, "--event-id", staging)
    assert (replayed["requeued"], replayed["skipped"]) == (0, 1)
    result, _ = cli(app, "integrations", "replay", prod, "--event-id", staging, "--override", input="n\n")
    assert result.exit_code == 1 and "policy: " + original in result.stderr and "Aborted" in result.stderr
    assert mine(client, staging, prod)["status"] == "skipped"
    result, answer = cli(app, "integrations", "replay", prod, "--event-id", staging, "--override", input="y\n")
    assert result.exit_code == 0, result.stderr
    assert answer["outcome"] == "queued" and answer["overrode"] == [{"stage": "policy", "reason": original}]
    history = detail(client, staging)["history"]
    assert [(e["action"], e["origin"]) for e in history] == [("replay", "cli"), ("override", "cli")]

    result, _ = cli(app, "integrations", "replay", acting, "--event-id", production, "--override", "--yes")
    assert result.exit_code == 1 and "may not be overridden" in result.stderr and "dry run" in result.stderr
    assert mine(client, production, acting)["status"] == "skipped"
    for args in (("--since", "0", "--override"), ("--event-id", staging, "--event-id", production, "--override"),
                 ("--event-id", staging, "--yes")):
        result, _ = cli(app, "integrations", "replay", prod, *args)
        assert result.exit_code == 2, args


# the web UI ------------------------------------------------------------------------------------

def test_the_ui_replays_and_overrides_as_the_api_does(app, client, caplog):
    from .ui_support import UiClient

    ui = UiClient(app.test_client())
    picky = add_integration(client, "picky", "Picky", {"wanted_tag": "missing"})["id"]
    acting = add_integration(client, "rehearsal", "Kill switch", {"dry_run": True})["id"]
    event_id = post(client, PROD, "p-ui")
    page = ui.get(f"/ui/events/{event_id}").text
    override_link = f"/ui/integrations/{picky}/override?event_id={event_id}"
    assert override_link in page and "Send despite the denial" in page

    replayed = ui.post(f"/ui/integrations/{picky}/replay", data={"event_id": event_id,
                                                                   "back": f"/ui/events/{event_id}"})
    page = ui.get(replayed.headers["Location"]).text
    assert "Still skipped, nothing was sent" in page and "tag &#39;missing&#39;" in page
    assert "History of this decision" in page and "Replayed from the UI" in page

    confirm = ui.get(override_link).text
    assert "Sending it overrides" in confirm and "tag &#39;missing&#39;" in confirm
    assert 'name="confirm" value="plugin"' in confirm and "Send despite the plugin denial" in confirm
    without_csrf = ui.client.post(f"/ui/integrations/{picky}/override", data={"event_id": event_id,
                                                                             "confirm": "plugin"})
    assert without_csrf.status_code in (400, 403)
    with caplog.at_level(logging.INFO, logger="gateway.audit"):
        sent = ui.post(f"/ui/integrations/{picky}/override", data={"event_id": event_id, "confirm": "plugin"})
    assert sent.status_code == 303 and sent.headers["Location"].endswith(f"/ui/events/{event_id}")
    assert "origin=ui" in caplog.text and "integration.override" in caplog.text
    page = ui.get(f"/ui/events/{event_id}").text
    assert "Queued for Picky despite plugin" in page
    assert "Sent despite the denial from the UI" in page and "First decision" in page
    assert mine(client, event_id, picky)["status"] == "pending"

    refused = ui.get(f"/ui/integrations/{acting}/override?event_id={event_id}").text
    assert "This cannot be overridden" in refused and "dry run" in refused and 'name="confirm"' not in refused
    forced = ui.post(f"/ui/integrations/{acting}/override", data={"event_id": event_id, "confirm": "plugin"})
    assert "may not be overridden" in ui.get(forced.headers["Location"]).text
    assert mine(client, event_id, acting)["status"] == "skipped"
    assert ui.get(f"/ui/integrations/{acting}/override?event_id=nope").status_code == 404

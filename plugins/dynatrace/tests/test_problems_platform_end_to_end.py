"""Dynatrace problems through the real gateway connected to a fake flag-platform API: semantic patches
with the connection's token, a flag trigger of the flag platform, retries, and the full loop — the
flag change comes back through the flag-change webhook and reaches a (fake) Dynatrace timeline naming
the problem that caused it."""

from __future__ import annotations

import json

import pytest
from gateway.kit.fake_flag_platform import FakeFlagPlatform
from gateway.testing import FakeService, Reply, wait_until

from problem_helpers import SECRET, notification
from problem_process import DynatraceSender, decision, only_event, problems_gateway
from test_problems_end_to_end import RULE

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

LD_TOKEN = "api-problems-e2e-token-0123456789"
API_RULE = {**RULE, "trigger": None, "resolve_trigger": None}


@pytest.fixture
def platform():
    with FakeFlagPlatform(LD_TOKEN) as fake:
        fake.add_project("shop", "Shop", {"production": "Production", "staging": "Staging"})
        fake.add_flag("shop", "new-checkout-flow", "New checkout flow", on={"production": True})
        yield fake


@pytest.fixture
def gateway_process(tmp_path):
    with problems_gateway(str(tmp_path), plugins="dynatrace,dynatrace-problems") as process:
        yield process


def connect(gateway_process, platform):
    connected = gateway_process.admin("PUT", "/api/v1/connections/launchdarkly", json={
        "api_token": LD_TOKEN, "public_url": gateway_process.url, "api_url": platform.url})
    assert connected.status_code == 200, connected.text


def add(gateway_process, rule=API_RULE, **config):
    response = gateway_process.admin("POST", "/api/v1/integrations", json={
        "plugin": "dynatrace-problems", "name": "Checkout kill switch",
        "config": {"shared_secret": SECRET, "rules": [rule], **config}})
    assert response.status_code == 201, response.text
    return DynatraceSender(gateway_process, response.json()["id"])


def test_open_turns_the_flag_off_with_a_semantic_patch_and_resolved_back_on(gateway_process, platform):
    connect(gateway_process, platform)
    dynatrace = add(gateway_process)
    opened = only_event(dynatrace.send(notification()))
    delivered = decision(gateway_process, opened["event_id"], "delivered")
    [patch] = platform.semantic_patches
    assert (patch["project"], patch["flag"], patch["environment"]) == ("shop", "new-checkout-flow", "production")
    assert patch["instructions"] == [{"kind": "turnFlagOff"}]
    assert patch["comment"] == ("Flag Event Gateway: Dynatrace problem P-230412 'High failure rate' (OPEN) "
                                "matched rule 'checkout errors'")
    assert platform.flag_on("shop", "new-checkout-flow", "production") is False
    assert "through the flag platform's API (200)" in delivered["summary"]
    assert LD_TOKEN not in json.dumps(delivered)

    resolved = only_event(dynatrace.send(notification(State="RESOLVED")))
    decision(gateway_process, resolved["event_id"], "delivered")
    assert platform.semantic_patches[-1]["instructions"] == [{"kind": "turnFlagOn"}]
    assert platform.flag_on("shop", "new-checkout-flow", "production") is True


def test_a_flag_trigger_of_the_flag_platform(gateway_process, platform):
    off = platform.add_trigger("shop", "new-checkout-flow", "production", action="turnFlagOff")
    dynatrace = add(gateway_process, rule={**API_RULE, "trigger": "off"}, trigger_urls=f"off={off}")
    opened = only_event(dynatrace.send(notification()))
    delivered = decision(gateway_process, opened["event_id"], "delivered")
    assert len(platform.trigger_calls) == 1 and platform.semantic_patches == []
    assert platform.flag_on("shop", "new-checkout-flow", "production") is False
    token = off.rsplit("/", 1)[1]
    assert token not in json.dumps(delivered) and token not in gateway_process.log()


def test_the_platform_answering_503_is_retried(gateway_process, platform):
    connect(gateway_process, platform)
    answers = platform.reply
    refused = []

    def first_patch_refused(request):
        if request.method == "PATCH" and not refused:
            refused.append(request)
            return Reply(503, {"code": "service_unavailable", "message": "down for maintenance"})
        return answers(request)

    platform.reply = first_patch_refused
    dynatrace = add(gateway_process)
    opened = only_event(dynatrace.send(notification()))
    delivered = decision(gateway_process, opened["event_id"], "delivered")
    assert [a["outcome"] for a in delivered["attempt_log"]] == ["retry", "delivered"]
    assert "the flag platform answered 503 (down for maintenance (service_unavailable)); will retry" in \
        delivered["attempt_log"][0]["reason"]
    assert len(refused) == 1 and len(platform.semantic_patches) == 1


def test_a_refusal_fails_with_the_platforms_message(gateway_process, platform):
    connect(gateway_process, platform)
    dynatrace = add(gateway_process, rule={**API_RULE, "flag_key": "no-such-flag"})
    opened = only_event(dynatrace.send(notification()))
    dead = decision(gateway_process, opened["event_id"], "dead")
    assert "the flag platform refused to turn flag 'no-such-flag' off (404: Invalid resource identifier" \
        in dead["reason"]


def test_the_full_loop_reaches_the_dynatrace_timeline_naming_the_problem(gateway_process, platform):
    connect(gateway_process, platform)
    platform.send_webhooks = True
    with FakeService(Reply(201, {"reportCount": 1, "eventIngestResults": [{"correlationId": "c1",
                                                                          "status": "OK"}]})) as timeline:
        response = gateway_process.admin("POST", "/api/v1/integrations", json={
            "plugin": "dynatrace", "name": "Dynatrace timeline",
            "config": {"url": timeline.url, "api_token": "dt0c01.LOOPTOKEN.LOOPSECRETLOOPSECRET", "tag": "checkout"}})
        assert response.status_code == 201, response.text
        dynatrace = add(gateway_process)
        only_event(dynatrace.send(notification()))
        [ingest] = timeline.wait_for(1, "/api/v2/events/ingest", timeout=20)
        properties = ingest.json()["properties"]
        assert properties["Caused by Dynatrace problem"] == "P-230412"
        assert properties["Flag key"] == "new-checkout-flow" and properties["Environment key"] == "production"
        assert wait_until(lambda: platform.webhook_deliveries, 5, message="the flag platform's webhook")


def test_a_replay_of_a_dry_run_skip_changes_no_flag_and_an_override_is_refused(gateway_process, platform):
    connect(gateway_process, platform)
    dynatrace = add(gateway_process, dry_run=True)
    integration_id = dynatrace.url.rsplit("/", 1)[1]
    opened = only_event(dynatrace.send(notification()))
    skipped = decision(gateway_process, opened["event_id"], "skipped")
    assert "dry run" in skipped["reason"]

    replayed = gateway_process.admin("POST", f"/api/v1/integrations/{integration_id}/replay",
                                     json={"event_ids": [opened["event_id"]]})
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["requeued"], replayed.json()["skipped"]) == (0, 1)
    assert "dry run" in replayed.json()["results"][0]["reason"]
    for confirm in (["plugin"], ["policy"]):
        refused = gateway_process.admin("POST", f"/api/v1/integrations/{integration_id}/override",
                                        json={"event_id": opened["event_id"], "confirm": confirm})
        assert refused.status_code == 409, refused.text
        assert "may not be overridden" in refused.json()["error"] and "dry run" in refused.json()["error"]
    shown = gateway_process.admin("GET", f"/api/v1/events/{opened['event_id']}").json()
    assert shown["decisions"][0]["status"] == "skipped" and shown["decisions"][0]["reason"] == skipped["reason"]
    assert [(h["action"], h["outcome"]) for h in shown["history"]] == [("replay", "skipped")]
    assert platform.semantic_patches == []
    assert platform.flag_on("shop", "new-checkout-flow", "production") is True

    # with the dry run ended, the same replay takes the decision again and acts
    changed = gateway_process.admin("PATCH", f"/api/v1/integrations/{integration_id}", json={"config": {"dry_run": False}})
    assert changed.status_code == 200, changed.text
    again = gateway_process.admin("POST", f"/api/v1/integrations/{integration_id}/replay",
                                  json={"event_ids": [opened["event_id"]]})
    assert again.json()["requeued"] == 1, again.text
    decision(gateway_process, opened["event_id"], "delivered")
    assert platform.flag_on("shop", "new-checkout-flow", "production") is False
    history = gateway_process.admin("GET", f"/api/v1/events/{opened['event_id']}").json()["history"]
    assert history[-1]["previous_reason"] == skipped["reason"] and history[-1]["outcome"] == "queued"

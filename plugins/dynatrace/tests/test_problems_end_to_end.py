"""Dynatrace problems through the real gateway (a subprocess, over HTTP): a local stand-in for
Dynatrace posts problem notifications as its custom integration does, and flag triggers on a local fake
record the calls. Each guard rail has its test."""

from __future__ import annotations

import pytest
from gateway.testing import Reply

from problem_helpers import SECRET, notification
from problem_process import DynatraceSender, decision, only_event, problems_gateway

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

TRIGGER_OFF = "/webhook/triggers/65a1b2c3d4e5/aa0f5e1c-off"
TRIGGER_ON = "/webhook/triggers/65a1b2c3d4e5/bb1e6f2d-on"
RULE = {"name": "checkout errors", "severities": ["ERROR"], "tags": ["team:checkout"],
        "project_key": "shop", "environment_key": "production", "flag_key": "new-checkout-flow",
        "turn_on_when_resolved": True, "trigger": "off", "resolve_trigger": "on"}


@pytest.fixture
def gateway_process(tmp_path):
    with problems_gateway(str(tmp_path)) as process:
        yield process


def add(gateway_process, triggers, *, rule=None, policy=None, **config):
    body = {"plugin": "dynatrace-problems", "name": "Checkout kill switch",
            "config": {"shared_secret": SECRET, "rules": [rule or RULE],
                       "trigger_urls": f"off={triggers.url}{TRIGGER_OFF} on={triggers.url}{TRIGGER_ON}", **config}}
    if policy is not None:
        body["policy"] = policy
    response = gateway_process.admin("POST", "/api/v1/integrations", json=body)
    assert response.status_code == 201, response.text
    assert SECRET not in response.text and TRIGGER_OFF not in response.text
    return DynatraceSender(gateway_process, response.json()["id"])


def test_open_turns_the_flag_off_and_resolved_turns_it_back_on(gateway_process, triggers):
    dynatrace = add(gateway_process, triggers)
    opened = only_event(dynatrace.send(notification()))
    assert opened["queued"] == 1
    [call] = triggers.wait_for(1, TRIGGER_OFF)
    assert call.json()["comment"] == ("Flag Event Gateway: Dynatrace problem P-230412 'High failure rate' (OPEN) "
                                      "matched rule 'checkout errors'")
    delivered = decision(gateway_process, opened["event_id"], "delivered")
    assert delivered["summary"] == ("flag 'new-checkout-flow' turned off in 'production' (project 'shop') "
                                    "through trigger 'off' (200)")
    page = gateway_process.admin("GET", f"/api/v1/events/{opened['event_id']}").text
    assert TRIGGER_OFF not in page and SECRET not in page

    resolved = only_event(dynatrace.send(notification(State="RESOLVED")))
    assert resolved["queued"] == 1
    triggers.wait_for(1, TRIGGER_ON)
    decision(gateway_process, resolved["event_id"], "delivered")


def test_a_resend_of_the_same_state_acts_once(gateway_process, triggers):
    dynatrace = add(gateway_process, triggers)
    first = dynatrace.send(notification())
    again = dynatrace.send(notification())
    assert first.status_code == 202 and again.status_code == 200
    assert only_event(again)["duplicate"] is True
    triggers.wait_for(1, TRIGGER_OFF)
    decision(gateway_process, only_event(first)["event_id"], "delivered")
    assert len(triggers.received(TRIGGER_OFF)) == 1


def test_the_test_notification_is_recorded_and_never_acts(gateway_process, triggers):
    dynatrace = add(gateway_process, triggers, rule={**RULE, "severities": [], "tags": []})
    result = only_event(dynatrace.send(notification("problem-test-run")))
    assert result["skipped"] == 1
    skipped = decision(gateway_process, result["event_id"], "skipped")
    assert skipped["reason"].endswith("Dynatrace test notification: recognised, never acts")
    assert triggers.received() == []


def test_the_policy_decides_which_flags_rules_may_change(gateway_process, triggers):
    policy = [{"effect": "allow", "resources": ["proj/*:env/staging:flag/*"], "actions": ["updateOn"]}]
    dynatrace = add(gateway_process, triggers, policy=policy)
    result = only_event(dynatrace.send(notification()))
    assert result["skipped"] == 1
    skipped = decision(gateway_process, result["event_id"], "skipped")
    assert "proj/shop:env/production:flag/new-checkout-flow" in skipped["reason"]
    assert triggers.received() == []


def test_dry_run_records_what_would_have_happened(gateway_process, triggers):
    dynatrace = add(gateway_process, triggers, dry_run=True)
    result = only_event(dynatrace.send(notification()))
    skipped = decision(gateway_process, result["event_id"], "skipped")
    assert ("dry run: rule 'checkout errors' would turn flag 'new-checkout-flow' off in 'production' "
            "(problem P-230412 'High failure rate', project 'shop')") in skipped["reason"]
    assert triggers.received() == []


def test_the_cooldown_holds_a_second_problem_on_the_same_flag(gateway_process, triggers):
    dynatrace = add(gateway_process, triggers, cooldown_seconds=3600)
    first = only_event(dynatrace.send(notification()))
    second = only_event(dynatrace.send(notification(PID="-99_V2", ProblemID="P-230413", ProblemTitle="Failure rate")))
    assert (first["queued"], second["skipped"]) == (1, 1)
    skipped = decision(gateway_process, second["event_id"], "skipped")
    assert "cooldown" in skipped["reason"] and first["event_id"] in skipped["reason"]
    triggers.wait_for(1, TRIGGER_OFF)
    decision(gateway_process, first["event_id"], "delivered")
    assert len(triggers.received(TRIGGER_OFF)) == 1


def test_a_5xx_is_retried(gateway_process, triggers):
    triggers.queue(Reply(503, {"code": "service_unavailable", "message": "down for maintenance"}))
    dynatrace = add(gateway_process, triggers)
    result = only_event(dynatrace.send(notification()))
    triggers.wait_for(2, TRIGGER_OFF)
    delivered = decision(gateway_process, result["event_id"], "delivered")
    assert [a["outcome"] for a in delivered["attempt_log"]] == ["retry", "delivered"]
    assert "the flag platform answered 503 (down for maintenance (service_unavailable)); will retry" in \
        delivered["attempt_log"][0]["reason"]


def test_without_a_connection_or_a_trigger_the_action_fails_saying_what_to_do(gateway_process, triggers):
    dynatrace = add(gateway_process, triggers, rule={**RULE, "trigger": None, "resolve_trigger": None})
    result = only_event(dynatrace.send(notification()))
    dead = decision(gateway_process, result["event_id"], "dead")
    assert "the gateway is not connected to the flag platform" in dead["reason"]
    assert "event-gateway connect launchdarkly" in dead["reason"]


@pytest.mark.parametrize("body, secret, status", [
    (notification(), "wrong-secret-wrong-secret", 401),
    (b"{not json", None, 400),
    (notification(ProblemTitle=None, ProblemDetailsJSONv2=None), None, 422),
])
def test_bad_requests_are_refused_and_nothing_is_stored(gateway_process, triggers, body, secret, status):
    dynatrace = add(gateway_process, triggers)
    answer = dynatrace.send(body, secret=secret)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json() or "message" in answer.json()
    assert gateway_process.admin("GET", "/api/v1/events").json()["items"] == []

"""What the gateway turned off, and for which problem, through the real gateway (a subprocess, over
HTTP): a Dynatrace stand-in posts notifications, flag triggers on a local fake record the calls.

A RESOLVED turns a flag back on only when this gateway turned it off for that very problem and it is
still off by us; the cooldown is held per flag across integrations; a failed flag action holds
neither the flag nor the cooldown."""

from __future__ import annotations

import pytest
from gateway.testing import Reply

from problem_helpers import SECRET, notification
from problem_process import DynatraceSender, decision, problems_gateway

OFF = "/webhook/triggers/7c1d/off"
ON = "/webhook/triggers/7c1d/on"
RULE = {"name": "checkout errors", "severities": ["ERROR"], "project_key": "shop", "environment_key": "production",
        "flag_key": "new-checkout-flow", "turn_on_when_resolved": True, "trigger": "off", "resolve_trigger": "on"}
OTHER = {"PID": "-7777_1700918000000V2", "ProblemID": "P-230413", "ProblemTitle": "Response time degradation",
         "ProblemDetailsJSONv2": None}


@pytest.fixture
def gateway_process(tmp_path):
    with problems_gateway(str(tmp_path), retry_schedule="0,0.2") as process:
        yield process


def add(gateway_process, triggers, name="Checkout kill switch", **config):
    response = gateway_process.admin("POST", "/api/v1/integrations", json={
        "plugin": "dynatrace-problems", "name": name,
        "config": {"shared_secret": SECRET, "rules": [RULE],
                   "trigger_urls": f"off={triggers.url}{OFF} on={triggers.url}{ON}", **config}})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def send(gateway_process, integration, body):
    return DynatraceSender(gateway_process, integration).send_accepted(body)


def test_resolved_does_not_turn_on_a_flag_this_problem_never_turned_off(gateway_process, triggers):
    integration = add(gateway_process, triggers)
    resolved = send(gateway_process, integration, notification(State="RESOLVED"))
    skipped = decision(gateway_process, resolved, "skipped")
    assert ("flag 'new-checkout-flow' in 'production' (project 'shop') is not off by this gateway (it did not "
            "turn it off for this problem, or it was turned back on since): it is left as it is") in skipped["reason"]
    assert triggers.received() == []


def test_the_flag_comes_back_on_with_the_problem_that_last_turned_it_off(gateway_process, triggers):
    integration = add(gateway_process, triggers, cooldown_seconds=0)
    first = send(gateway_process, integration, notification())
    decision(gateway_process, first, "delivered")
    second = send(gateway_process, integration, notification(**OTHER))
    decision(gateway_process, second, "delivered")
    early = send(gateway_process, integration, notification(State="RESOLVED"))
    skipped = decision(gateway_process, early, "skipped")
    assert ("was turned off by this gateway for problem P-230413 'Response time degradation', not for this one: "
            "it stays off until that problem is resolved") in skipped["reason"]
    last = send(gateway_process, integration, notification(State="RESOLVED", **OTHER))
    decision(gateway_process, last, "delivered")
    assert len(triggers.received(ON)) == 1
    again = send(gateway_process, integration, notification(PID="-8888_V2", ProblemID="P-9", State="RESOLVED",
                                                            ProblemDetailsJSONv2=None))
    assert "is not off by this gateway" in decision(gateway_process, again, "skipped")["reason"]


def test_two_integrations_acting_on_one_flag_share_its_cooldown(gateway_process, triggers):
    one = add(gateway_process, triggers, name="one", cooldown_seconds=3600)
    two = add(gateway_process, triggers, name="two", cooldown_seconds=3600)
    first = send(gateway_process, one, notification())
    decision(gateway_process, first, "delivered")
    second = send(gateway_process, two, notification())
    skipped = decision(gateway_process, second, "skipped")
    assert "cooldown" in skipped["reason"] and first in skipped["reason"]
    assert len(triggers.received(OFF)) == 1


def test_a_failed_flag_action_holds_neither_the_cooldown_nor_the_flag(gateway_process, triggers):
    triggers.queue(Reply(404, {"code": "not_found", "message": "Unknown trigger"}))
    integration = add(gateway_process, triggers, cooldown_seconds=3600)
    failed = send(gateway_process, integration, notification())
    assert "404: Unknown trigger (not_found)" in decision(gateway_process, failed, "dead")["reason"]
    resolved = send(gateway_process, integration, notification(State="RESOLVED"))
    assert "is not off by this gateway" in decision(gateway_process, resolved, "skipped")["reason"]
    second = send(gateway_process, integration, notification(**OTHER))
    decision(gateway_process, second, "delivered")
    assert len(triggers.received(OFF)) == 2 and triggers.received(ON) == []

"""check_event's guard rails and deliver_event's flag action, as units (the flag platform's answers
mocked; end to end in test_problems_end_to_end.py)."""

from __future__ import annotations

import gateway
import pytest
import requests
from gateway.testing import http_client, make_delivery_ref

from gateway_dynatrace import problems_plugin
from problem_helpers import INTEGRATION, SECRET, TRIGGER_URL, config, notification, request, rule

API = "https://app.launchdarkly.com"
FLAG_URL = f"{API}/api/v2/flags/shop/new-checkout-flow"
API_TOKEN = "api-0123456789abcdef0123456789abcdef"


def received(cfg, **changes):
    [event] = problems_plugin.receive_webhook(request(notification(**changes)), cfg, INTEGRATION).events
    return event


def check(cfg, **changes):
    return problems_plugin.check_event(received(cfg, **changes), cfg, INTEGRATION)


def test_the_test_notification_never_acts():
    cfg = config(rule(severities=[], tags=[]))
    event = problems_plugin.receive_webhook(request(notification("problem-test-run")), cfg, INTEGRATION).events[0]
    assert problems_plugin.check_event(event, cfg, INTEGRATION) == gateway.Skip(
        "Dynatrace test notification: recognised, never acts", overridable=False)


def test_no_matching_rule_says_why_each_did_not_match():
    verdict = check(config(rule(name="a", severities=["AVAILABILITY"])), ProblemSeverity="ERROR")
    assert verdict == gateway.Skip("no rule matched problem P-230412 'High failure rate': "
                                   "rule 'a': severity ERROR not in AVAILABILITY", overridable=False)


def test_resolved_without_turn_on_when_resolved_is_skipped():
    verdict = check(config(), State="RESOLVED")
    assert verdict.reason == ("problem P-230412 'High failure rate' resolved; rule 'checkout errors' does not "
                              "turn flag 'new-checkout-flow' back on (set turn_on_when_resolved)")


def test_a_merged_problem_is_recorded_and_acts_on_nothing_saying_why():
    assert check(config(rule(turn_on_when_resolved=True)), State="MERGED") == gateway.Skip(
        "problem P-230412 'High failure rate' was merged into another problem (MERGED): recorded, acts on "
        "nothing; the problem it was merged into is notified, and acted on, by itself", overridable=False)


def test_other_states_act_on_nothing():
    assert "is ACKNOWLEDGED: rules act on OPEN and RESOLVED only" in check(config(), State="ACKNOWLEDGED").reason


def test_dry_run_says_what_would_have_happened():
    verdict = check(config(dry_run=True))
    assert verdict == gateway.Skip(
        "dry run: rule 'checkout errors' would turn flag 'new-checkout-flow' off in 'production' "
        "(problem P-230412 'High failure rate', project 'shop'); set dry_run to false to act", overridable=False)


def test_no_skip_and_no_cooldown_of_a_flag_action_may_be_overridden():
    for verdict in (check(config(), State="RESOLVED"), check(config(), State="MERGED")):
        assert verdict.overridable is False
    assert check(config()).cooldown.overridable is False
    assert problems_plugin.integration_type().policy_overridable is False


def test_a_match_is_taken_with_a_cooldown_per_flag_and_direction():
    verdict = check(config())
    assert isinstance(verdict, gateway.Take)
    assert verdict.cooldown.key == "shop/production/new-checkout-flow/off"
    assert verdict.cooldown.seconds == 600
    assert "turn flag 'new-checkout-flow' off in 'production'" in verdict.cooldown.description
    on = check(config(rule(turn_on_when_resolved=True)), State="RESOLVED")
    assert on.cooldown.key == "shop/production/new-checkout-flow/on"


def test_no_cooldown_when_it_is_zero():
    assert check(config(cooldown_seconds=0)) == gateway.Take()


def test_rules_changed_between_receive_and_decide():
    event = received(config())
    verdict = problems_plugin.check_event(event, config(rule(name="renamed")), INTEGRATION)
    assert "the rules changed since problem P-230412" in verdict.reason


# delivery -----------------------------------------------------------------------------------------

def deliver(cfg, event, connected=True):
    http = http_client()
    platform = gateway.FlagPlatform(http, API, API_TOKEN) if connected else None
    return problems_plugin.deliver_event(event, cfg, http, make_delivery_ref(flag_platform=platform))


def test_open_turns_the_flag_off_through_the_api(requests_mock):
    requests_mock.patch(FLAG_URL, json={"key": "new-checkout-flow"})
    result = deliver(config(), received(config()))
    assert result.summary == ("flag 'new-checkout-flow' turned off in 'production' (project 'shop') through the "
                              "flag platform's API (200)")
    assert requests_mock.last_request.headers["Authorization"] == API_TOKEN
    body = requests_mock.last_request.json()
    assert body["instructions"] == [{"kind": "turnFlagOff"}] and body["environmentKey"] == "production"
    assert body["comment"] == ("Flag Event Gateway: Dynatrace problem P-230412 'High failure rate' (OPEN) "
                               "matched rule 'checkout errors'")


def test_resolved_turns_it_back_on(requests_mock):
    requests_mock.patch(FLAG_URL, json={})
    cfg = config(rule(turn_on_when_resolved=True))
    assert isinstance(deliver(cfg, received(cfg, State="RESOLVED")), gateway.Delivered)
    assert requests_mock.last_request.json()["instructions"] == [{"kind": "turnFlagOn"}]


@pytest.mark.parametrize("status, kind, words", [
    (429, gateway.RetryLater, "the flag platform answered 429 (Slow down (rate_limited)); will retry"),
    (503, gateway.RetryLater, "the flag platform answered 503"),
    (400, gateway.Failed, "refused to turn flag 'new-checkout-flow' off (400: Slow down (rate_limited)): check the rule"),
    (403, gateway.Failed, "may not change this flag"),
    (404, gateway.Failed, "no such project, environment, flag or trigger"),
])
def test_answers(requests_mock, status, kind, words):
    requests_mock.patch(FLAG_URL, status_code=status, json={"code": "rate_limited", "message": "Slow down"})
    result = deliver(config(), received(config()))
    assert isinstance(result, kind) and words in result.reason


def test_a_transport_error_is_left_to_the_core(requests_mock):
    requests_mock.patch(FLAG_URL, exc=requests.ConnectionError("connection refused"))
    cfg = config()
    with pytest.raises(gateway.TransportError):
        deliver(cfg, received(cfg))


def test_not_connected_fails_with_what_to_do():
    result = deliver(config(), received(config()), connected=False)
    assert result == gateway.Failed(
        "the gateway is not connected to the flag platform, so rule 'checkout errors' cannot turn flag "
        "'new-checkout-flow' off: connect it (event-gateway connect launchdarkly), or give the rule a trigger "
        "(trigger_urls)")


def test_a_trigger_is_called_instead_when_the_rule_names_one(requests_mock):
    requests_mock.post(TRIGGER_URL, json={})
    cfg = config(rule(trigger="off"), trigger_urls=f"off={TRIGGER_URL}")
    result = deliver(cfg, received(cfg), connected=False)
    assert result.summary.endswith("through trigger 'off' (200)")
    assert requests_mock.last_request.json()["problem"] == "P-230412"


def test_a_trigger_removed_from_the_config_fails():
    cfg = config(rule(trigger="off"), trigger_urls=f"off={TRIGGER_URL}")
    event = received(cfg)
    result = deliver(config(rule(trigger="off")), event)
    assert "uses trigger 'off', which is no longer in trigger_urls" in result.reason


def test_the_trigger_url_is_not_in_the_reason_of_a_redirect(requests_mock):
    requests_mock.post(TRIGGER_URL, status_code=302, headers={"Location": "https://elsewhere.example/x"})
    cfg = config(rule(trigger="off"), trigger_urls=f"off={TRIGGER_URL}")
    result = deliver(cfg, received(cfg))
    assert isinstance(result, gateway.Failed) and TRIGGER_URL not in result.reason
    assert "trigger 'off' redirects (302)" in result.reason

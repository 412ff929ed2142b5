"""Receiving Dynatrace problem notifications: the shared secret, bad input, and the event made of each."""

from __future__ import annotations

import json

import pytest
from gateway import Rejected

from gateway_dynatrace import problems_plugin
from gateway_dynatrace.problem_notification import problem_in_comment, read_problem
from problem_helpers import INTEGRATION, SECRET, config, notification, request, rule


def receive(body, **kwargs):
    return problems_plugin.receive_webhook(request(body, **kwargs), config(), INTEGRATION)


def test_an_open_problem_is_one_event_naming_the_flag_its_rule_acts_on():
    [event] = receive(notification()).events
    assert event.source == "dynatrace-problems"
    assert event.kind == "problem-open"
    assert event.title == "High failure rate"
    assert event.source_id == "-4823917347771938513_1700917929000V2:OPEN"
    assert [(a.action, a.resource) for a in event.accesses] == [
        ("updateOn", "proj/shop:env/production:flag/new-checkout-flow")]
    assert (event.project_key, event.environment_key, event.flag_key) == ("shop", "production", "new-checkout-flow")
    assert event.data["display_id"] == "P-230412"
    assert event.data["severity"] == "ERROR"
    assert event.data["management_zones"] == ["Checkout"]
    assert event.data["impacted_entities"][0]["entity"] == "SERVICE-5A3C1D2E4F607182"
    assert event.data["action"]["on"] is False and event.data["rule"] == "checkout errors"
    assert event.target_url.startswith("https://abc12345.live.dynatrace.com/")


def test_resolved_has_its_own_source_id_so_resends_of_each_state_are_duplicates():
    opened = receive(notification()).events[0]
    resolved = receive(notification(State="RESOLVED")).events[0]
    again = receive(notification()).events[0]
    assert resolved.kind == "problem-resolved"
    assert opened.source_id == again.source_id != resolved.source_id


def test_a_resolved_problem_names_a_flag_only_when_its_rule_turns_it_back_on():
    assert receive(notification(State="RESOLVED")).events[0].accesses == []
    cfg = config(rule(turn_on_when_resolved=True))
    [event] = problems_plugin.receive_webhook(request(notification(State="RESOLVED")), cfg, INTEGRATION).events
    assert event.data["action"]["on"] is True and len(event.accesses) == 1


def test_a_problem_no_rule_matches_is_an_event_without_accesses():
    [event] = receive(notification(ProblemSeverity="PERFORMANCE")).events
    assert event.accesses == [] and event.flag_key is None and event.data["rule"] is None


def test_the_test_notification_is_recognised_and_names_no_flag():
    [event] = receive(notification("problem-test-run", Tags="team:checkout")).events
    assert event.data["test"] is True and event.accesses == []


@pytest.mark.parametrize("secret, message", [
    (None, "missing X-Flag-Gateway-Secret header"),
    ("not-the-shared-secret-at-all", "does not match"),
    ("", "missing X-Flag-Gateway-Secret header"),
])
def test_a_missing_or_wrong_secret_is_refused_with_401(secret, message):
    with pytest.raises(Rejected) as refused:
        receive(notification(), secret=secret)
    assert refused.value.status == 401 and message in refused.value.message
    assert SECRET not in refused.value.message


def test_the_secret_is_checked_before_the_body_is_read():
    with pytest.raises(Rejected) as refused:
        receive(b"{not json", secret="wrong")
    assert refused.value.status == 401


def test_malformed_json_is_a_400():
    with pytest.raises(Rejected) as refused:
        receive(b'{"ProblemID": ')
    assert refused.value.status == 400


def test_another_content_type_is_a_415():
    with pytest.raises(Rejected) as refused:
        receive(json.dumps(notification()).encode(), content_type="text/plain")
    assert refused.value.status == 415


@pytest.mark.parametrize("body, message", [
    ([1, 2], "must be a JSON object"),
    (notification(ProblemID=None, PID=None, ProblemDetailsJSONv2=None), "missing ProblemID or PID"),
    (notification(ProblemTitle=None, ProblemDetailsJSONv2=None), "missing ProblemTitle"),
    (notification(State=None, ProblemDetailsJSONv2=None), "missing State"),
    (notification(State="  ", ProblemDetailsJSONv2=None), "missing State"),
    (notification(ProblemTitle={"a": 1}), "ProblemTitle must be a string"),
    (notification(Tags=7), "Tags must be a comma-separated string or a list of strings"),
    (notification(ImpactedEntities="MyHost1"), "ImpactedEntities must be a JSON array"),
    (notification(ImpactedEntities=[1]), "ImpactedEntities must be a JSON array"),
    (notification(ProblemDetailsJSON=[1]), "ProblemDetailsJSON must be a JSON object"),
    (notification(ProblemTitle="x" * 2001), "longer than 2000"),
])
def test_missing_or_wrong_fields_are_a_422_saying_which(body, message):
    with pytest.raises(Rejected) as refused:
        receive(body)
    assert refused.value.status == 422 and message in refused.value.message


def test_dynatrace_shapes_are_read_liberally():
    problem = read_problem(notification(
        ProblemID="230412", Tags=["team:checkout", " critical "], State="open", ProblemDetailsJSONv2=None,
        ImpactedEntities=json.dumps([{"type": "HOST", "name": "h1", "entity": "HOST-1"}]),
        ProblemDetailsJSON=json.dumps({"managementZones": [{"name": "Checkout"}, {"name": "Web"}]}),
        ManagementZones="Web, Payments"))
    assert problem.display_id == "P-230412"
    assert problem.tags == ("team:checkout", "critical")
    assert problem.state == "OPEN"
    assert problem.entities == ({"type": "HOST", "name": "h1", "entity": "HOST-1"},)
    assert problem.management_zones == ("Web", "Payments", "Checkout")


def test_dynatrace_s_default_payload_template_is_read_too():
    # The payload Dynatrace proposes for a new custom integration: "Problem URL" with a space, no
    # {ProblemSeverity}; the severity, impact and state are in the problem's details as well.
    body = {
        "ImpactedEntities": [{"type": "SERVICE", "name": "checkout-service", "entity": "SERVICE-1"}],
        "ImpactedEntity": "checkout-service",
        "PID": "-1234_5678V2",
        "ProblemDetailsHTML": "<h1>Failure rate increase</h1>",
        "ProblemDetailsJSON": {"displayId": "P-77", "severityLevel": "ERROR", "impactLevel": "SERVICES",
                               "status": "OPEN", "managementZones": [{"name": "Checkout"}]},
        "ProblemID": "77",
        "ProblemImpact": "SERVICE",
        "ProblemTitle": "Failure rate increase",
        "Problem URL": "https://abc.live.dynatrace.com/#problems/problemdetails;pid=-1234_5678V2",
        "State": "OPEN",
        "Tags": "team:checkout",
    }
    problem = read_problem(body)
    assert (problem.display_id, problem.state, problem.severity, problem.impact) == ("P-77", "OPEN", "ERROR", "SERVICE")
    assert problem.url == body["Problem URL"]
    assert problem.management_zones == ("Checkout",)
    without_state = read_problem({**body, "State": None})
    assert without_state.state == "OPEN"
    with pytest.raises(Exception, match="missing State"):
        read_problem({**body, "State": None, "ProblemDetailsJSON": {}})


def test_the_pid_stands_in_for_a_missing_problem_id():
    problem = read_problem(notification(ProblemID=None))
    assert problem.problem_id == problem.pid == "-4823917347771938513_1700917929000V2"


def test_the_comment_marker_is_read_back():
    assert problem_in_comment("Flag Event Gateway: Dynatrace problem P-230412 'High failure rate' (OPEN) "
                              "matched rule 'checkout errors'") == "P-230412"
    assert problem_in_comment("turned off by hand") is None
    assert problem_in_comment(None) is None

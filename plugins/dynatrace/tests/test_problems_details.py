"""Both detail structures ({ProblemDetailsJSONv2} and {ProblemDetailsJSON}), the states they name, and
rules that cannot be judged because the notification lacks a field they filter on."""

from __future__ import annotations

import gateway
import pytest

from gateway_dynatrace import problem_checks, problems_plugin
from gateway_dynatrace.problem_notification import read_problem
from gateway_dynatrace.problem_rules import first_match
from problem_helpers import INTEGRATION, config, notification, request, rule

ZONE_RULE = rule(name="slow search", severities=[], tags=[], management_zones=["Search"], flag_key="semantic-search")
BROAD_RULE = rule(name="any problem", severities=[], tags=[], flag_key="kill-switch")


def test_the_v2_structure_is_read():
    body = notification(Tags=None, ImpactedEntities=None, ProblemSeverity=None, ProblemTitle=None)
    problem = read_problem(body)
    assert problem.title == "High failure rate" and problem.severity == "ERROR"
    assert problem.management_zones == ("Checkout",)
    assert problem.tags == ("team:checkout", "env:production", "[Kubernetes]app:checkout", "critical")
    assert problem.entities == ({"type": "SERVICE", "name": "checkout-service", "entity": "SERVICE-5A3C1D2E4F607182"},)
    assert problem.carried == {"severity", "tags", "management_zones"}


def test_the_v1_structure_is_read_and_carries_no_management_zones():
    problem = read_problem(notification("problem-open-details-v1", Tags=None, ProblemSeverity=None))
    assert problem.severity == "ERROR"
    assert problem.tags == ("team:checkout", "env:production", "[KUBERNETES]app:checkout", "critical")
    assert problem.management_zones == () and problem.carried == {"severity", "tags"}


def test_the_v2_structure_under_the_v1_name_is_read_too():
    body = notification()
    body["ProblemDetailsJSON"] = body.pop("ProblemDetailsJSONv2")
    assert read_problem(body).management_zones == ("Checkout",)


@pytest.mark.parametrize("state, details_status, read", [
    ("RESOLVED", "CLOSED", "RESOLVED"),
    (None, "CLOSED", "RESOLVED"),
    (None, "OPEN", "OPEN"),
    ("MERGED", "OPEN", "MERGED"),
])
def test_states(state, details_status, read):
    body = notification(State=state)
    body["ProblemDetailsJSONv2"]["status"] = details_status
    assert read_problem(body).state == read


def test_a_rule_that_cannot_be_judged_stops_the_evaluation():
    problem = read_problem(notification("problem-open-details-v1"))
    match = first_match([rule(name="perf", severities=["PERFORMANCE"]), ZONE_RULE, BROAD_RULE], problem)
    assert match.rule is None and match.unjudged["name"] == "slow search" and match.lacking == ("management_zones",)
    assert match.unjudged_reason() == (
        "rule 'slow search' cannot be judged: the notification carries no management zones, which the rule "
        "filters on; no later rule acts. Add \"ProblemDetailsJSONv2\": {ProblemDetailsJSONv2} to the Dynatrace "
        "payload template (before it: rule 'perf': severity ERROR not in PERFORMANCE)")


def test_a_rule_failing_on_a_carried_field_does_not_stop_the_evaluation():
    problem = read_problem(notification("problem-open-details-v1"))
    failing = rule(name="payments zone", severities=["AVAILABILITY"], tags=[], management_zones=["Payments"])
    assert first_match([failing, BROAD_RULE], problem).rule["name"] == "any problem"


@pytest.mark.parametrize("changes, lacking", [
    ({"Tags": None, "ProblemDetailsJSONv2": None}, "entity tags"),
    ({"ProblemSeverity": None, "ProblemDetailsJSONv2": None}, "a severity"),
])
def test_tags_and_severity_can_be_missing_too(changes, lacking):
    problem = read_problem(notification(**changes))
    match = first_match([rule(name="r", severities=["ERROR"], tags=["team:checkout"]), BROAD_RULE], problem)
    assert match.unjudged["name"] == "r" and f"carries no {lacking}" in match.unjudged_reason()


def test_check_event_skips_naming_the_field_and_the_placeholder():
    cfg = config(ZONE_RULE, BROAD_RULE)
    [event] = problems_plugin.receive_webhook(request(notification("problem-open-details-v1")), cfg, INTEGRATION).events
    assert event.accesses == [] and event.flag_key is None
    verdict = problems_plugin.check_event(event, cfg, INTEGRATION)
    assert isinstance(verdict, gateway.Skip)
    assert verdict.reason.startswith("problem P-230412 'High failure rate': rule 'slow search' cannot be judged: "
                                     "the notification carries no management zones")


def test_the_status_check_turns_amber_while_notifications_lack_a_field_the_rules_use():
    ref = gateway.IntegrationRef(id="int_status_check", name="Checkout", plugin="dynatrace-problems")
    cfg = config(ZONE_RULE, BROAD_RULE)
    problem_checks.forget(ref.id)
    [check] = problems_plugin.integration_status(cfg, None, ref)
    assert (check.name, check.state) == ("notifications", "ok")
    problems_plugin.receive_webhook(request(notification()), cfg, ref)
    assert problems_plugin.integration_status(cfg, None, ref)[0].state == "ok"
    problems_plugin.receive_webhook(request(notification("problem-open-details-v1")), cfg, ref)
    [check] = problems_plugin.integration_status(cfg, None, ref)
    assert check.state == "warning"
    assert check.message.startswith("1 of the last 2 notifications carried no management zones, which rule "
                                    "'slow search' filters on: add \"ProblemDetailsJSONv2\": {ProblemDetailsJSONv2}")
    problem_checks.forget(ref.id)

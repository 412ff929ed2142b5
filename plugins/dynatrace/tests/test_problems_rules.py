"""The rules: the first match decides, each criterion, and why a rule did not match."""

from __future__ import annotations

import pytest

from gateway_dynatrace.problem_notification import read_problem
from gateway_dynatrace.problem_rules import action_for, comment_for, first_match, missing_tags
from problem_helpers import notification, rule


def problem(**changes):
    return read_problem(notification(**changes))


def test_the_first_matching_rule_decides():
    rules = [rule(name="perf", severities=["PERFORMANCE"]), rule(name="first"), rule(name="second")]
    match = first_match(rules, problem())
    assert match.rule["name"] == "first"
    assert match.explain() == "rule 'perf': severity ERROR not in PERFORMANCE"


def test_no_match_names_each_rule_and_why():
    rules = [rule(name="a", severities=["AVAILABILITY"]), rule(name="b", tags=["team:payments"]),
             rule(name="c", management_zones=["Payments"], severities=[]),
             rule(name="d", title_pattern="Response time*", severities=[])]
    match = first_match(rules, problem())
    assert match.rule is None
    assert match.explain() == (
        "rule 'a': severity ERROR not in AVAILABILITY; "
        "rule 'b': tag team:payments not on the impacted entities; "
        "rule 'c': not in management zone Payments; "
        "rule 'd': title does not match glob 'Response time*'")


@pytest.mark.parametrize("pattern, syntax, matches", [
    ("high failure*", "glob", True),
    ("*failure*", "glob", True),
    ("failure", "glob", False),
    ("failure rate$", "regex", True),
    ("^failure", "regex", False),
    ("(?i)HIGH", "regex", True),
    ("HIGH", "regex", False),
])
def test_title_patterns(pattern, syntax, matches):
    r = rule(title_pattern=pattern, title_pattern_syntax=syntax)
    assert (first_match([r], problem()).rule is not None) is matches


@pytest.mark.parametrize("wanted, missing", [
    (["team:checkout", "critical"], []),
    (["team"], []),
    (["app:checkout"], []),
    (["team:payments"], ["team:payments"]),
    (["critical:yes"], ["critical:yes"]),
    (["team:checkout", "owner"], ["owner"]),
])
def test_tags_all_must_be_present(wanted, missing):
    assert missing_tags(wanted, problem().tags) == missing


def test_empty_criteria_match_anything():
    assert first_match([rule(severities=[], tags=[])], problem(ProblemSeverity="", Tags="")).rule is not None


def test_management_zone_any_of():
    assert first_match([rule(management_zones=["Web", "Checkout"])], problem()).rule is not None


def test_open_turns_off_resolved_turns_on_only_when_asked():
    r = rule(turn_on_when_resolved=True, trigger="off", resolve_trigger="on")
    off = action_for(r, problem())
    on = action_for(r, problem(State="RESOLVED"))
    assert (off.on, off.trigger) == (False, "off") and (on.on, on.trigger) == (True, "on")
    assert action_for(rule(), problem(State="RESOLVED")) is None
    assert action_for(r, problem(State="MERGED")) is None


def test_the_comment_names_the_problem_and_the_rule():
    p = problem()
    assert comment_for(p, action_for(rule(), p)) == (
        "Flag Event Gateway: Dynatrace problem P-230412 'High failure rate' (OPEN) matched rule 'checkout errors'")

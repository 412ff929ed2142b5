"""A regex title_pattern runs on the gateway's linear-time engine: ``^(a|a)+$`` against a long title
is answered at once instead of backtracking in the intake thread, and a pattern the engine cannot
run (a backreference, lookaround) is refused when the config is saved."""

from __future__ import annotations

import re

import pytest
from gateway.testing import InvalidConfig, PluginHarness

from gateway_dynatrace import problems_plugin
from gateway_dynatrace.problem_notification import read_problem
from gateway_dynatrace.problem_rules import compile_title_pattern, first_match
from problem_helpers import SECRET, notification, rule

RULE = {"name": "checkout errors", "project_key": "shop", "environment_key": "production",
        "flag_key": "new-checkout-flow"}


def test_a_backtracking_pattern_does_not_stall_matching():
    # checked first, so that a backtracking engine fails here instead of running for hours below
    assert not isinstance(compile_title_pattern("^(a|a)+$", "regex"), re.Pattern)
    r = rule(title_pattern="^(a|a)+$", title_pattern_syntax="regex")
    problem = read_problem(notification(ProblemTitle="a" * 1990 + "b"))
    assert first_match([r], problem).rule is None


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=x)y", "(?<=x)y"])
def test_patterns_the_engine_cannot_run_are_refused(pattern):
    with PluginHarness(problems_plugin, name="dynatrace-problems") as harness:
        with pytest.raises(InvalidConfig) as refused:
            harness.configure({"shared_secret": SECRET,
                               "rules": [{**RULE, "title_pattern": pattern, "title_pattern_syntax": "regex"}]})
    assert "not a valid regular expression" in str(refused.value.errors["config.rules.0.title_pattern"])

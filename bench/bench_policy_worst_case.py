"""The worst case of policy matching for one webhook at the access limits, against a maximal policy.

Run from the repository root::

    .venv/bin/python bench/bench_policy_worst_case.py

The policy is as large as a policy may be (``gateway/policy/limits.py``: 200 statements, 500
patterns of 256 characters) and made to cost the most per character: every pattern is a run of
``*a`` that the resources almost match, so each of them is followed to the end of every resource.
The webhook carries the most characters of accesses a webhook may hold (MAX_ACCESS_CHARACTERS),
as the longest resources allowed, each different. It prints the time of one evaluation (the best
and the median of several) beside the baseline: reading the same webhook body with the strict JSON
reader, which every webhook pays anyway. The goal: under 50 ms.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway import strict_json  # noqa: E402
from gateway.host.builtin.launchdarkly import normalize_audit_entry  # noqa: E402
from gateway.policy import compile_policy, limits  # noqa: E402

GOAL_MS = 50.0


def maximal_policy(scope: str) -> list[dict]:
    """200 statements, 500 patterns of at most 256 characters, each a long run of ``*a``."""
    def pattern(index: int, k: int) -> str:
        end = f"*b{index}.{k}"
        fixed = len("proj/:env/*:flag/*") + len(end)
        stars = "*a" * ((limits.MAX_PATTERN_LENGTH - fixed) // 2) + end
        return f"proj/{stars}:env/*:flag/*" if scope == "proj" else f"proj/*:env/*:flag/{stars}"

    statements = []
    extra = limits.MAX_PATTERNS - 2 * limits.MAX_STATEMENTS  # each has one action and one resource at least
    for index in range(limits.MAX_STATEMENTS):
        resources = 2 if index < extra else 1
        statements.append({"effect": "deny" if index % 2 else "allow",
                           "resources": [pattern(index, k) for k in range(resources)], "actions": ["*"]})
    assert sum(len(s["resources"]) + 1 for s in statements) <= limits.MAX_PATTERNS
    return statements


def webhook(scope: str, many: bool) -> bytes:
    """An audit entry whose accesses hold the most characters allowed: in the longest resources, or
    (``many``) in as many accesses as allowed."""
    action = "updateOn"
    if many:
        count = limits.MAX_ACCESSES
        per = limits.MAX_ACCESS_CHARACTERS // count - len(action)
    else:
        per = limits.MAX_RESOURCE_LENGTH
        count = limits.MAX_ACCESS_CHARACTERS // (per + len(action))
    accesses = []
    for n in range(count):
        tail = f"{n:04d}"
        if scope == "proj":
            head, rest = "proj/", f":env/e:flag/f{tail}"
        else:
            head, rest = "proj/p:env/e:flag/", tail
        accesses.append({"action": action, "resource": head + "a" * (per - len(head) - len(rest)) + rest})
    return json.dumps({"_id": "worst", "kind": "flag", "date": 1700917929000, "accesses": accesses,
                       "title": "worst case"}).encode()


def timed(call, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    print(f"limits: {limits.MAX_ACCESSES} accesses, {limits.MAX_RESOURCE_LENGTH} characters per resource, "
          f"{limits.MAX_ACCESS_CHARACTERS} in all; policy: {limits.MAX_STATEMENTS} statements, "
          f"{limits.MAX_PATTERNS} patterns of up to {limits.MAX_PATTERN_LENGTH} characters")
    worst = 0.0
    for scope, many in (("proj", False), ("flag", False), ("proj", True), ("flag", True)):
        policy = compile_policy(maximal_policy(scope))
        body = webhook(scope, many)
        event = normalize_audit_entry(strict_json.loads(body))
        evaluate = timed(lambda: policy.evaluate(event.accesses, tags=event.scope_tags,
                                                 attributes=event.scope_attributes), 7)
        baseline = timed(lambda: strict_json.loads(body), 7)
        best, median = min(evaluate), statistics.median(evaluate)
        worst = max(worst, median)
        print(f"stars in the {scope} key: {len(event.accesses)} accesses, {len(body)} bytes; "
              f"evaluation best {best:.1f} ms, median {median:.1f} ms; "
              f"baseline (strict JSON read of the body) median {statistics.median(baseline):.2f} ms; "
              f"ratio {median / statistics.median(baseline):.0f}")
    print(f"worst median {worst:.1f} ms against a goal of {GOAL_MS:.0f} ms: {'met' if worst < GOAL_MS else 'NOT met'}")
    return 0 if worst < GOAL_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())

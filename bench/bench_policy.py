"""Benchmark the policy engine against a naive evaluator, and check it does not slow down over time.

Run from the repository root::

    .venv/bin/python bench/bench_policy.py            # defaults finish well under a minute
    .venv/bin/python bench/bench_policy.py --help

It prints evaluations per second for two policies (LaunchDarkly's default Dynatrace policy and a
realistic 20-statement one), each with the compiled engine and with a naive evaluator that
re-parses the statements and calls ``fnmatch`` on every evaluation, and the speed-up. Then it
evaluates many distinct events in a row and compares the rate over the first and the last
window: the engine keeps no per-event state, so the two should be about equal.
"""

from __future__ import annotations

import argparse
import fnmatch
import platform
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.policy import Access, CompiledPolicy, compile_policy

DEFAULT_POLICY: list[dict[str, Any]] = [
    {"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]},
]

REALISTIC_POLICY: list[dict[str, Any]] = [
    {"effect": "allow", "resources": ["proj/*:env/production:flag/*"],
     "actions": ["updateOn", "updateFallthrough", "updateRules", "updateTargets"]},
    {"effect": "allow", "resources": ["proj/checkout:env/staging:flag/*;frontend"], "actions": ["update*"]},
    {"effect": "deny", "resources": ["proj/*:env/*:flag/ops_*"], "actions": ["*"]},
    {"effect": "allow", "resources": ["proj/*:env/*;{critical:true}:flag/*"], "actions": ["updateOn"]},
    {"effect": "deny", "resources": ["proj/*:env/*:flag/*;experimental"], "actions": ["deleteFlag"]},
    {"effect": "allow", "resources": ["proj/mobile-app:env/*:flag/*;mobile"], "actions": ["*"]},
    {"effect": "allow", "resources": ["proj/*:env/*:segment/*"],
     "actions": ["updateIncluded", "updateExcluded", "updateRules"]},
    {"effect": "deny", "resources": ["proj/*:env/dev-*:flag/*"], "actions": ["*"]},
    {"effect": "allow", "notResources": ["proj/*:env/production:flag/*", "proj/*:env/staging:flag/*"],
     "actions": ["createFlag"]},
    {"effect": "allow", "resources": ["proj/platform:env/*:flag/kill-*"], "actions": ["updateOn"]},
    {"effect": "deny", "resources": ["proj/billing:env/production:flag/*;fedramp"], "notActions": ["updateOn"]},
    {"effect": "allow", "resources": ["proj/*:env/~:flag/*"],
     "actions": ["updateName", "updateDescription", "updateTags"]},
    {"effect": "allow", "resources": ["proj/search:env/*:flag/exp-*"], "actions": ["updateRules", "updateFallthrough"]},
    {"effect": "deny", "resources": ["proj/*:env/test:flag/*;qa_*"], "actions": ["updateTargets"]},
    {"effect": "allow", "resources": ["proj/*:env/*"], "actions": ["updateName", "updateTtl"]},
    {"effect": "allow", "resources": ["proj/*:env/staging:flag/release-*"], "actions": ["*"]},
    {"effect": "deny", "resources": ["proj/*:env/production:flag/*;experimental,backend"], "actions": ["updateOn"]},
    {"effect": "allow", "resources": ["proj/*:metric/*"], "actions": ["*"]},
    {"effect": "allow", "resources": ["proj/billing:env/*:flag/*"], "notActions": ["deleteFlag"]},
    {"effect": "deny", "resources": ["proj/*:env/*:flag/legacy-*"], "actions": ["update*"]},
]

Event = tuple[list[Access], dict[str, list[str]], dict[str, dict[str, Any]]]

PROJECTS = ["checkout", "search", "mobile-app", "platform", "billing"]
ENVIRONMENTS = ["production", "staging", "test", "dev-alice", "~"]
FLAG_PREFIXES = ["ops_", "exp-", "release-", "kill-", "legacy-", ""]
ACTIONS = ["updateOn", "updateRules", "updateFallthrough", "updateTargets", "createFlag", "deleteFlag",
           "updateName", "updateOffVariation", "updateIncluded"]
TAGS = ["frontend", "backend", "mobile", "qa_smoke", "experimental", "fedramp"]


def make_events(count: int, rng: random.Random) -> list[Event]:
    """``count`` distinct events: every flag, segment or environment key is new."""
    events: list[Event] = []
    for number in range(count):
        project, environment = rng.choice(PROJECTS), rng.choice(ENVIRONMENTS)
        roll = rng.random()
        if roll < 0.85:
            resource = f"proj/{project}:env/{environment}:flag/{rng.choice(FLAG_PREFIXES)}flag-{number}"
        elif roll < 0.95:
            resource = f"proj/{project}:env/{environment}:segment/segment-{number}"
        else:
            resource = f"proj/{project}:env/{environment}-{number}"
        tags = {"flag": rng.sample(TAGS, rng.randint(0, 3))}
        attributes = {"env": {"critical": environment == "production"}}
        events.append(([Access(rng.choice(ACTIONS), resource)], tags, attributes))
    return events


def naive_evaluate(policy: Sequence[Mapping[str, Any]], accesses: Sequence[Access],
                   tags: Mapping[str, Sequence[str]], attributes: Mapping[str, Mapping[str, Any]]) -> bool:
    """The straightforward evaluator: re-parse every statement and ``fnmatch`` every name, every call."""
    allowed = False
    for access in accesses:
        scopes = [scope.partition("/") for scope in access.resource.split(":")]
        for statement in policy:
            negate_actions = "notActions" in statement
            action_hit = any(fnmatch.fnmatch(access.action, pattern)
                             for pattern in statement["notActions" if negate_actions else "actions"])
            if action_hit == negate_actions:
                continue
            negate_resources = "notResources" in statement
            specifiers = statement["notResources" if negate_resources else "resources"]
            resource_hit = any(_naive_specifier_matches(spec, scopes, tags, attributes) for spec in specifiers)
            if resource_hit == negate_resources:
                continue
            if statement["effect"] == "deny":
                return False
            allowed = True
    return allowed


def _naive_specifier_matches(specifier: str, scopes: list[tuple[str, str, str]],
                             tags: Mapping[str, Sequence[str]], attributes: Mapping[str, Mapping[str, Any]]) -> bool:
    parts = specifier.split(":")
    if len(parts) != len(scopes):
        return False
    for part, (resource_type, _, key) in zip(parts, scopes, strict=True):
        head, _, modifiers = part.partition(";")
        spec_type, _, spec_key = head.partition("/")
        if spec_type != resource_type or not fnmatch.fnmatch(key, spec_key or "*"):
            return False
        for modifier in filter(None, modifiers.split(",")):
            if modifier.startswith("{"):
                name, _, value = modifier[1:-1].partition(":")
                carried = attributes.get(resource_type, {})
                if name not in carried or str(carried[name]).lower() != value:
                    return False
            elif not any(fnmatch.fnmatch(tag, modifier) for tag in tags.get(resource_type, ())):
                return False
    return True


def seconds(evaluate: Callable[[Event], object], events: Sequence[Event]) -> float:
    """Wall-clock seconds for one pass of ``evaluate`` over ``events``."""
    start = time.perf_counter()
    for event in events:
        evaluate(event)
    return time.perf_counter() - start


def rates(evaluators: Sequence[Callable[[Event], object]], events: Sequence[Event], repeats: int) -> list[float]:
    """Evaluations per second of each evaluator over ``events``, the best of ``repeats`` passes.

    Passes of the evaluators alternate, and the best pass of each counts, so that a burst of
    other work on the machine cannot favour one of them.
    """
    best = [float("inf")] * len(evaluators)
    for _ in range(repeats):
        for position, evaluate in enumerate(evaluators):
            best[position] = min(best[position], seconds(evaluate, events))
    return [len(events) / elapsed for elapsed in best]


def compiled_evaluator(policy: CompiledPolicy) -> Callable[[Event], object]:
    return lambda event: policy.evaluate(*event)


def naive_evaluator(raw: Sequence[Mapping[str, Any]]) -> Callable[[Event], object]:
    return lambda event: naive_evaluate(raw, *event)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=50_000, help="events per engine-vs-naive run")
    parser.add_argument("--distinct", type=int, default=200_000, help="distinct events in the growth run")
    parser.add_argument("--window", type=int, default=10_000, help="events in the first and last window")
    parser.add_argument("--repeats", type=int, default=3, help="passes per measurement; the best counts")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the generated events")
    args = parser.parse_args()
    if args.distinct < 2 * args.window:
        parser.error("--distinct must be at least twice --window")
    rng = random.Random(args.seed)

    events = make_events(args.evaluations, rng)
    print(f"Policy engine benchmark: Python {platform.python_version()}, "
          f"{args.evaluations:,} distinct events per run, best of {args.repeats} passes\n")
    print(f"{'policy':<28}{'compiled evals/s':>18}{'naive evals/s':>16}{'speed-up':>10}{'agree':>8}")
    for label, raw in (("default (1 statement)", DEFAULT_POLICY), ("realistic (20 statements)", REALISTIC_POLICY)):
        policy = compile_policy(raw)
        agree = all(policy.evaluate(*event).allowed == naive_evaluate(raw, *event) for event in events)
        compiled, naive = rates([compiled_evaluator(policy), naive_evaluator(raw)], events, args.repeats)
        print(f"{label:<28}{compiled:>18,.0f}{naive:>16,.0f}{compiled / naive:>9.1f}x{'yes' if agree else 'NO':>8}")
    (floor,) = rates([compiled_evaluator(compile_policy([]))], events, args.repeats)
    print(f"{'empty policy (the floor)':<28}{floor:>18,.0f}")
    print("The floor is the cost of a call that builds a decision and does no matching at all.")

    policy = compile_policy(REALISTIC_POLICY)
    evaluate = compiled_evaluator(policy)
    stream = make_events(args.distinct, rng)
    window = args.window
    (first,) = rates([evaluate], stream[:window], args.repeats)
    for event in stream[window:-window]:
        evaluate(event)
    (last,) = rates([evaluate], stream[-window:], args.repeats)
    print(f"\nGrowth: {args.distinct:,} distinct events through the realistic policy")
    print(f"{'window':<28}{'evals/s':>18}")
    print(f"{f'first {window:,}':<28}{first:>18,.0f}")
    print(f"{f'last {window:,}':<28}{last:>18,.0f}")
    print(f"{'last / first':<28}{last / first:>18.2f}")


if __name__ == "__main__":
    main()

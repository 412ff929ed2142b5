"""The guard rails and the flag action of the ``dynatrace-problems`` integration.

:func:`check` decides, for a received problem, whether a flag action is taken (``check_event``);
:func:`deliver` performs it (``deliver_event``) and reads the flag platform's answer.
"""

from __future__ import annotations

from typing import Any

from gateway import (
    Cooldown, Delivered, DeliveryRef, DeliveryResult, Event, Failed, FlagHolds, HttpClient, HttpResponse,
    RetryLater, Skip, Take, TargetNotAllowed, Verdict,
)

from .problem_notification import Problem, problem_from_data
from .problem_rules import OPEN, RESOLVED, Action, action_from_data, comment_for, first_match, parse_triggers

TEST_SKIP = "Dynatrace test notification: recognised, never acts"
MERGED = "MERGED"


def _problem_words(problem: Problem) -> str:
    return f"problem {problem.display_id} '{problem.title}'"


def cooldown_key(action: Action) -> str:
    """One cooldown per flag and direction, shared by every integration: ``shop/production/checkout-v2/off``."""
    return f"{action.project_key}/{action.environment_key}/{action.flag_key}/{action.direction}"


def _not_ours(problem: Problem, action: Action, holds: FlagHolds | None) -> str | None:
    """Why turning the flag back on for ``problem`` is not this integration's to do, or None when this
    gateway turned it off for that very problem and it is still off by us (or there is no memory)."""
    if holds is None or not action.on:
        return None
    held = holds.holder(action.project_key, action.environment_key, action.flag_key)
    flag = f"flag '{action.flag_key}' in '{action.environment_key}' (project '{action.project_key}')"
    if held is None:
        return (f"{_problem_words(problem)} resolved; {flag} is not off by this gateway (it did not turn it off "
                "for this problem, or it was turned back on since): it is left as it is")
    if held.cause != problem.pid:
        return (f"{_problem_words(problem)} resolved; {flag} was turned off by this gateway for problem "
                f"{held.label}, not for this one: it stays off until that problem is resolved")
    return None


def check(event: Event, config: dict[str, Any], holds: FlagHolds | None = None) -> Verdict:
    """Skip, with a reason a person can act on, or take the event with the flag's cooldown. No skip may
    be overridden: each means there is no action to take, or (dry run) that none may be taken."""
    problem = problem_from_data(event.data)
    if event.data.get("test"):
        return Skip(TEST_SKIP, overridable=False)
    if problem.state == MERGED:
        return Skip(f"{_problem_words(problem)} was merged into another problem (MERGED): recorded, acts on "
                    "nothing; the problem it was merged into is notified, and acted on, by itself",
                    overridable=False)
    match = first_match(config["rules"], problem)
    if match.unjudged is not None:
        return Skip(f"{_problem_words(problem)}: {match.unjudged_reason()}", overridable=False)
    if match.rule is None:
        return Skip(f"no rule matched {_problem_words(problem)}: {match.explain()}", overridable=False)
    rule = match.rule
    if problem.state == RESOLVED and not rule["turn_on_when_resolved"]:
        return Skip(f"{_problem_words(problem)} resolved; rule '{rule['name']}' does not turn "
                    f"flag '{rule['flag_key']}' back on (set turn_on_when_resolved)", overridable=False)
    if problem.state not in (OPEN, RESOLVED):
        return Skip(f"{_problem_words(problem)} is {problem.state}: rules act on OPEN and RESOLVED only",
                    overridable=False)
    stored = event.data.get("action")
    if not stored or stored.get("rule") != rule["name"]:
        return Skip(f"the rules changed since {_problem_words(problem)} was received: "
                    "it is not acted on (Dynatrace's next notification will be)", overridable=False)
    action = action_from_data(stored)
    if config["dry_run"]:
        return Skip(f"dry run: rule '{rule['name']}' would turn flag '{action.flag_key}' {action.direction} "
                    f"in '{action.environment_key}' ({_problem_words(problem)}, project "
                    f"'{action.project_key}'); set dry_run to false to act", overridable=False)
    not_ours = _not_ours(problem, action, holds)  # (a dry run turns nothing off, so it is not asked)
    if not_ours is not None:
        return Skip(not_ours, overridable=False)
    seconds = config["cooldown_seconds"]
    if not seconds:
        return Take()
    return Take(cooldown=Cooldown(
        key=cooldown_key(action), seconds=float(seconds), shared=True,
        description=f"{action.describe()} by rule '{rule['name']}' for {_problem_words(problem)}",
        overridable=False))


def _platform_message(response: HttpResponse) -> str:
    """What the flag platform said: its ``message`` (and ``code``), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("code")
        return f"{body['message']} ({code})" if isinstance(code, str) and code else body["message"]
    return response.text.strip()[:200] or "no message"


def read_answer(response: HttpResponse, action: Action, through: str) -> DeliveryResult:
    """2xx delivered; 429 and 5xx retried; a redirect or another 4xx failed with the platform's message."""
    status = response.status_code
    if response.ok:
        return Delivered(f"flag '{action.flag_key}' turned {action.direction} in '{action.environment_key}' "
                                 f"(project '{action.project_key}') through {through} ({status})",
                                 {"status": status, "through": through, **action.to_data()})
    message = _platform_message(response)
    if response.is_retryable:
        return RetryLater(f"the flag platform answered {status} ({message}); will retry",
                                  after=response.retry_after)
    if 300 <= status < 400:
        return Failed(f"{through} redirects ({status}) to {response.headers.get('Location')}: "
                              "give the URL it points to")
    hint = {401: "the token or trigger is not valid: reconnect the flag platform or replace the trigger URL",
            403: "the connection's token may not change this flag: give it a role that may update flags",
            404: "no such project, environment, flag or trigger: check the rule's keys",
            }.get(status, "check the rule")
    return Failed(f"the flag platform refused to turn flag '{action.flag_key}' {action.direction} "
                          f"({status}: {message}): {hint}")


def remember(result: DeliveryResult, problem: Problem, action: Action, holds: FlagHolds | None) -> DeliveryResult:
    """Once the flag was turned off, hold it for ``problem``; once turned back on, release it."""
    if holds is not None and isinstance(result, Delivered):
        if action.on:
            holds.release(action.project_key, action.environment_key, action.flag_key)
        else:
            holds.hold(action.project_key, action.environment_key, action.flag_key, cause=problem.pid,
                       label=f"{problem.display_id} '{problem.title}'"[:400])
    return result


def deliver(event: Event, config: dict[str, Any], http: HttpClient,
            delivery: DeliveryRef) -> DeliveryResult:
    """Perform the event's flag action, and remember what it did. :class:`TransportError` propagates (retried)."""
    problem = problem_from_data(event.data)
    stored = event.data.get("action")
    if not stored:
        return Failed("the event names no flag action (it matched no rule when received)")
    action = action_from_data(stored)
    return remember(_act(problem, action, config, http, delivery), problem, action,
                    delivery.integration.flag_holds)


def _act(problem: Problem, action: Action, config: dict[str, Any], http: HttpClient,
         delivery: DeliveryRef) -> DeliveryResult:
    comment = comment_for(problem, action)
    if action.trigger:
        url = parse_triggers(config.get("trigger_urls")).get(action.trigger)
        if url is None:
            return Failed(f"rule '{action.rule}' uses trigger '{action.trigger}', which is no longer in "
                                  "trigger_urls: add it again, or change the rule")
        try:
            response = http.post(url, json={"comment": comment, "problem": problem.display_id})
        except TargetNotAllowed as exc:
            return Failed(f"trigger '{action.trigger}' may not be called: {exc}")
        return read_answer(response, action, f"trigger '{action.trigger}'")
    platform = delivery.flag_platform
    if platform is None:
        return Failed(
            f"the gateway is not connected to the flag platform, so rule '{action.rule}' cannot turn flag "
            f"'{action.flag_key}' {action.direction}: connect it (event-gateway connect launchdarkly), or give "
            "the rule a trigger (trigger_urls)")
    try:
        response = platform.turn_flag(project_key=action.project_key, environment_key=action.environment_key,
                                      flag_key=action.flag_key, on=action.on, comment=comment)
    except TargetNotAllowed as exc:
        return Failed(f"the flag platform's API may not be called: {exc}")
    return read_answer(response, action, "the flag platform's API")

"""The hooks of the ``dynatrace-problems`` integration: Dynatrace problems turn flags off, and back on.

Published under the ``event_gateway`` entry-point group as ``dynatrace-problems``. Each problem
notification Dynatrace posts is one event; the first matching rule names the flag it acts on, the
integration's policy decides whether rules may change that flag, ``check_event`` applies the guard
rails (test notification, dry run, cooldown), and each action is a delivery: a semantic patch through
the gateway's flag-platform connection, or a call of a flag trigger.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from gateway import (
    Access, DeliveryRef, DeliveryResult, Event, HttpClient, InboundRequest, IntegrationRef,
    IntegrationType, Received, Rejected, StatusCheck, Verdict, hooks,
)

from . import problem_actions, problem_checks
from .problem_notification import SOURCE, MalformedNotification, Problem, event_kind, read_problem, verify_secret
from .problem_rules import Action, action_for, first_match, parse_triggers
from .problem_schema import ProblemsConfigSchema

KEY = SOURCE
TOGGLE_ACTION = "updateOn"
"""The flag platform's action for turning a flag on or off: what the policy is asked about."""
DEFAULT_POLICY = [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": [TOGGLE_ACTION]}]


@hooks.integration_type
def integration_type() -> IntegrationType:
    """Takes only the problem notifications Dynatrace posts to it."""
    return IntegrationType(
        key=KEY,
        name="Dynatrace problems → flag actions",
        description=("Receives Dynatrace problem notifications and, by ordered rules, turns a flag off while "
                     "a problem is open (and back on when it is resolved), through the flag platform's API or "
                     "a flag trigger; with a policy, a cooldown per flag and a dry-run mode."),
        config_schema=ProblemsConfigSchema,
        default_policy=copy.deepcopy(DEFAULT_POLICY),
        sources=(),
        # the policy says which flags rules may change: no one sends a flag action despite it
        policy_overridable=False,
    )


def _event(problem: Problem, body: Any, action: Action | None, rule_name: str | None) -> Event:
    data = problem.to_data()
    if action is not None:
        data["action"] = action.to_data()
    data["rule"] = rule_name
    return Event(
        source=SOURCE,
        source_id=f"{problem.pid}:{problem.state}",
        kind=event_kind(problem.state),
        occurred_at=datetime.now(timezone.utc),
        title=problem.title,
        accesses=[Access(TOGGLE_ACTION, action.resource)] if action else [],
        project_key=action.project_key if action else None,
        environment_key=action.environment_key if action else None,
        flag_key=action.flag_key if action else None,
        target_url=problem.url or None,
        description=f"Dynatrace problem {problem.display_id} ({problem.state}): {problem.title}",
        data=data,
        raw=body,
    )


@hooks.receive_webhook
def receive_webhook(
    request: InboundRequest, config: dict[str, Any], integration: IntegrationRef
) -> Received:
    """Verify the shared secret, read the notification, and name the flag its first matching rule acts on."""
    verify_secret(request, config["shared_secret"])
    body = request.json()
    try:
        problem = read_problem(body)
    except MalformedNotification as exc:
        raise Rejected(422, str(exc)) from None
    problem_checks.remember(integration.id, problem)
    match = first_match(config["rules"], problem) if not problem.is_test else None
    action = action_for(match.rule, problem) if match and match.rule else None
    event = _event(problem, body, action, match.rule["name"] if match and match.rule else None)
    return Received(events=[event], message=f"Dynatrace problem {problem.display_id} "
                                                    f"({problem.state}) received")


@hooks.check_event
def check_event(event: Event, config: dict[str, Any], integration: IntegrationRef) -> Verdict:
    """The guard rails: test notifications, unmatched problems, dry run; else take it, with a cooldown."""
    return problem_actions.check(event, config, integration.flag_holds)


@hooks.deliver_event
def deliver_event(
    event: Event, config: dict[str, Any], http: HttpClient, delivery: DeliveryRef
) -> DeliveryResult:
    """Turn the flag off (or on): a semantic patch through the flag-platform connection, or a trigger call."""
    http.add_secrets(*parse_triggers(config.get("trigger_urls")).values())
    return problem_actions.deliver(event, config, http, delivery)


@hooks.integration_status
def integration_status(config: dict[str, Any], http: HttpClient, integration: IntegrationRef) -> list[StatusCheck]:
    """Whether recent notifications carried the fields the rules filter on (:mod:`.problem_checks`)."""
    return [problem_checks.notifications_check(config, integration.id)]

"""``event-gateway policy check``: the policy simulator on the command line."""

from __future__ import annotations

import click

from gateway.events import Access
from gateway.host.inbound_request import Rejected
from gateway.host.builtin.launchdarkly import normalize_audit_entry
from gateway.policy import PolicyError, compile_policy
from gateway.admin.cli.output import emit, parse_json_option


@click.group("policy")
def policy() -> None:
    """Try policies."""


@policy.command("check")
@click.option("--policy", "policy_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JSON file with the policy statements.")
@click.option("--event", "event_file", type=click.Path(exists=True, dir_okay=False),
              help="JSON file with a webhook body.")
@click.option("--access", default=None, metavar="ACTION:RESOURCE",
              help="One access instead of an event, e.g. updateOn:proj/p:env/production:flag/f.")
def check(policy_file: str, event_file: str | None, access: str | None) -> None:
    """Evaluate a policy. Exit status: 0 allowed, 1 denied, 2 bad input."""
    if (event_file is None) == (access is None):
        raise click.UsageError("give exactly one of --event or --access")
    try:
        compiled = compile_policy(parse_json_option("@" + policy_file, "--policy"))
    except PolicyError as exc:
        raise click.UsageError(f"invalid policy: {exc}") from None
    if access is not None:
        action, sep, resource = access.partition(":")
        if not sep or not action or not resource:
            raise click.BadParameter("expected ACTION:RESOURCE", param_hint="--access")
        decision = compiled.evaluate([Access(action, resource)])
    else:
        try:
            event = normalize_audit_entry(parse_json_option("@" + event_file, "--event"))
        except Rejected as exc:
            raise click.UsageError(f"invalid event: {exc.message}") from None
        decision = compiled.evaluate(event.accesses, tags=event.scope_tags, attributes=event.scope_attributes)
    emit({"allowed": decision.allowed, "reason": decision.reason, "statement": decision.statement})
    raise SystemExit(0 if decision.allowed else 1)

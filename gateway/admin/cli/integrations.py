"""``event-gateway integrations list|add|show|enable|disable|remove|replay|test|status|action``."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from gateway.admin import operations
from gateway.admin.api import serialize
from gateway.host.state import get_state
from gateway.admin.cli.deliveries import since_option
from gateway.admin.cli.output import before_app, emit, json_object_option, json_option, run_operation


def _row(integration_id: str):
    row = get_state().db.integrations.get(integration_id)
    if row is None:
        raise click.ClickException(f"no integration {integration_id!r}")
    return row


@click.group("integrations")
def integrations() -> None:
    """Configured integrations."""


@integrations.command("list")
@with_appcontext
def list_() -> None:
    """List integrations (secrets masked)."""
    state = get_state()
    emit([serialize.integration(state, row) for row in state.db.integrations.list()])


@integrations.command("add")
@click.argument("plugin")
@click.option("--name", required=True, help="A name people recognise.")
@click.option("--config", "config", default="{}", callback=json_option, help="Config as JSON, or @FILE.")
@click.option("--policy", "policy", default=None, callback=json_option,
              help="Policy statements as JSON, or @FILE (default: the plugin's).")
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@with_appcontext
def add(plugin: str, name: str, config: Any, policy: Any, disabled: bool) -> None:
    """Add an integration of PLUGIN."""
    state = get_state()
    data = {"plugin": plugin, "name": name, "enabled": not disabled, "config": config, "policy": policy}
    row = run_operation(lambda: operations.create_integration(state, data, "cli"))
    emit(serialize.integration(state, row))


@integrations.command("show")
@click.argument("integration_id")
@with_appcontext
def show(integration_id: str) -> None:
    """Show one integration (secrets masked)."""
    emit(serialize.integration(get_state(), _row(integration_id)))


def _set_enabled(integration_id: str, enabled: bool) -> None:
    state = get_state()
    row = run_operation(lambda: operations.update_integration(state, integration_id, {"enabled": enabled}, "cli"))
    emit(serialize.integration(state, row))


@integrations.command("enable")
@click.argument("integration_id")
@with_appcontext
def enable(integration_id: str) -> None:
    """Enable an integration (its held deliveries resume)."""
    _set_enabled(integration_id, True)


@integrations.command("disable")
@click.argument("integration_id")
@with_appcontext
def disable(integration_id: str) -> None:
    """Disable an integration (its deliveries are held, not lost)."""
    _set_enabled(integration_id, False)


@integrations.command("remove")
@click.argument("integration_id")
@with_appcontext
def remove(integration_id: str) -> None:
    """Remove an integration and its deliveries (events stay)."""
    run_operation(lambda: operations.delete_integration(get_state(), integration_id, "cli"))
    emit({"removed": integration_id})


def _replay_arguments(since: float | None, event_ids: tuple[str, ...], override: bool, yes: bool, **_: Any) -> None:
    """What replay's options must be, checked before the app is built (which creates the instance)."""
    if (since is None) == (not event_ids):
        raise click.UsageError("give exactly one of --since or --event-id")
    if yes and not override:
        raise click.UsageError("--yes confirms an --override; a replay asks nothing")
    if override and (since is not None or len(event_ids) != 1):
        raise click.UsageError("--override sends one event: give one --event-id, without --since")


@integrations.command("replay")
@click.argument("integration_id")
@click.option("--since", default=None, callback=since_option,
              help="Decide again for its dead deliveries that went dead at or after this "
                   "time (ISO 8601 or seconds since the epoch).")
@click.option("--event-id", "event_ids", multiple=True, help="Decide again for this event, whatever its decision "
                                                             "was (repeat the option for several).")
@click.option("--override", is_flag=True, help="Send the one --event-id despite the denials it has now (the "
                                               "policy, the plugin's check, the cooldown), after a confirmation "
                                               "naming them; refused where the plugin does not allow it.")
@click.option("--yes", is_flag=True, help="With --override: do not ask for the confirmation.")
@before_app(_replay_arguments)
@with_appcontext
def replay(integration_id: str, since: float | None, event_ids: tuple[str, ...], override: bool, yes: bool) -> None:
    """Decide again, with the integration's current policy, plugin check and cooldown: events it takes
    now are queued, due now; those it skips stay as they were (the new decision in the event's
    history). With --override, send one event despite its denials."""
    state = get_state()
    if override:
        emit(_override(state, integration_id, event_ids[0], yes))
        return
    data = {"since": since} if since is not None else {"event_ids": list(event_ids)}
    emit(run_operation(lambda: operations.replay_integration(state, integration_id, data, "cli")))


def _override(state, integration_id: str, event_id: str, yes: bool) -> dict:
    """Name the denials, ask (unless ``yes``), then send the event despite exactly those."""
    seen = run_operation(lambda: operations.override_preview(state, integration_id, event_id))
    body = {"event_id": event_id, "confirm": seen.confirm or ["policy"]}
    if seen.denials and not seen.blocked and not yes:
        name = seen.decision.integration.row.name
        lines = "\n".join(f"  {s.name}: {s.reason}" for s in seen.denials)
        click.confirm(f"Send event {event_id} to {name!r} despite:\n{lines}\n", abort=True, err=True)
    # nothing to override, or a denial that may not be: the action refuses, with the API's message
    return run_operation(lambda: operations.override_delivery(state, integration_id, body, "cli"))


@integrations.command("test")
@click.argument("integration_id")
@with_appcontext
def test(integration_id: str) -> None:
    """Send the plugin's test event now, through the delivery path, and show the outcome."""
    sent = run_operation(lambda: operations.test_integration(get_state(), integration_id, "cli"))
    emit({"event_id": sent.event_id, "outcome": sent.report.outcome, "status": sent.delivery.status,
          "reason": sent.delivery.reason, "delivery": serialize.delivery(sent.delivery)})
    if sent.report.outcome != "delivered":
        raise SystemExit(1)


@integrations.command("status")
@click.argument("integration_id")
@click.option("--refresh", is_flag=True, help="Run the checks now instead of showing the stored result.")
@with_appcontext
def status(integration_id: str, refresh: bool) -> None:
    """The plugin's checks of an integration (e.g. a missing metric), as last run in the background.
    Exit status 1 when one is an error."""
    report = run_operation(lambda: operations.integration_status(get_state(), integration_id, refresh=refresh))
    emit(report)
    if report["state"] == "error":
        raise SystemExit(1)


@integrations.command("action")
@click.argument("integration_id")
@click.argument("action")
@click.option("--params", "values", default="{}", callback=json_object_option,
              help="Parameters as JSON (as a status check's action_params), or @FILE.")
@with_appcontext
def action(integration_id: str, action: str, values: dict) -> None:
    """Run an action that a status check offers (e.g. create_metric)."""
    state = get_state()
    message = run_operation(lambda: operations.integration_action(state, integration_id, action, values, "cli"))
    emit({"action": action, "message": message})

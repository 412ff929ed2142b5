"""``event-gateway connect launchdarkly``, ``event-gateway disconnect`` and
``event-gateway connection show|status|rotate-secret|rewire``: the flag-platform API connection."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from gateway.admin import connection_actions
from gateway.flagplatform.connection import DEFAULT_API_URL, DEFAULT_WEBHOOK_NAME
from gateway.host.state import get_state
from gateway.runtime.status import connection_status
from gateway.admin.cli.output import emit, json_option, run_operation


@click.group("connect")
def connect() -> None:
    """Connect the gateway to the flag platform's API (names, webhook wiring, checks)."""


@connect.command("launchdarkly")
@click.option("--api-token", envvar="GATEWAY_CONNECT_API_TOKEN", default=None,
              help="API access token (or GATEWAY_CONNECT_API_TOKEN; kept encrypted, never shown). "
                   "Required the first time.")
@click.option("--public-url", default=None,
              help="The gateway's public base URL; the webhook points at <URL>/webhooks/launchdarkly.")
@click.option("--api-url", default=None, help=f"The flag platform's API base URL [default: {DEFAULT_API_URL}].")
@click.option("--webhook-name", default=None, help=f"The webhook's name [default: {DEFAULT_WEBHOOK_NAME}].")
@click.option("--webhook-tag", "webhook_tags", multiple=True, help="A tag of the webhook (repeat for several).")
@click.option("--statements", default=None, callback=json_option,
              help="Policy statements (JSON, or @FILE) restricting the projects and environments the webhook sends.")
@click.option("--no-wire", is_flag=True, help="Store the connection without creating or updating the webhook.")
@with_appcontext
def launchdarkly(api_token, public_url, api_url, webhook_name, webhook_tags, statements, no_wire) -> None:
    """Connect to LaunchDarkly and create (or find and update) the webhook."""
    data: dict = {"wire": not no_wire}
    for key, value in (("api_token", api_token), ("public_url", public_url), ("api_url", api_url),
                       ("webhook_name", webhook_name)):
        if value is not None:
            data[key] = value
    if webhook_tags:
        data["webhook_tags"] = list(webhook_tags)
    if statements is not None:
        data["webhook_statements"] = statements
    emit(run_operation(lambda: connection_actions.connect(get_state(), data, "cli")))


@click.command("disconnect")
@click.option("--keep-webhook", is_flag=True, help="Leave the webhook in the flag platform.")
@with_appcontext
def disconnect(keep_webhook: bool) -> None:
    """Forget the flag-platform connection and delete the webhook it wired."""
    emit(run_operation(lambda: connection_actions.disconnect(get_state(), keep_webhook=keep_webhook, origin="cli")))


@click.group("connection")
def connection() -> None:
    """The flag-platform connection."""


@connection.command("show")
@with_appcontext
def show() -> None:
    """The connection (secrets masked)."""
    shown = get_state().connection.public()
    if shown is None:
        raise click.ClickException("not connected: event-gateway connect launchdarkly --api-token ... --public-url ...")
    emit(shown)


@connection.command("status")
@click.option("--refresh", is_flag=True, help="Run the checks now instead of showing the stored result.")
@with_appcontext
def status(refresh: bool) -> None:
    """The checks of the connection and its webhook. Exit status 1 when one is an error."""
    report = connection_status(get_state(), refresh=refresh)
    if report is None:
        raise click.ClickException("not connected: event-gateway connect launchdarkly --api-token ... --public-url ...")
    emit(report)
    if report["state"] == "error":
        raise SystemExit(1)


@connection.command("rotate-secret")
@with_appcontext
def rotate_secret() -> None:
    """A new webhook signing secret; the previous one is accepted for GATEWAY_WEBHOOK_SECRET_GRACE_SECONDS."""
    emit(run_operation(lambda: connection_actions.rotate_secret(get_state(), "cli")))


@connection.command("rewire")
@with_appcontext
def rewire() -> None:
    """Create or update the webhook again with the stored settings."""
    emit(run_operation(lambda: connection_actions.rewire(get_state(), "cli")))


@connection.command("catch-up")
@with_appcontext
def catch_up() -> None:
    """Reconcile from the flag platform's audit log now: flag changes whose webhook did not arrive are
    taken in as if it had (serve does this at start and every GATEWAY_CATCHUP_INTERVAL_SECONDS)."""
    state = get_state()
    if state.connection.current() is None:
        raise click.ClickException("not connected: event-gateway connect launchdarkly --api-token ... --public-url ...")
    result = state.catchup.run("cli")
    emit(result)
    if result.get("error"):
        raise SystemExit(1)

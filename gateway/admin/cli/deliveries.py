"""``event-gateway deliveries list|show|retry``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from gateway.admin import operations
from gateway.admin.api import serialize
from gateway.host.state import get_state
from gateway.store.deliveries import STATUSES
from gateway.timestamps import parse_timestamp
from gateway.admin.cli.output import emit, run_operation


def parse_since(value: str | None) -> float | None:
    """The ``--since`` option: ISO 8601 or seconds since the epoch."""
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


def since_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A click callback: ``--since`` read while the command line is parsed (before the app is built)."""
    return parse_since(value)


@click.group("deliveries")
def deliveries() -> None:
    """Deliveries: one per event and integration, with their attempts."""


@deliveries.command("list")
@click.option("--integration", "integration_id", default=None, help="Only this integration's.")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only deliveries in this status.")
@click.option("--since", default=None, callback=since_option,
              help="Created at or after: ISO 8601 or seconds since the epoch.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@with_appcontext
def list_(integration_id: str | None, status: str | None, since: float | None, limit: int) -> None:
    """The newest deliveries (without their attempts)."""
    rows = get_state().db.deliveries.list(integration_id=integration_id, status=status,
                                          since=since, limit=limit)
    emit([serialize.delivery(row, with_attempts=False) for row in rows])


@deliveries.command("show")
@click.argument("delivery_id")
@with_appcontext
def show(delivery_id: str) -> None:
    """One delivery with every attempt."""
    row = get_state().db.deliveries.get(delivery_id)
    if row is None:
        raise click.ClickException(f"no delivery {delivery_id!r}")
    emit(serialize.delivery(row))


@deliveries.command("retry")
@click.argument("delivery_id")
@with_appcontext
def retry(delivery_id: str) -> None:
    """Make a dead, retrying or pending delivery due now (workers take it within a second)."""
    emit(serialize.delivery(run_operation(lambda: operations.retry_delivery(get_state(), delivery_id, "cli"))))

"""``event-gateway events list|show``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from gateway.admin.api import serialize
from gateway.host.state import get_state
from gateway.admin.cli.output import emit


@click.group("events")
def events() -> None:
    """Stored events and their decisions."""


@events.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--source", default=None, help="Only events of this source.")
@with_appcontext
def list_(limit: int, source: str | None) -> None:
    """The newest events, each with how many of its decisions are in each status (pending,
    delivered, retrying, dead, skipped, ...)."""
    state = get_state()
    rows = state.db.events.list(limit=limit, source=source)
    counts = state.db.deliveries.decision_counts([row.id for row in rows])
    emit([{**serialize.event_summary(row), "decisions": counts[row.id]} for row in rows])


@events.command("show")
@click.argument("event_id")
@with_appcontext
def show(event_id: str) -> None:
    """One event with each integration's decision and attempts."""
    state = get_state()
    row = state.db.events.get(event_id)
    if row is None:
        raise click.ClickException(f"no event {event_id!r}")
    emit(serialize.event_detail(state, row, with_raw=False))

"""``event-gateway tokens list|create|revoke`` (named tokens with a role) and ``event-gateway audit``
(the stored audit log)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from gateway.admin import tokens as token_actions
from gateway.admin.api import serialize
from gateway.admin.api.audit_log import entry
from gateway.host.state import get_state
from gateway.timestamps import parse_timestamp
from gateway.admin.cli.output import emit, run_operation


def _shown(row) -> dict:
    data = token_actions.shown(row)
    for key in ("created_at", "revoked_at", "last_used_at"):
        data[key] = serialize.iso(data[key])
    return data


@click.group("tokens")
def tokens() -> None:
    """Named API and UI tokens with a role: viewer, operator or admin."""


@tokens.command("list")
@click.option("--revoked", is_flag=True, help="Also list revoked tokens.")
@with_appcontext
def list_(revoked: bool) -> None:
    """List tokens (never their secrets), with their last use."""
    emit([_shown(row) for row in get_state().db.api_tokens.list(include_revoked=revoked)])


@tokens.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(token_actions.ROLES), help="What the token may do.")
@with_appcontext
def create(name: str, role: str) -> None:
    """Create a token NAME; its secret is printed this once (the gateway keeps only its hash)."""
    state = get_state()
    row, secret = run_operation(lambda: token_actions.create_token(state, {"name": name, "role": role}, "cli"))
    emit({**_shown(row), "token": secret})


@tokens.command("revoke")
@click.argument("token")
@with_appcontext
def revoke(token: str) -> None:
    """Revoke TOKEN (its name or id): every node refuses it from its next request on."""
    state = get_state()
    row = run_operation(lambda: token_actions.revoke_token(state, token, "cli"))
    emit({"revoked": row.name, "id": row.id})


def _time(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


@click.command("audit")
@click.option("--object", "object_", help="Only this object, e.g. integration:<id>, connection, token:<name>.")
@click.option("--actor", help="Only this actor: a token's name, cli:<user> or gateway.")
@click.option("--action", help="Only this action, e.g. integration.create.")
@click.option("--since", help="At or after this time (ISO 8601 or seconds since the epoch).")
@click.option("--until", help="Before this time.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000), help="How many, newest first.")
@with_appcontext
def audit(object_: str | None, actor: str | None, action: str | None, since: str | None, until: str | None,
          limit: int) -> None:
    """The stored audit log, newest first: who changed what, when and from where."""
    rows = get_state().db.audit_log.list(limit=limit, object=object_, actor=actor, action=action,
                                         since=_time(since, "--since"), until=_time(until, "--until"))
    emit([entry(row) for row in rows])

"""``event-gateway db upgrade|current|history``: the database schema (Alembic revisions).

These commands open the database without starting the gateway (so ``current`` shows the revision
before any upgrade). Every process also upgrades on start; ``upgrade`` lets an operator do it as a
separate step of a rolling upgrade.
"""

from __future__ import annotations

import os

import click
from flask import Flask, current_app

from gateway.settings import Settings, SettingError, apply_defaults
from gateway.host.state import EXTENSION_KEY
from gateway.store import Database, migrations
from gateway.admin.cli.output import emit


def database_url() -> str:
    """``GATEWAY_DATABASE_URL`` (from the current app's config when there is one, else the
    environment), or the default SQLite file of the instance folder."""
    if current_app and EXTENSION_KEY in current_app.extensions:
        return current_app.extensions[EXTENSION_KEY].settings.database_url
    config: dict = {}
    apply_defaults(config)
    instance = os.environ.get("GATEWAY_INSTANCE_PATH")
    if current_app:  # an app found by `flask --app gateway`, not built (db commands do not start the gateway)
        instance_path = current_app.instance_path
    else:
        instance_path = os.path.abspath(instance) if instance else Flask("gateway").instance_path
    try:
        return Settings.from_config(config, instance_path).database_url
    except SettingError as exc:
        raise click.ClickException(str(exc)) from None


def _open() -> Database:
    try:
        return Database(database_url())
    except Exception as exc:  # a malformed URL, a missing driver
        raise click.ClickException(f"cannot open the database (GATEWAY_DATABASE_URL): {exc}") from None


@click.group("db")
def db() -> None:
    """The database schema: upgrade it, show its revision and the known revisions."""


@db.command("upgrade")
def upgrade() -> None:
    """Upgrade the schema to the newest revision (under the start-up lock)."""
    database = _open()
    try:
        before = database.revision()
        after = database.upgrade()
    except migrations.SchemaTooNew as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.dispose()
    emit({"before": before, "after": after, "upgraded": before != after})


@db.command("current")
def current() -> None:
    """The revision the database is at, and the newest this gateway knows."""
    database = _open()
    try:
        revision = database.revision()
    finally:
        database.dispose()
    head = migrations.head()
    emit({"current": revision, "head": head, "up_to_date": revision == head})


@db.command("history")
def history() -> None:
    """Every revision this gateway knows, oldest first."""
    emit([{"revision": r.revision, "down_revision": r.down_revision, "doc": r.doc} for r in migrations.history()])


@db.command("forget-admin-token")
def forget_admin_token() -> None:
    """Drop the admin token hash recorded in the database, to replace the token on every node: stop
    every node, run this, then start them with the new GATEWAY_ADMIN_TOKEN (the first to start records it)."""
    from gateway.runtime.node_agreement import forget_admin_token as forget

    database = _open()
    forgotten: list[bool] = []
    try:
        database.upgrade(then=lambda connection: forgotten.append(forget(connection, origin="cli")))
    except migrations.SchemaTooNew as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.dispose()
    emit({"forgotten": forgotten[0]})

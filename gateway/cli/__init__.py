"""The ``event-gateway`` command (click, as Flask does it): ``event-gateway --help``.

The same commands are added to ``app.cli`` by ``init_app``, so ``flask --app gateway ...`` works too.
"""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from .connection import connect, connection, disconnect
from .db import db
from .deliveries import deliveries
from .events import events
from .integrations import integrations
from .plugins import plugins
from .policy import policy
from .serve import serve
from .worker import worker


def register_commands(group: click.Group) -> None:
    """Add the gateway's commands to ``group`` (an app's ``app.cli``)."""
    for command in (plugins, integrations, events, deliveries, policy, serve, worker, db, connect, disconnect,
                    connection):
        group.add_command(command)


def _create_app():
    from ..app import create_app
    from ..node_agreement import NodeMismatch
    from ..store.migrations import SchemaTooNew

    try:
        return create_app()
    except (NodeMismatch, SchemaTooNew) as exc:  # a message for the operator, not a traceback
        click.echo(f"event-gateway: not starting: {exc}", err=True)
        raise SystemExit(1) from None


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
@click.version_option(package_name="event-gateway")
def main() -> None:
    """Flag Event Gateway: carries feature-flag changes to the tools around them."""


# Found without building the app, so that it neither upgrades the database nor needs its settings.
main.add_command(db)

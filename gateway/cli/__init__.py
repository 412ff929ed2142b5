"""The ``event-gateway`` command (click, as Flask does it): ``event-gateway --help``.

The same commands are added to ``app.cli`` by ``init_app``, so ``flask --app gateway ...`` works too.
"""

from __future__ import annotations

import click
from flask.cli import FlaskGroup
from sqlalchemy.exc import SQLAlchemyError

from ..outage import unavailable
from ..outage.causes import setting_problem

from .connection import connect, connection, disconnect
from .db import db
from .deliveries import deliveries
from .events import events
from .integrations import integrations
from .plugins import plugins
from .policy import policy
from .serve import serve
from .tokens import audit, tokens
from .worker import worker


def register_commands(group: click.Group) -> None:
    """Add the gateway's commands to ``group`` (an app's ``app.cli``)."""
    for command in (plugins, integrations, events, deliveries, policy, serve, worker, db, connect, disconnect,
                    connection, tokens, audit):
        group.add_command(command)


# The commands that run for a long time: they wait for a database that is not up yet
# (GATEWAY_DATABASE_WAIT_SECONDS) and log the start-up warnings; every other command answers at once.
SERVING_COMMANDS = frozenset({"serve", "worker"})
COMMAND_KEY = "event_gateway.command"


def _create_app():
    from ..app import create_app
    from ..node_agreement import NodeMismatch
    from ..outage.startup import DatabaseNotReady, DatabaseSettingsWrong
    from ..settings import SettingError
    from ..store.migrations import SchemaTooNew

    context = click.get_current_context(silent=True)
    command = context.meta.get(COMMAND_KEY) if context is not None else None
    try:
        if command in SERVING_COMMANDS:
            # serve logs the warnings itself (once, not once per process); a worker logs those of
            # the settings it shares, and takes no webhooks
            return create_app(log_warnings=False, role=command)
        return create_app({"GATEWAY_DATABASE_WAIT_SECONDS": 0}, log_warnings=False)
    except (NodeMismatch, SchemaTooNew, SettingError, DatabaseSettingsWrong, DatabaseNotReady) as exc:
        # a message for the operator, not a traceback
        click.echo(f"event-gateway: not starting: {exc}", err=True)
        raise SystemExit(1) from None


FLASK_OPTIONS = frozenset({"app", "env_file", "debug"})


class GatewayGroup(FlaskGroup):
    """Flask's command group, except that finding and listing commands never builds the app, and a
    database that cannot be used gives one clear line instead of a traceback.

    Building the app creates the instance folder, the database and the key file, and prints a new
    admin token; ``--help`` and a command refused for its arguments must do none of that. The
    gateway's commands are registered on this group itself, so the app is built only when a
    command runs (``with_appcontext``).
    """

    def __init__(self, **extra) -> None:
        super().__init__(**extra)
        # Flask's own options (--app, --env-file, --debug) mean nothing for this command: the app is
        # the gateway, configured by GATEWAY_* settings. `flask --app gateway ...` still has them.
        self.params = [p for p in self.params if p.name not in FLASK_OPTIONS]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._load_plugin_commands()
        return click.Group.get_command(self, ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(click.Group.list_commands(self, ctx))

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta[COMMAND_KEY] = name  # read by _create_app: does this command serve?
        return name, command, rest

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as exc:
            wrong = setting_problem(exc)
            if wrong is not None:
                raise click.ClickException(f"database settings: {wrong}; nothing was changed") from None
            problem = unavailable(exc)
            if problem is None:
                raise
            raise click.ClickException(f"database unavailable: {problem.description} ({problem.detail}); "
                                       "nothing was changed, try again when it is back") from None


@click.group(cls=GatewayGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
@click.version_option(package_name="event-gateway")
def main() -> None:
    """Flag Event Gateway: carries feature-flag changes to the tools around them."""


register_commands(main)
# Found without building the app, so that it neither upgrades the database nor needs its settings.
main.add_command(db)

"""The admin commands of the command line (click, as Flask does it): ``event-gateway --help``.

:func:`register_commands` adds them to the ``event-gateway`` command (:mod:`gateway.command`, which
builds the app) and, through ``init_app``, to ``app.cli``, so ``flask --app gateway ...`` works too.
"""

from __future__ import annotations

import click

from gateway.admin.cli.connection import connect, connection, disconnect
from gateway.admin.cli.db import db
from gateway.admin.cli.deliveries import deliveries
from gateway.admin.cli.events import events
from gateway.admin.cli.integrations import integrations
from gateway.admin.cli.plugins import plugins
from gateway.admin.cli.policy import policy
from gateway.admin.cli.serve import serve
from gateway.admin.cli.tokens import audit, tokens
from gateway.admin.cli.worker import worker


def register_commands(group: click.Group) -> None:
    """Add the gateway's commands to ``group`` (an app's ``app.cli``)."""
    for command in (plugins, integrations, events, deliveries, policy, serve, worker, db, connect, disconnect,
                    connection, tokens, audit):
        group.add_command(command)

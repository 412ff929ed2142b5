"""``event-gateway plugins [list] [--all]``; ``plugins new NAME`` and ``plugins check NAME`` come from the
author kit (:mod:`gateway.kit.commands`) through the entry-point group ``event_gateway.plugin_commands``,
so that the admin CLI never imports the kit."""

from __future__ import annotations

from importlib import metadata

import click
from flask.cli import with_appcontext

from gateway.admin.plugin_listing import plugin_listing
from gateway.host.state import get_state
from gateway.admin.cli.output import emit

ALL_HELP = "Also list the built-in plugins."
AUTHOR_COMMANDS = "event_gateway.plugin_commands"


class PluginsGroup(click.Group):
    """The ``plugins`` group, with the plugin-author commands of the entry-point group
    :data:`AUTHOR_COMMANDS` added when the group's commands are looked up."""

    def _add_author_commands(self) -> None:
        for ep in metadata.entry_points(group=AUTHOR_COMMANDS):
            if ep.name not in self.commands:
                self.add_command(ep.load(), ep.name)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._add_author_commands()
        return super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_author_commands()
        return super().list_commands(ctx)


@click.group("plugins", cls=PluginsGroup, invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help=ALL_HELP)
@click.pass_context
def plugins(ctx: click.Context, show_all: bool) -> None:
    """List installed plugins (as `plugins list`), or scaffold or check one."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(_list, show_all=show_all)


@with_appcontext
def _list(show_all: bool) -> None:
    emit(plugin_listing(get_state().host, include_builtin=show_all))


@plugins.command("list")
@click.option("--all", "show_all", is_flag=True, help=ALL_HELP)
def list_(show_all: bool) -> None:
    """List plugins (JSON, as GET /api/v1/plugins): loaded ones under "items", refused ones with
    why, and those left out by GATEWAY_PLUGINS."""
    click.get_current_context().invoke(_list, show_all=show_all)

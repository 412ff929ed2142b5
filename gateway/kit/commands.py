"""The plugin-author commands ``event-gateway plugins new NAME`` and ``plugins check NAME``.

They reach the ``plugins`` group of the admin CLI through the entry-point group
``event_gateway.plugin_commands`` (see setup.cfg), as the kit reaches pytest through ``pytest11``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from gateway.admin.cli.output import emit, parse_json_option
from gateway.host.markers import PROJECT_NAME


@click.command("new")
@click.argument("name")
@click.option("--directory", "-d", type=click.Path(file_okay=False), default=None,
              help="Where to write the package (default: ./event-gateway-NAME).")
@click.option("--template", "-t", type=click.Choice(["json", "chat"]), default="json", show_default=True,
              help="json: POST each flag change as JSON to a URL, with an optional bearer token; chat: post a "
                   "message to a chat channel's incoming webhook, whose URL is the credential.")
def new(name: str, directory: str | None, template: str) -> None:
    """Write a new plugin package NAME (its key and entry-point name), ready for `pip install -e`."""
    from gateway.kit.scaffold import ScaffoldError, write_package

    try:
        written = write_package(name, Path(directory) if directory else None, template)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    emit({"directory": str(written.directory), "distribution": written.distribution,
          "package": written.package, "key": written.key, "files": written.files,
          "next": [f"cd {written.directory}", "pip install -e '.[test]'", "pytest",
                   f"event-gateway plugins check {written.key}"]})


def _plugin_to_check(name: str) -> Any:
    """An installed plugin's entry-point name, or the object a ``module[:attribute]`` path names."""
    installed = sorted(ep.name for ep in metadata.entry_points(group=PROJECT_NAME))
    if name in installed:
        return name
    module_name, _, attribute = name.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.ClickException(
            f"no installed plugin {name!r} (installed: {', '.join(installed) or 'none'}), and it cannot be "
            f"imported as a module ({exc}); give an entry-point name or a module path such as my_plugin.plugin"
        ) from None
    return getattr(module, attribute) if attribute else module


@contextmanager
def _quiet_throwaway_database() -> Iterator[None]:
    """The check's gateway lives in a temporary folder of its own: its database's creation is not the
    user's business, and must not read as if the user's database had been changed."""
    migrations_log = logging.getLogger("gateway.store.migrations")
    level = migrations_log.level
    migrations_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        migrations_log.setLevel(level)


def _event_option(value: str | None) -> Any:
    data = parse_json_option(value, "--event")
    if data is None:
        return None
    from gateway.events import Event
    from gateway.host.inbound_request import Rejected
    from gateway.kit.factories import parse_flag_webhook

    if not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--event")
    try:
        if "accesses" in data and "_id" in data:
            return parse_flag_webhook(data)
        return Event.from_dict(data)
    except Rejected as exc:
        raise click.BadParameter(f"the gateway refuses this webhook body: {exc.message}", param_hint="--event") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise click.BadParameter(
            "neither a flag-platform webhook body nor an event as Event.to_dict() writes it "
            f"({type(exc).__name__}: {exc})", param_hint="--event") from None


@click.command("check")
@click.argument("name")
@click.option("--config", "config_json", default=None,
              help='Integration config, JSON or @file; "{service_url}" stands for the fake service. '
                   "Default: built from the schema.")
@click.option("--event", "event_json", default=None,
              help="Event to deliver (JSON or @file: a flag-platform webhook body or Event.to_dict()). "
                   "Default: the plugin's test event.")
@click.option("--ok-status", type=click.IntRange(200, 299), default=200, show_default=True,
              help="Status of the fake service's success answer.")
@click.option("--ok-body", "ok_body", default=None, help="JSON body (or @file) of the success answer.")
@click.option("--timeout", type=click.FloatRange(0.05, 30), default=0.5, show_default=True,
              help="Read time-out of the time-out check, seconds.")
@click.option("--format", "output", type=click.Choice(["json", "text"]), default="json", show_default=True)
def check(name: str, config_json: str | None, event_json: str | None, ok_status: int, ok_body: str | None,
          timeout: float, output: str) -> None:
    """Check plugin NAME (entry-point name, or module path) against what the gateway expects:
    declaration, config schema, default policy, hooks, test event, and deliveries to a local fake
    service answering 2xx, 3xx, 4xx, 429, 5xx and a time-out. Exits 1 when there is an error."""
    from gateway.kit.conformance import check_plugin
    from gateway.kit.loopback import Reply

    config = parse_json_option(config_json, "--config")
    if config is not None and not isinstance(config, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--config")
    event = _event_option(event_json)
    body = parse_json_option(ok_body, "--ok-body")
    ok_reply = Reply(ok_status, body if body is not None else {"ok": True}) if (ok_body or ok_status != 200) else None
    with _quiet_throwaway_database():
        report = check_plugin(_plugin_to_check(name), config=config, event=event, ok_reply=ok_reply,
                              timeout=timeout)
    if output == "text":
        click.echo(report.format())
    else:
        click.echo(json.dumps(report.to_dict(), indent=2))
    if not report.passed:
        sys.exit(1)

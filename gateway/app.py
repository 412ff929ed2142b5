"""``create_app``: the standalone gateway."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask, appcontext_pushed

from gateway.extension import EventGateway
from gateway.host.state import EXTENSION_KEY, FINISH_KEY, get_state
from gateway.responses import answer_errors_as_json

FLASK_CLI_NAMES = frozenset({"gateway", "gateway:create_app", "gateway:create_app()"})
"""``flask --app NAME`` values that load this factory."""


def create_app(config: Mapping[str, Any] | None = None, **extension_options: Any) -> Flask:
    """The gateway as a Flask app. ``config`` overrides the environment; the instance folder (database,
    key file) is ``GATEWAY_INSTANCE_PATH`` when set, else Flask's default.

    Found by ``flask --app gateway ...``, the app is finished (instance folder, database, key file,
    admin token) only when something first uses it (a command that runs, a request): ``--help`` and
    a command refused for its arguments create nothing."""
    config = dict(config or {})
    instance_path = config.pop("GATEWAY_INSTANCE_PATH", None) or os.environ.get("GATEWAY_INSTANCE_PATH")
    app = Flask("gateway", instance_path=os.path.abspath(instance_path) if instance_path else None,
                instance_relative_config=True)
    app.config.update(config)
    app.json.sort_keys = False
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not config and not extension_options and _found_by_flask_cli():
        _finish_when_first_used(app)
    else:
        _add_gateway(app, extension_options)
    return app


def _add_gateway(app: Flask, extension_options: Mapping[str, Any]) -> None:
    EventGateway(app, **extension_options)
    state = get_state(app)
    if state.settings.ui:
        from gateway.admin.ui import root_link

        app.add_url_rule("/", "gateway_root", root_link)  # the standalone gateway's front door
    answer_errors_as_json(app)  # the standalone app is all gateway: every error answer is JSON


def _found_by_flask_cli() -> bool:
    """Whether Flask's own command line (``flask --app gateway``) is loading this factory: it does so
    to list its commands (``--help``) and to find one, before the command's arguments are parsed."""
    from flask.cli import ScriptInfo

    ctx = click.get_current_context(silent=True)
    info = ctx.find_object(ScriptInfo) if ctx is not None else None
    return info is not None and (info.app_import_path or "").replace(" ", "") in FLASK_CLI_NAMES


def _finish_when_first_used(app: Flask) -> None:
    """The gateway's commands now (so that ``flask --app gateway --help`` lists them); the rest of the
    gateway when it is first used:

    * by a gateway command, when it first asks for the gateway's state (:func:`gateway.host.state.get_state`):
      Flask pushes an app context to find a command, before parsing its arguments, so that push
      cannot be the sign;
    * by anything else that pushes an app context once a command runs (Flask's ``routes``,
      ``shell``), or while serving requests (``flask run``): an app context pushed outside the
      parsing of Flask's own command line.
    """
    from gateway.admin.cli import register_commands

    register_commands(app.cli)
    lock = threading.Lock()

    def finish(sender: Flask) -> None:
        with lock:
            if EXTENSION_KEY not in sender.extensions:
                _add_gateway(sender, {})

    def pushed(sender: Flask, **_: Any) -> None:
        ctx = click.get_current_context(silent=True)
        if ctx is None or ctx.parent is not None:  # a request, or a command that runs
            finish(sender)

    app.extensions[FINISH_KEY] = finish
    app.extensions[FINISH_KEY + "_signal"] = pushed  # signals keep weak references
    appcontext_pushed.connect(pushed, app)

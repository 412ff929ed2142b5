"""``create_app``: the standalone gateway."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from .extension import EventGateway
from .state import get_state
from .responses import answer_errors_as_json


def create_app(config: Mapping[str, Any] | None = None, **extension_options: Any) -> Flask:
    """The gateway as a Flask app. ``config`` overrides the environment; the instance folder (database,
    key file) is ``GATEWAY_INSTANCE_PATH`` when set, else Flask's default."""
    config = dict(config or {})
    instance_path = config.pop("GATEWAY_INSTANCE_PATH", None) or os.environ.get("GATEWAY_INSTANCE_PATH")
    app = Flask("gateway", instance_path=os.path.abspath(instance_path) if instance_path else None,
                instance_relative_config=True)
    app.config.update(config)
    app.json.sort_keys = False
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    EventGateway(app, **extension_options)
    state = get_state(app)
    if state.settings.ui:
        from .ui import root_link

        app.add_url_rule("/", "gateway_root", root_link)  # the standalone gateway's front door
    answer_errors_as_json(app)  # the standalone app is all gateway: every error answer is JSON
    return app

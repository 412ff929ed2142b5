"""The Flask extension: ``EventGateway(app)`` or ``EventGateway()`` then ``init_app(app)``."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from . import api, health, webhooks
from .crypto import SecretBox
from .flagplatform.connection import ConnectionService
from .flagplatform.names import NameResolver
from .http import make_session
from .integrations import IntegrationService
from .metrics import Metrics
from .node_agreement import AdminToken, agree_on_admin_token, check_secret_key
from .plugins import PluginHost
from .settings import Settings, apply_defaults
from .state import EXTENSION_KEY, GatewayState
from .status import check_gauges
from .store import Database
from .store.base import now

log = logging.getLogger(__name__)


class EventGateway:
    """Adds the gateway (webhooks, admin API, health, metrics, CLI commands) to a Flask app.

    State lives in ``app.extensions["event_gateway"]``, so one extension object may serve several
    apps. ``plugins`` adds ``(name, plugin)`` pairs as if installed; ``entry_points=False`` loads no
    installed plugins (both for tests and embedding).
    """

    def __init__(self, app: Flask | None = None, *, plugins: tuple[tuple[str, Any], ...] = (),
                 entry_points: bool = True):
        self._plugins = tuple(plugins)
        self._entry_points = entry_points
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> GatewayState:
        apply_defaults(app.config)
        os.makedirs(app.instance_path, exist_ok=True)
        settings = Settings.from_config(app.config, app.instance_path)
        db = Database(settings.database_url)
        box = SecretBox(settings.secret_key, app.instance_path)
        admin: list[AdminToken] = []

        def agree(connection) -> None:  # in the start-up transaction, under its lock
            check_secret_key(connection, box)
            admin.append(agree_on_admin_token(connection, settings.admin_token, app.instance_path))

        try:
            db.upgrade(then=agree)
        except Exception:
            db.dispose()
            raise
        if admin[0].problem:
            log.error("the admin API is unavailable on this node: %s", admin[0].problem)
        host = PluginHost(allowed=settings.plugins, entry_points=self._entry_points, extra=self._plugins)
        state = GatewayState(
            settings=settings, db=db, host=host, box=box,
            integrations=IntegrationService(db, host, box, settings.allow_private_targets),
            metrics=Metrics(),
            admin_token_hash=admin[0].hash, admin_token_problem=admin[0].problem,
        )
        state.connection = ConnectionService(
            db, box, allow_private_targets=settings.allow_private_targets,
            grace_seconds=settings.webhook_secret_grace_seconds,
            http_factory=lambda session, secrets, timeouts: state.http_client(session, secrets, timeouts=timeouts),
            make_session=make_session)
        state.names = NameResolver(state.connection, settings.names_ttl_seconds)
        state.metrics.watch_queue(lambda: db.deliveries.stats(now()))
        state.metrics.watch_checks(lambda: check_gauges(state))
        app.extensions[EXTENSION_KEY] = state
        app.register_blueprint(webhooks.bp)
        app.register_blueprint(api.bp)
        app.register_blueprint(health.bp)
        from .cli import register_commands

        register_commands(app.cli)
        return state

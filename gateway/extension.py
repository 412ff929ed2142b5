"""The Flask extension: ``EventGateway(app)`` or ``EventGateway()`` then ``init_app(app)``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from gateway.admin import api
from gateway.runtime import health
from gateway.inbound import webhooks
from gateway.runtime.outage import DatabaseWatch
from gateway.runtime.outage.answer import install as install_unavailable_answer
from gateway.runtime.outage.startup import when_database_ready
from gateway.runtime.auth_throttle import AuthThrottle
from gateway.crypto import SecretBox
from gateway.runtime.log_escaping import install as install_log_escaping
from gateway.runtime.instance_folder import make_private_folder, prepare_sqlite_file
from gateway.flagplatform.connection import ConnectionService
from gateway.flagplatform.names import NameResolver
from gateway.outbound.http import make_session
from gateway.host.integrations import IntegrationService
from gateway.runtime.metrics import Metrics
from gateway.runtime.node_agreement import AdminToken, agree_on_admin_token, agree_on_shared_settings, check_secret_key
from gateway.host.plugins import PluginHost
from gateway.settings import Settings, apply_defaults
from gateway.inbound.signing import signing_warnings
from gateway.host.state import EXTENSION_KEY, GatewayState
from gateway.runtime.status import check_gauges
from gateway.store.vacuum_watch import VacuumWatch
from gateway.store import Database
from gateway.store.base import now
from gateway.runtime.catchup import CatchUp, catchup_stats
from gateway.admin.tokens import UseRecorder

log = logging.getLogger(__name__)


class EventGateway:
    """Adds the gateway (webhooks, admin API, web UI, health, metrics, CLI commands) to a Flask app.

    State lives in ``app.extensions["event_gateway"]``, so one extension object may serve several
    apps. ``plugins`` adds ``(name, plugin)`` pairs as if installed; ``entry_points=False`` loads no
    installed plugins (both for tests and embedding). ``log_warnings=False`` keeps the start-up
    warnings (``/healthz`` lists them) out of the log: a command that serves nothing need not repeat them.
    ``role`` (``serve`` or ``worker``, as the CLI's long-running commands give it) compares the
    settings every process must share with those the last process to start recorded, and warns.
    """

    def __init__(self, app: Flask | None = None, *, plugins: tuple[tuple[str, Any], ...] = (),
                 entry_points: bool = True, log_warnings: bool = True, role: str | None = None):
        self._plugins = tuple(plugins)
        self._role = role
        self._entry_points = entry_points
        self._log_warnings = log_warnings
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> GatewayState:
        install_log_escaping()  # one record, one line: values from outside cannot forge log lines
        apply_defaults(app.config)
        settings = Settings.from_config(app.config, app.instance_path)
        make_private_folder(app.instance_path)
        prepare_sqlite_file(settings.database_url)
        db = Database(settings.database_url)
        box = SecretBox(settings.secret_key, app.instance_path)
        admin: list[AdminToken] = []
        differing: list[str] = []

        def agree(connection) -> None:  # in the start-up transaction, under its lock
            check_secret_key(connection, box)
            admin[:] = [agree_on_admin_token(connection, settings.admin_token, app.instance_path)]
            if self._role is not None:
                differing[:] = agree_on_shared_settings(connection, settings, box, self._role)

        try:
            when_database_ready(lambda: db.upgrade(then=agree), settings.database_wait_seconds)
        except Exception:
            db.dispose()
            raise
        if admin[0].problem:
            log.error("the admin API is unavailable on this node: %s", admin[0].problem)
        host = PluginHost(allowed=settings.plugins, entry_points=self._entry_points, extra=self._plugins)
        metrics = Metrics()
        state = GatewayState(
            settings=settings, db=db, host=host, box=box,
            integrations=IntegrationService(db, host, box, settings.allow_private_targets),
            metrics=metrics,
            admin_token_hash=admin[0].hash, admin_token_problem=admin[0].problem,
            db_watch=DatabaseWatch(db.engine, metrics.registry, retry_after=settings.retry_after_seconds),
        )
        state.auth_throttle = AuthThrottle(metrics, failures_allowed=settings.auth_failures_allowed)
        state.token_uses = UseRecorder()
        state.connection = ConnectionService(
            db, box, allow_private_targets=settings.allow_private_targets,
            grace_seconds=settings.webhook_secret_grace_seconds,
            http_factory=lambda session, secrets, timeouts: state.http_client(session, secrets, timeouts=timeouts),
            make_session=make_session)
        state.names = NameResolver(state.connection, settings.names_ttl_seconds)
        state.metrics.watch_queue(lambda: db.deliveries.stats(now()))
        state.integrations.warm()  # every stored policy compiled now, not by the first webhook
        state.differing_settings = differing
        state.warnings.extend(differing)
        state.warnings.extend(signing_warnings(host, app.config, settings.require_signed_webhooks))
        if self._log_warnings:
            state.log_warnings()
        state.metrics.watch_checks(lambda: check_gauges(state))
        state.catchup = CatchUp(state)
        state.vacuum_watch = VacuumWatch(db.engine)
        state.metrics.watch_catchup(lambda: catchup_stats(state))
        app.extensions[EXTENSION_KEY] = state
        app.register_blueprint(webhooks.bp)
        app.register_blueprint(api.bp)
        app.register_blueprint(health.bp)
        if settings.ui:
            from gateway.admin import ui

            ui.register(app)
        install_unavailable_answer(app)  # on the app, so every blueprint answers 503 the same way
        from gateway.admin.cli import register_commands

        register_commands(app.cli)
        return state

"""What one app holds: settings, database, plugins, services. Kept in ``app.extensions``."""

from __future__ import annotations

import logging

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests

from flask import Flask, current_app

from gateway.crypto import SecretBox
from gateway.outbound.http import HttpClient
from gateway.host import EXTENSION_KEY  # noqa: F401  (defined in the package, read from here too)
from gateway.host.integrations import IntegrationService
from gateway.host.plugins import PluginHost
from gateway.settings import Settings
from gateway.store import Database
from gateway.version import __version__

if TYPE_CHECKING:  # built by the runtime layer above, which hands them in
    from gateway.runtime.metrics import Metrics
    from gateway.runtime.outage.watch import DatabaseWatch

FINISH_KEY = "event_gateway_finish"
"""Where an app found by ``flask --app gateway`` keeps the function that finishes it (:mod:`gateway.app`)."""


log = logging.getLogger("gateway.extension")  # the start-up warnings' logger, as before


@dataclass
class GatewayState:
    settings: Settings
    db: Database
    host: PluginHost
    box: SecretBox
    integrations: IntegrationService
    metrics: Metrics
    admin_token_hash: str | None  # None: see admin_token_problem
    db_watch: DatabaseWatch
    new_work: threading.Condition = field(default_factory=threading.Condition)
    """Idle delivery workers wait on it (:meth:`notify_new_work` wakes one)."""
    work_announced: int = 0
    """How many times :meth:`notify_new_work` was called (under ``new_work``): a worker that claimed
    everything due waits only when nothing was announced since it claimed."""
    batch_work: threading.Condition = field(default_factory=threading.Condition)
    """Workers gathering a batch wait on it for more of their integration's deliveries (woken all)."""
    workers: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What an operator should fix (logged at start, listed by ``/healthz``)."""
    differing_settings: list[str] = field(default_factory=list)
    """Of those, the settings this process does not share with the others (``node_agreement``)."""
    connection: Any = None  # flagplatform.connection.ConnectionService
    names: Any = None  # flagplatform.names.NameResolver
    catchup: Any = None  # runtime.catchup.CatchUp
    vacuum_watch: Any = None  # store.vacuum_watch.VacuumWatch
    admin_token_problem: str | None = None  # why this node cannot serve the admin API (node_agreement)
    auth_throttle: Any = None  # auth_throttle.AuthThrottle
    token_uses: Any = None  # tokens.UseRecorder
    serve_layout: tuple[int, int] | None = None
    """Under ``serve``: its processes on this node and their delivery workers in all (None otherwise)."""

    def log_warnings(self) -> None:
        """Log what an operator should fix that does not stop the gateway (unsigned webhooks, a
        setting this process does not share with the others, ...)."""
        for warning in self.warnings:
            log.warning("%s", warning)

    def http_client(self, session: requests.Session, secrets: Iterable[str],
                    timeouts: tuple[float, float] | None = None) -> HttpClient:
        """The HTTP client handed to plugin hooks: this app's time-outs (``timeouts`` may only
        shorten them) and target rule, and the integration's secrets to remove from what it records."""
        settings = self.settings
        connect_timeout, read_timeout = settings.connect_timeout, settings.read_timeout
        if timeouts is not None:
            connect_timeout, read_timeout = min(connect_timeout, timeouts[0]), min(read_timeout, timeouts[1])
        secrets = list(secrets)
        connection = self.connection.current() if self.connection is not None else None
        if connection is not None:  # the connection's secrets never appear in a record either
            secrets.extend(connection.secret_values())
        return HttpClient(session, connect_timeout=connect_timeout, read_timeout=read_timeout,
                          allow_private=settings.allow_private_targets, secrets=secrets,
                          user_agent=f"event-gateway/{__version__}")

    def notify_new_work(self) -> None:
        """There is something to deliver now: wake one idle delivery worker (one that claims work
        wakes the next, :meth:`pass_on_work`) and every worker gathering a batch. Waking every idle
        worker for one delivery had them all claim at once, and the losers' claims and look-ups
        delayed the winner's attempt (on PostgreSQL by several milliseconds). A busy worker sees
        that it was called (``work_announced``) and claims again before it waits."""
        with self.new_work:
            self.work_announced += 1
            self.new_work.notify(1)
        with self.batch_work:
            self.batch_work.notify_all()

    def pass_on_work(self) -> None:
        """Wake one idle delivery worker: more may be due than the waking one claimed."""
        with self.new_work:
            self.new_work.notify(1)

    def wake_all_workers(self) -> None:
        """Wake every delivery worker, idle or gathering (to stop them)."""
        with self.new_work:
            self.new_work.notify_all()
        with self.batch_work:
            self.batch_work.notify_all()


def get_state(app: Flask | None = None) -> GatewayState:
    """The gateway state of ``app`` (default: the current app)."""
    app = app or current_app
    try:
        return app.extensions[EXTENSION_KEY]
    except KeyError:
        finish = app.extensions.get(FINISH_KEY)
        if finish is not None:  # an app made by ``flask --app gateway``, used for the first time
            finish(app)
            return app.extensions[EXTENSION_KEY]
        raise RuntimeError("EventGateway.init_app(app) has not been called for this app") from None

"""``serve`` on every core: gunicorn's pre-fork server, one gateway app per process.

The app is built once in the master (it checks the configuration, upgrades the schema, checks the
node's agreement on key and token, and prints the admin token once), which then stops its database
threads, closes its connections and forks ``processes`` children; the master does no database work
after that. Each child makes its own connections, checkpoint thread, group commit
(:meth:`gateway.store.Database.after_fork`) and database watch (outage state and probe thread), runs
the requests with ``GATEWAY_THREADS`` threads (gunicorn's ``gthread`` worker) and its share of the
``GATEWAY_WORKERS`` delivery workers (a :class:`~gateway.delivery.WorkerPool` each, with its lease
heartbeat and, on PostgreSQL, its ``LISTEN`` connection). All of them write to the one database: on
SQLite each process group-commits its own writes and the processes take turns on the database's
write lock.

The background checks (:class:`~gateway.runtime.check_runner.CheckRunner`) run in the child of slot 0 only,
so that a node checks each integration once per interval however many processes it runs; a child
that replaces it takes its slot, and the checks with it. A change made through any child wakes them
(a change counter shared by the children).

Stopping: the first SIGTERM or SIGINT stops taking connections, lets running requests finish and the
delivery workers' running attempts finish (at most ``GATEWAY_SHUTDOWN_GRACE_SECONDS``), then exits 0;
a second signal stops at once. A child that dies is replaced by a new one.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.gthread import ThreadWorker

from gateway.runtime.check_runner import CheckRunner
from gateway.delivery import WorkerPool
from gateway.runtime.request_buffering import BufferingMixin, ReadLimits
from gateway.runtime.server_errors import answer_gunicorn_errors_as_json
from gateway.shared_changes import SharedChanges
from gateway.host.state import get_state
from gateway.runtime.catchup_runner import CatchUpRunner

log = logging.getLogger(__name__)

KILL_MARGIN_SECONDS = 5.0
"""How much longer than the shutdown grace the master waits before it kills a child."""


def worker_share(total: int, processes: int, slot: int) -> int:
    """How many of ``total`` delivery workers the process in ``slot`` (0-based) of ``processes`` runs:
    an even split, the first ones taking the remainder, and at least one each when ``total`` > 0 (so
    that every process wakes a worker for the events it accepts at once)."""
    if total <= 0:
        return 0
    share = total // processes + (1 if slot < total % processes else 0)
    return max(share, 1)


CHECKS_SLOT = 0
"""The child that runs the background checks."""


class GatewayWorker(BufferingMixin, ThreadWorker):
    """gunicorn's threaded worker that reads each whole request in its event loop before a thread
    takes it (:mod:`gateway.runtime.request_buffering`: slow clients hold no thread), and also stops the
    process's delivery workers (and background checks) on SIGTERM, while the running requests
    finish (one grace period for both, not one after the other)."""

    pool: WorkerPool | None = None
    checks: CheckRunner | None = None
    catchup: CatchUpRunner | None = None
    stopper: threading.Thread | None = None

    def init_process(self) -> None:
        answer_gunicorn_errors_as_json()
        super().init_process()

    def handle_exit(self, sig, frame) -> None:
        if self.alive:
            click.echo(f"event-gateway[{self.pid}]: {signal.Signals(sig).name} received, stopping", err=True)
        super().handle_exit(sig, frame)
        self.stop_delivery()

    def handle_quit(self, sig, frame) -> None:  # the second signal: at once
        super().handle_quit(sig, frame)

    def stop_delivery(self) -> None:
        if (self.pool is not None or self.checks is not None) and self.stopper is None:
            self.stopper = threading.Thread(target=self._stop_background, name="stop-delivery-workers")
            self.stopper.start()

    def _stop_background(self) -> None:
        checks = None
        if self.checks is not None:  # at the same time as the workers' grace, not after it
            checks = threading.Thread(target=self.checks.stop, name="stop-background-checks")
            checks.start()
        if self.catchup is not None:
            self.catchup.stop()
        if self.pool is not None:
            self.pool.stop()
        if checks is not None:
            checks.join()


class GatewayArbiter(Arbiter):
    """gunicorn's master, saying which signal stops it; a second SIGTERM or SIGINT stops at once."""

    stopping = False

    def signal(self, sig, frame) -> None:
        if self.stopping and sig in (signal.SIGTERM, signal.SIGINT):
            sig = signal.SIGQUIT  # the stop loop turns this into a quick shutdown
        super().signal(sig, frame)

    def _graceful(self, sig: int):
        click.echo(f"event-gateway: {signal.Signals(sig).name} received, stopping", err=True)
        self.stopping = True
        raise StopIteration

    def handle_term(self) -> None:
        self._graceful(signal.SIGTERM)

    def handle_int(self) -> None:
        self._graceful(signal.SIGINT)


class PreforkServer(BaseApplication):
    """The gateway app under gunicorn with ``processes`` children."""

    def __init__(self, app: Flask, host: str, port: int, processes: int):
        self.application = app
        self.state = get_state(app)
        self.processes = processes
        self.host, self.port = host, port
        self._slots: dict[Any, int] = {}  # child (gunicorn's worker object) -> slot, in the master
        super().__init__()

    # gunicorn's application interface ----------------------------------------------------------

    def load_config(self) -> None:
        settings = self.state.settings
        grace = settings.shutdown_grace_seconds
        options: dict[str, Any] = {
            "bind": [f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"],
            "workers": self.processes,
            "worker_class": GatewayWorker,
            "threads": settings.threads,
            "graceful_timeout": math.ceil(grace + KILL_MARGIN_SECONDS),
            "timeout": math.ceil(max(30.0, grace + 2 * KILL_MARGIN_SECONDS)),
            "keepalive": 5,
            "proc_name": "event-gateway",
            "pre_fork": self._pre_fork,
            "post_fork": self._post_fork,
            "post_worker_init": self._post_worker_init,
            "worker_exit": self._worker_exit,
            "child_exit": self._child_exit,
            "when_ready": self._when_ready,
            # gunicorn >= 24's runtime control socket: one path per user, shared by every server
            # started by that user; the gateway is managed with signals.
            "control_socket_disable": True,
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application

    def run(self) -> None:
        self._prepare_fork()
        try:
            GatewayArbiter(self).run()
        except SystemExit as stop:
            if stop.code not in (0, None):
                raise click.ClickException(f"the server stopped with status {stop.code}") from None

    # before forking (master) ------------------------------------------------------------------

    def _prepare_fork(self) -> None:
        """What the children share: counters of integration and connection changes (so that an
        integration or the flag-platform connection changed through one process is seen by the next
        webhook in every other), a counter of
        changes that want checks (integrations and the flag-platform connection: it wakes the
        background checks of slot 0), the counts of failed authentication per client address
        (:mod:`gateway.runtime.auth_throttle`), the layout ``/healthz`` reports (processes, delivery workers
        in all), and no open database connection or database thread."""
        total = self.state.settings.workers
        self.state.serve_layout = (self.processes, sum(worker_share(total, self.processes, slot)
                                                       for slot in range(self.processes)))
        self.state.integrations.changes.share()
        if self.state.auth_throttle is not None:
            self.state.auth_throttle.share()  # failed authentication counted for the whole server
        if self.state.connection is not None:
            self.state.connection.changes.share()
        checks_wanted = self._checks_wanted = SharedChanges()
        checks_wanted.share()
        self.state.integrations.listeners.append(checks_wanted.bump)
        if self.state.connection is not None:
            self.state.connection.listeners.append(checks_wanted.bump)
        self.state.db_watch.node.share()  # one outage line per node, not one per process
        self.state.db.before_fork()

    def _pre_fork(self, _arbiter, worker) -> None:
        used = set(self._slots.values())
        worker.gateway_slot = next(slot for slot in range(len(used) + 1) if slot not in used)
        self._slots[worker] = worker.gateway_slot

    def _child_exit(self, _arbiter, worker) -> None:
        self._slots.pop(worker, None)

    def _when_ready(self, arbiter) -> None:
        workers = self.state.settings.workers
        delivery = (f"{workers} delivery worker(s) among them" if workers
                    else "no delivery workers (GATEWAY_WORKERS=0)")
        address = arbiter.LISTENERS[0]
        click.echo(f"event-gateway listening on {address} with {self.processes} processes "
                   f"of {self.state.settings.threads} threads, {delivery}", err=True)

    # in each child ----------------------------------------------------------------------------

    def _post_fork(self, _arbiter, worker) -> None:
        settings = self.state.settings
        worker.read_limits = ReadLimits(settings.header_read_seconds, settings.body_read_seconds,
                                        max(settings.max_body_bytes, settings.max_api_body_bytes))
        self.state.db.after_fork()
        self.state.db_watch.after_fork()
        self.state.new_work = threading.Condition()
        self.state.batch_work = threading.Condition()
        self.state.workers.clear()

    def _post_worker_init(self, worker) -> None:
        count = worker_share(self.state.settings.workers, self.processes, getattr(worker, "gateway_slot", 0))
        if count:
            worker.pool = WorkerPool(self.state, count)
            worker.pool.start()
            click.echo(f"event-gateway[{worker.pid}]: {count} delivery worker(s)", err=True)
        if getattr(worker, "gateway_slot", 0) == CHECKS_SLOT:
            checks_wanted = self._checks_wanted
            worker.checks = CheckRunner(self.state, self.state.settings.check_interval_seconds,
                                        changes=lambda: checks_wanted.generation)
            worker.checks.start()
            worker.catchup = CatchUpRunner(self.state, self.state.settings.catchup_interval_seconds)
            worker.catchup.start()
            click.echo(f"event-gateway[{worker.pid}]: background checks", err=True)

    def _worker_exit(self, _arbiter, worker) -> None:
        if isinstance(worker, GatewayWorker):
            worker.stop_delivery()
            if worker.stopper is not None:
                worker.stopper.join()
        self.state.db.dispose()

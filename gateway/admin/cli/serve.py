"""``event-gateway serve``: the production server with the delivery workers in-process: gunicorn
with one process per core on POSIX (:mod:`gateway.runtime.prefork`), waitress in one process otherwise."""

from __future__ import annotations

import os
import signal
import sys
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from gateway.runtime.check_runner import CheckRunner
from gateway.delivery import WorkerPool
from gateway.host.state import get_state
from gateway.admin.cli.stopping import on_stop_signal
from gateway.runtime.catchup_runner import CatchUpRunner


def _shown_default(setting: str, default: str) -> str:
    """What ``--help`` shows as an option's default: the value the setting's environment variable
    gives it, when set, else the built-in default."""
    value = os.environ.get(setting)
    return f"{value}, from {setting}" if value else f"{default}; {setting} sets it"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=_shown_default("GATEWAY_HOST", "127.0.0.1"),
              envvar="GATEWAY_HOST", help="Address to listen on.")
@click.option("--port", default=8080, show_default=_shown_default("GATEWAY_PORT", "8080"),
              type=click.IntRange(1, 65535), envvar="GATEWAY_PORT", help="Port to listen on.")
@click.option("--processes", type=click.IntRange(1, 256), default=None, envvar="GATEWAY_PROCESSES",
              help="Server processes (default: GATEWAY_PROCESSES, else the number of CPU cores). "
                   "More than one needs a POSIX system (gunicorn).")
@with_appcontext
def serve(host: str, port: int, processes: int | None) -> None:
    """Serve the gateway with a production WSGI server, and run GATEWAY_WORKERS delivery workers.

    On POSIX, gunicorn runs one process per CPU core (--processes), each with GATEWAY_THREADS
    request threads and its share of the delivery workers; with one process, or on Windows,
    waitress serves in this process.

    SIGTERM or SIGINT stops taking requests, lets running delivery attempts finish (at most
    GATEWAY_SHUTDOWN_GRACE_SECONDS) and leaves the rest queued; a second signal stops at once.
    """
    app = current_app._get_current_object()
    state = get_state(app)
    if state.admin_token_problem:
        raise click.ClickException(f"not starting: {state.admin_token_problem}")
    state.log_warnings()
    processes = processes or state.settings.processes or default_processes()
    if processes > 1 and sys.platform != "win32":
        from gateway.runtime.prefork import PreforkServer

        PreforkServer(app, host, port, processes).run()
        return
    _serve_with_waitress(app, state, host, port)


def default_processes() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _serve_with_waitress(app, state, host: str, port: int) -> None:
    from gateway.runtime.server_log import quiet_queue_warnings
    from gateway.runtime.waitress_server import create_waitress_server

    quiet_queue_warnings()
    server = create_waitress_server(app, host, port, state.settings)
    pool = WorkerPool(state, state.settings.workers) if state.settings.workers else None
    state.serve_layout = (1, state.settings.workers)
    checks = CheckRunner(state, state.settings.check_interval_seconds)
    catchup = CatchUpRunner(state, state.settings.catchup_interval_seconds)

    def stop(signum: int, _frame) -> None:
        # waitress's loop ends on SystemExit raised in it (and lets its request threads finish).
        click.echo(f"event-gateway: {signal.Signals(signum).name} received, stopping", err=True)
        raise SystemExit(0)

    workers = f"{state.settings.workers} delivery worker(s)" if pool else "no delivery workers (GATEWAY_WORKERS=0)"
    with on_stop_signal(stop):
        try:
            if pool is not None:
                pool.start()
            checks.start()
            catchup.start()
            click.echo(f"event-gateway listening on http://{host}:{server.effective_port} with {workers}", err=True)
            server.run()
        finally:
            # Let running attempts finish while the server closes, within one grace period.
            stopper = threading.Thread(target=pool.stop, name="stop-delivery-workers") if pool else None
            if stopper is not None:
                stopper.start()
            server.close()
            checks.stop()
            catchup.stop()
            if stopper is not None:
                stopper.join()

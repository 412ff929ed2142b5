"""``event-gateway serve``: the production server (waitress) with the delivery workers in-process."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from ..check_runner import CheckRunner
from ..delivery import WorkerPool
from ..state import get_state
from .stopping import on_stop_signal


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="GATEWAY_HOST")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), envvar="GATEWAY_PORT")
@with_appcontext
def serve(host: str, port: int) -> None:
    """Serve the gateway with a production WSGI server, and run GATEWAY_WORKERS delivery workers.

    SIGTERM or SIGINT stops taking requests, lets running delivery attempts finish (at most
    GATEWAY_SHUTDOWN_GRACE_SECONDS) and leaves the rest queued; a second signal stops at once.
    """
    from waitress import create_server

    app = current_app._get_current_object()
    state = get_state(app)
    if state.admin_token_problem:
        raise click.ClickException(f"not starting: {state.admin_token_problem}")
    server = create_server(app, host=host, port=port, threads=state.settings.threads, ident="event-gateway")
    pool = WorkerPool(state, state.settings.workers) if state.settings.workers else None
    checks = CheckRunner(state, state.settings.check_interval_seconds)

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
            click.echo(f"event-gateway listening on http://{host}:{server.effective_port} with {workers}", err=True)
            server.run()
        finally:
            # Let running attempts finish while the server closes, within one grace period.
            stopper = threading.Thread(target=pool.stop, name="stop-delivery-workers") if pool else None
            if stopper is not None:
                stopper.start()
            server.close()
            checks.stop()
            if stopper is not None:
                stopper.join()

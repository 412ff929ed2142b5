"""``event-gateway worker``: delivery workers without the web server."""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask.cli import with_appcontext

from gateway.delivery import WorkerPool
from gateway.host.state import get_state
from gateway.admin.cli.stopping import on_stop_signal

THREADS_WHEN_UNSET = 4
log = logging.getLogger("gateway.worker")


@click.command("worker")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help=f"Worker threads (default: GATEWAY_WORKERS, or {THREADS_WHEN_UNSET} when it is 0).")
@with_appcontext
def worker(threads: int | None) -> None:
    """Run delivery workers against the gateway's database until SIGTERM or SIGINT.

    Several may run at once, on one machine or many, beside `serve` or instead of its workers
    (GATEWAY_WORKERS=0). On PostgreSQL they are woken as soon as any node queues work
    (LISTEN/NOTIFY); they also look for due work at least once a second. On
    SIGTERM, running attempts may finish (at most GATEWAY_SHUTDOWN_GRACE_SECONDS); the rest stay queued.
    """
    state = get_state()
    for warning in state.differing_settings:
        log.warning("%s", warning)
    pool = WorkerPool(state, threads or state.settings.workers or THREADS_WHEN_UNSET)
    stopped = threading.Event()

    def stop(signum: int, _frame) -> None:
        click.echo(f"event-gateway worker: {signal.Signals(signum).name} received, stopping", err=True)
        stopped.set()

    with on_stop_signal(stop):
        pool.start()
        click.echo(f"event-gateway worker running {len(pool.slots)} delivery worker(s)", err=True)
        while not stopped.wait(0.5):
            pass
        released = pool.stop()
    click.echo(f"event-gateway worker stopped ({released} delivery(ies) put back in the queue)", err=True)

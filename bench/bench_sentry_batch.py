"""Benchmark the Sentry plugin's batched metric imports: a burst of errors, batched against one
request per error, drained by the same workers into the same fake LaunchDarkly events API.

Run from the repository root::

    .venv/bin/python bench/bench_sentry_batch.py            # 10,000 errors, about a minute
    .venv/bin/python bench/bench_sentry_batch.py --help

``--errors`` (10,000) Sentry errors, each with a ``launchdarklyContext``, are read by the plugin as
its webhook would be and queued with one pending delivery each, all due at once — the storm. A
worker pool of ``--concurrency`` threads (the real ``WorkerPool`` with the installed ``sentry``
plugin) then drains them into the fake events API: a threaded HTTP server on 127.0.0.1 in its own
process (so that it does not share the benchmark's interpreter) that answers 202 at once and counts
the requests and the events in them. Two runs, side by side in one process, on fresh SQLite
databases and against the same fake API:

- **batched**: the integration's defaults (``batch_size`` 100, ``batch_delay_seconds`` 1);
- **one per error**: ``batch_size`` 1, the baseline (each error its own request, through
  ``deliver_event``).

Reported for each: requests made, events imported, seconds from the pool's start to the last
delivery recorded ``delivered``, and errors/s; then the ratios. The two runs share the target and
the worker count, so the difference is what batching does.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from gateway import InboundRequest, create_app, hmac_sha256_hex  # noqa: E402
from gateway.delivery import WorkerPool  # noqa: E402
from gateway.host.state import get_state  # noqa: E402
from gateway.store.base import dumps, new_id, now  # noqa: E402
from gateway.store.tables import deliveries, events  # noqa: E402

ADMIN_TOKEN = "bench-admin-token-0123456789"
CLIENT_SECRET = "bench-sentry-client-secret"
ACCESS_TOKEN = "bench-launchdarkly-access-token"
SENTRY_PROJECT = 4504123456789012
INSERT_BATCH = 5000


# the fake events API ---------------------------------------------------------------------------


def run_target() -> None:
    """Child process: answer 202 to every import at once, counting requests and events; answer the
    metrics list (a metric counts the event key); ``GET /count`` says what arrived."""
    counts = {"requests": 0, "events": 0}
    lock = threading.Lock()
    metrics = json.dumps({"items": [{"key": "sentry-errors", "name": "Sentry errors", "eventKey": "sentry-errors",
                                     "isNumeric": False}], "totalCount": 1}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 64 * 1024

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            imported = len(json.loads(body))
            with lock:
                counts["requests"] += 1
                counts["events"] += imported
            self._answer(202, b"")

        def do_GET(self) -> None:
            if self.path.startswith("/count"):
                with lock:
                    self._answer(200, json.dumps(counts).encode())
            else:
                self._answer(200, metrics)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


class Target:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--child", "target"], stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def counts(self) -> dict[str, int]:
        return requests.get(self.url + "/count", timeout=5).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# the burst -------------------------------------------------------------------------------------


def sentry_webhook(n: int) -> bytes:
    """A Sentry ``error`` webhook as Sentry sends it, for error ``n``."""
    event_id = f"{n:032x}"
    return json.dumps({
        "action": "created",
        "installation": {"uuid": "bench-installation"},
        "data": {"error": {
            "event_id": event_id, "project": SENTRY_PROJECT, "environment": "production", "level": "error",
            "datetime": "2026-01-01T12:00:00.000000+00:00", "title": f"ZeroDivisionError ({n})",
            "issue_id": "4611223344", "release": "checkout@2.14.0",
            "url": f"https://sentry.io/api/0/projects/acme/checkout/events/{event_id}/",
            "contexts": {"launchdarklyContext": {"kind": "user", "key": f"user-{n % 5000}"}},
        }},
    }).encode()


def queue_burst(state, integration_id: str, count: int) -> None:
    """Read ``count`` errors through the plugin's webhook reader and store each with a pending
    delivery, due now, in large transactions."""
    host = state.host
    config = state.integrations.active(state.db.integrations.get(integration_id)).config
    ref = state.integrations.active(state.db.integrations.get(integration_id)).ref
    stamp = now()
    for start in range(0, count, INSERT_BATCH):
        event_rows, delivery_rows = [], []
        for n in range(start, min(count, start + INSERT_BATCH)):
            body = sentry_webhook(n)
            request = InboundRequest(method="POST", path="/webhooks/integrations/bench", body=body,
                                     content_type="application/json",
                                     headers={"Sentry-Hook-Resource": "error",
                                              "Sentry-Hook-Signature": hmac_sha256_hex(CLIENT_SECRET, body)})
            [event] = host.call("sentry", "receive_webhook", request=request, config=config, integration=ref).events
            event.id = new_id()
            event_rows.append(dict(id=event.id, source=event.source, source_id=event.source_id,
                                   integration_id=integration_id, dedupe_key=f"{integration_id}|{event.source_id}",
                                   kind=event.kind, title=event.title, occurred_at=stamp, received_at=stamp,
                                   body=dumps(event.to_dict(include_raw=False)), raw="null"))
            delivery_rows.append(dict(id=new_id(), event_id=event.id, integration_id=integration_id,
                                      plugin="sentry", status="pending", reason="bench", attempts=0,
                                      next_attempt_at=stamp, created_at=stamp, updated_at=stamp))
        with state.db.engine.begin() as connection:
            connection.execute(events.insert(), event_rows)
            connection.execute(deliveries.insert(), delivery_rows)


def drain(workdir: str, name: str, target: Target, count: int, concurrency: int, batch_size: int) -> dict[str, float]:
    """Queue the burst in a fresh instance, start the pool, and time it until every delivery is delivered."""
    app = create_app({"GATEWAY_INSTANCE_PATH": str(Path(workdir) / name), "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
                      "GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "sentry"}, entry_points=True)
    state = get_state(app)
    if "sentry" not in state.host.plugins:
        raise SystemExit("the sentry plugin is not installed: run `make install` first")
    integration = state.integrations.create({"plugin": "sentry", "name": name, "config": {
        "client_secret": CLIENT_SECRET, "access_token": ACCESS_TOKEN, "events_url": target.url,
        "api_url": target.url, "batch_size": batch_size,
        "environment_mappings": [{"sentry_project": SENTRY_PROJECT, "sentry_environment": "production",
                                  "ld_project": "checkout", "ld_environment": "production"}]}})
    queue_burst(state, integration.id, count)
    before = target.counts()
    pool = WorkerPool(state, concurrency, prefix=f"bench-{name}")
    started = time.perf_counter()
    pool.start()
    try:
        while (stats := state.db.deliveries.stats(now())).depth:  # (stats counts only what waits)
            if stats.by_status["dead"] or stats.by_status["retrying"]:
                raise SystemExit(f"{name}: deliveries failed: {stats.by_status}")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        pool.stop(grace=10)
        state.db.dispose()
    after = target.counts()
    return {"requests": after["requests"] - before["requests"], "events": after["events"] - before["events"],
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--errors", type=int, default=10_000, help="errors in the burst")
    parser.add_argument("--concurrency", type=int, default=4, help="delivery worker threads")
    parser.add_argument("--batch-size", type=int, default=100, help="batch_size of the batched run")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_target()
        return
    print(f"bench_sentry_batch: {args.errors:,} errors, {args.concurrency} worker threads, Python "
          f"{platform.python_version()}, SQLite")
    target = Target()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sentry-") as workdir:
            batched = drain(workdir, "batched", target, args.errors, args.concurrency, args.batch_size)
            single = drain(workdir, "single", target, args.errors, args.concurrency, 1)
    finally:
        target.stop()
    for name, run in (("batched (batch_size %d)" % args.batch_size, batched), ("one request per error", single)):
        print(f"  {name:<26} requests {run['requests']:>6,}  events {run['events']:>6,}  "
              f"drained in {run['seconds']:7.2f} s  ({args.errors / run['seconds']:8.0f} errors/s)")
    print(f"  ratio: {single['requests'] / batched['requests']:.0f}x fewer requests, "
          f"drained {single['seconds'] / batched['seconds']:.1f}x faster")
    for run in (batched, single):
        if run["events"] != args.errors:
            raise SystemExit(f"expected {args.errors} events imported, the fake API counted {run['events']}")


if __name__ == "__main__":
    main()

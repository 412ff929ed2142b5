"""Benchmark the delivery workers: throughput against a bare HTTP loop, webhook-to-target latency,
and the memory of a worker facing a large backlog.

Run from the repository root::

    .venv/bin/python bench/bench_delivery.py            # defaults take about two minutes
    .venv/bin/python bench/bench_delivery.py --help

1. Throughput. ``--deliveries`` (10,000) queued deliveries are sent to a fake target (a threaded
   HTTP server on 127.0.0.1 in its own process that answers 202 at once) by ``event-gateway serve``'s
   own delivery workers (the real command in a subprocess, ``--processes`` processes sharing
   ``--concurrency`` workers, the in-bench ``benchplugin`` POSTing each event with the core
   ``HttpClient``), timed from the first delivery's arrival. In the same run, a bare loop of
   ``--concurrency`` threads, each with a ``requests.Session``, POSTs the same bodies to the same
   target. Goal: ``serve`` reaches at least 0.8 of the bare loop's rate. Also shown: the CPU time
   one delivery cost the bare loop's process and ``serve``'s processes, and how idle the machine
   was during each run (the bare loop, one interpreter, uses at most one core; ``serve`` needs
   both, so on a machine busy with other work its rate falls towards the bare loop's times the
   ratio of their CPU costs); one worker pool in this process; two ``event-gateway worker``
   processes of half as many threads each.
2. Latency. ``event-gateway serve`` (the real command, in a subprocess, with the bench plugin) gets
   ``--latency-samples`` webhooks over HTTP, one at a time with the gateway idle in between; each
   sample is the time from posting the webhook to the target receiving the event. Goal: p50 < 20 ms.
3. Memory. ``event-gateway worker`` (the real command, in a subprocess) runs against a database
   holding ``--backlog`` (100,000) pending deliveries for ``--rss-seconds``; its peak resident set
   (``VmHWM`` in ``/proc/<pid>/status``) is read before it is stopped. Goal: under 200 MB, because
   workers claim one delivery at a time and never load the backlog.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from marshmallow import Schema  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from gateway import Access, Delivered, Event, IntegrationType, RetryLater, TargetURL, create_app, hookimpl  # noqa: E402
from gateway.delivery import WorkerPool  # noqa: E402
from gateway.host.state import get_state  # noqa: E402
from gateway.store.base import dumps, new_id, now  # noqa: E402
from gateway.store.tables import deliveries, events  # noqa: E402
from gateway.testing import FakeService, Reply, free_port, wait_until  # noqa: E402

ADMIN_TOKEN = "bench-admin-token-0123456789"
RESOURCE = "proj/bench:env/production:flag/bench-flag"
INSERT_BATCH = 5000
PROCESS_START_SECONDS = 5.0  # worker processes start within this; their deliveries fall due after it


# the plugin ------------------------------------------------------------------------------------


class BenchConfig(Schema):
    url = TargetURL(required=True)


class BenchPlugin:
    """POSTs the event as JSON to ``url`` with the core's HTTP client."""

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="benchplugin", name="Bench", description="posts events to a URL",
                               config_schema=BenchConfig,
                               default_policy=[{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}])

    @hookimpl
    def deliver_event(self, event, config, http, delivery):
        response = http.post(config["url"], data=event_body(event), headers={"Content-Type": "application/json"})
        if response.ok:
            return Delivered(str(response.status_code))
        return RetryLater(f"target answered {response.status_code}")


def event_body(event: Event) -> bytes:
    return json.dumps(event.to_dict(include_raw=False), separators=(",", ":")).encode()


def make_bench_app(instance: str, **config: str):
    settings = {"GATEWAY_INSTANCE_PATH": instance, "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
                "GATEWAY_ALLOW_PRIVATE_TARGETS": "1", **config}
    return create_app(settings, plugins=(("benchplugin", BenchPlugin()),), entry_points=False)


# the target ------------------------------------------------------------------------------------


def run_target() -> None:
    """Child process: answer 202 to every POST at once; ``GET /count`` says how many arrived."""
    count = 0
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 64 * 1024  # one write per answer: no Nagle / delayed-ACK stall between header and body

        def do_POST(self) -> None:
            nonlocal count
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                count += 1
            self._answer(202, b'{"accepted":true}')

        def do_GET(self) -> None:
            with lock:
                self._answer(200, str(count).encode())

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
    """The fake target in its own process (so that it does not share the benchmark's interpreter)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--child", "target"], stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"
        self.session = requests.Session()  # one kept-alive connection for the progress checks

    def count(self) -> int:
        return int(self.session.get(self.url + "/count", timeout=5).text)

    def stop(self) -> None:
        self.session.close()
        self.process.terminate()
        self.process.wait(10)


# queueing --------------------------------------------------------------------------------------


def sample_event(n: int) -> Event:
    return Event(source="bench", source_id=f"bench-{n}", kind="flag", occurred_at=datetime.now(timezone.utc),
                 title=f"flag bench-flag turned on ({n})", accesses=[Access("updateOn", RESOURCE)],
                 project_key="bench", environment_key="production", flag_key="bench-flag", name="Bench flag")


def queue_deliveries(state, integration_id: str, count: int, due: float | None = None) -> list[bytes]:
    """Store ``count`` events with one pending delivery each (due now unless told), in large
    transactions; returns the bodies the plugin will send for them."""
    bodies = []
    stamp = now()
    due = stamp if due is None else due
    for start in range(0, count, INSERT_BATCH):
        event_rows, delivery_rows = [], []
        for n in range(start, min(count, start + INSERT_BATCH)):
            event = sample_event(n)
            event.id = new_id()
            body = event.to_dict(include_raw=False)
            bodies.append(event_body(event))
            event_rows.append(dict(id=event.id, source="bench", source_id=event.source_id, integration_id=None,
                                   dedupe_key=f"bench||{event.source_id}", kind="flag", title=event.title,
                                   occurred_at=stamp, received_at=stamp, body=dumps(body), raw="null"))
            delivery_rows.append(dict(id=new_id(), event_id=event.id, integration_id=integration_id,
                                      plugin="benchplugin", status="pending", reason="bench", attempts=0,
                                      next_attempt_at=due, created_at=stamp, updated_at=stamp))
        with state.db.engine.begin() as connection:
            connection.execute(events.insert(), event_rows)
            connection.execute(deliveries.insert(), delivery_rows)
    return bodies


def add_integration(state, url: str) -> str:
    return state.integrations.create({"plugin": "benchplugin", "name": "bench", "config": {"url": url}}).id


# 1. throughput ---------------------------------------------------------------------------------


def bare_loop(url: str, bodies: list[bytes], concurrency: int) -> float:
    """Seconds for ``concurrency`` threads with a pooled ``requests.Session`` each to POST every body."""
    work: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    for body in bodies:
        work.put(body)
    failures = []

    def run() -> None:
        with requests.Session() as session:
            while True:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=15)
                if response.status_code != 202:
                    failures.append(response.status_code)

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"the bare loop got {len(failures)} non-202 answers")
    return time.perf_counter() - started


# what a run costs ------------------------------------------------------------------------------


def delivered(state) -> int:
    """How many deliveries are delivered (the queue's stats count only those that wait)."""
    with state.db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(deliveries)
                                  .where(deliveries.c.status == "delivered")).scalar()


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and every process under it (Linux /proc; 0 elsewhere)."""
    if not os.path.isdir("/proc"):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            used[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += used.get(current, 0.0)
        todo += [child for child, parent in parents.items() if parent == current]
    return total


def machine_ticks() -> tuple[int, int]:
    """(all, idle) CPU ticks of the machine so far (Linux /proc/stat; zeros elsewhere)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
    except OSError:
        return 0, 0
    return sum(values), values[3] + values[4]  # idle and iowait


class Cost:
    """What one run cost: CPU seconds of the processes that sent (:meth:`stop` is given them) and
    the share of the machine's CPU time left idle meanwhile (other programs may take the rest)."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.idle = 0.0
        self._ticks = (0, 0)

    def start(self) -> None:
        self._ticks = machine_ticks()

    def stop(self, cpu: float) -> None:
        total, idle = machine_ticks()
        self.cpu = cpu
        self.idle = (idle - self._ticks[1]) / max(1, total - self._ticks[0])


def gateway_run(state, target: Target, count: int, concurrency: int) -> float:
    """Seconds for a worker pool of ``concurrency`` threads to deliver the ``count`` queued deliveries
    and record them delivered. Progress is watched at the target (cheap), then confirmed in the database."""
    pool = WorkerPool(state, concurrency, prefix="bench")
    goal = target.count() + count
    started = time.perf_counter()
    pool.start()
    try:
        while target.count() < goal:
            time.sleep(0.05)
        while delivered(state) < count:
            time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        pool.stop(grace=10)


def wait_for_first(target: Target, before: int, exited) -> float:
    """The moment the first delivery reaches the target (the processes' start-up is not delivery)."""
    while target.count() == before:
        if exited():
            raise SystemExit("a gateway process exited; see its log in the bench's work folder")
        time.sleep(0.002)
    return time.perf_counter()


def processes_run(workdir: str, target: Target, count: int, concurrency: int) -> float:
    """Seconds for two ``event-gateway worker`` processes of ``concurrency / 2`` threads each to deliver
    ``count`` deliveries, timed from the first one's arrival (the processes start before they fall due,
    but start-up on a busy machine may take longer)."""
    instance = os.path.join(workdir, "processes")
    state = get_state(make_bench_app(instance))
    due = now() + PROCESS_START_SECONDS
    queue_deliveries(state, add_integration(state, target.url + "/events"), count, due=due)
    goal = target.count() + count
    threads = str(max(1, concurrency // 2))
    workers = [child_command(instance, ["worker", "--threads", threads], {}, os.path.join(workdir, f"worker{n}.log"))
               for n in range(2)]
    try:
        started = wait_for_first(target, goal - count, lambda: any(w.poll() is not None for w in workers))
        while target.count() < goal:
            if any(w.poll() is not None for w in workers):
                raise SystemExit("a worker process exited; see its log in the bench's work folder")
            time.sleep(0.05)
        while delivered(state) < count:
            time.sleep(0.01)
        return (time.perf_counter() - started) * count / (count - 1)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
        state.db.dispose()


def serve_run(workdir: str, target: Target, count: int, concurrency: int, processes: int, cost: Cost) -> float:
    """Seconds for ``event-gateway serve`` (``processes`` processes sharing ``concurrency`` delivery
    workers) to deliver ``count`` deliveries, timed from the first one's arrival (as :func:`processes_run`);
    ``cost`` gets the CPU its processes used meanwhile."""
    instance = os.path.join(workdir, "serve")
    state = get_state(make_bench_app(instance))
    due = now() + PROCESS_START_SECONDS
    queue_deliveries(state, add_integration(state, target.url + "/events"), count, due=due)
    goal = target.count() + count
    served = child_command(instance, ["serve", "--port", str(free_port()), "--processes", str(processes)],
                           {"GATEWAY_WORKERS": str(concurrency)}, os.path.join(workdir, "serve-throughput.log"))
    try:
        started = wait_for_first(target, goal - count, lambda: served.poll() is not None)
        cpu = tree_cpu(served.pid)
        cost.start()
        while target.count() < goal:
            if served.poll() is not None:
                raise SystemExit("serve exited; see its log in the bench's work folder")
            time.sleep(0.05)
        cost.stop(tree_cpu(served.pid) - cpu)
        while delivered(state) < count:
            time.sleep(0.01)
        return (time.perf_counter() - started) * count / (count - 1)
    finally:
        served.send_signal(signal.SIGTERM)
        served.wait(60)
        state.db.dispose()


def throughput(args: argparse.Namespace, target: Target, workdir: str,
               bare_cost: Cost, serve_cost: Cost) -> tuple[float, float, float, float]:
    """Delivered/s of the bare loop, of the in-process worker pool, of two worker processes, and of
    ``serve`` with its own workers; what the bare loop's and ``serve``'s runs cost."""
    app = make_bench_app(os.path.join(workdir, "throughput"), GATEWAY_WORKERS=str(args.concurrency))
    state = get_state(app)
    bodies = queue_deliveries(state, add_integration(state, target.url + "/events"), args.deliveries)
    before = target.count()
    cpu = time.process_time()
    bare_cost.start()
    bare_seconds = bare_loop(target.url + "/events", bodies, args.concurrency)
    bare_cost.stop(time.process_time() - cpu)
    gateway_seconds = gateway_run(state, target, args.deliveries, args.concurrency)
    state.db.dispose()
    processes_seconds = processes_run(workdir, target, args.deliveries, args.concurrency)
    serve_seconds = serve_run(workdir, target, args.deliveries, args.concurrency, args.processes, serve_cost)
    arrived = target.count() - before
    if arrived != 4 * args.deliveries:
        raise SystemExit(f"the target got {arrived} requests, expected {4 * args.deliveries}")
    return (args.deliveries / bare_seconds, args.deliveries / gateway_seconds,
            args.deliveries / processes_seconds, args.deliveries / serve_seconds)


# 2. latency ------------------------------------------------------------------------------------


def child_command(instance: str, command: list[str], env: dict[str, str], log_path: str) -> subprocess.Popen:
    """An ``event-gateway`` command in a child process (with the bench plugin), logging to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, __file__, "--child", "command", instance, *command],
                                env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log)


def run_command(instance: str, command: list[str]) -> None:
    """Child process: run an ``event-gateway`` command with the bench plugin loaded."""
    from gateway.admin.cli.serve import serve
    from gateway.admin.cli.worker import worker

    app = make_bench_app(instance)
    with app.app_context():
        {"serve": serve, "worker": worker}[command[0]].main(command[1:], standalone_mode=False)


def ld_body(source_id: str) -> bytes:
    return json.dumps({"_id": source_id, "kind": "flag", "date": int(time.time() * 1000),
                       "title": "turned on bench-flag", "accesses": [{"action": "updateOn", "resource": RESOURCE}]}).encode()


def latency(args: argparse.Namespace, workdir: str) -> list[float]:
    instance = os.path.join(workdir, "latency")
    seen: dict[str, float] = {}

    def reply(request) -> Reply:
        seen[json.loads(request.body)["source_id"]] = time.perf_counter()
        return Reply(202, {})

    with FakeService(reply) as target:
        state = get_state(make_bench_app(instance))
        add_integration(state, target.url + "/events")
        state.db.dispose()
        port = free_port()
        log_path = os.path.join(workdir, "serve.log")
        process = child_command(instance, ["serve", "--port", str(port), "--processes", str(args.processes)],
                                {"GATEWAY_WORKERS": str(args.concurrency)}, log_path)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _healthy(url, process, log_path), timeout=60, interval=0.05,
                       message="the served gateway")
            samples = []
            with requests.Session() as session:
                for n in range(args.latency_samples + 5):
                    source_id = f"latency-{uuid.uuid4().hex}"
                    sent = time.perf_counter()
                    response = session.post(url + "/webhooks/launchdarkly", data=ld_body(source_id),
                                            headers={"Content-Type": "application/json"}, timeout=10)
                    if response.status_code != 202 or response.json()["queued"] != 1:
                        raise SystemExit(f"webhook not queued: {response.status_code} {response.text}")
                    wait_until(lambda: source_id in seen, timeout=10, interval=0.0005, message="the delivery")
                    if n >= 5:  # the first few warm up connections
                        samples.append((seen[source_id] - sent) * 1000)
                    time.sleep(0.02)  # idle again before the next one
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    return samples


def _healthy(url: str, process: subprocess.Popen, log_path: str) -> bool:
    if process.poll() is not None:
        raise SystemExit(f"the gateway exited: {Path(log_path).read_text()}")
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# 3. memory -------------------------------------------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc (Linux only)")


def memory(args: argparse.Namespace, target: Target, workdir: str) -> tuple[float, int, float]:
    instance = os.path.join(workdir, "memory")
    state = get_state(make_bench_app(instance))
    queue_deliveries(state, add_integration(state, target.url + "/events"), args.backlog)
    state.db.dispose()
    before = target.count()
    log_path = os.path.join(workdir, "memory-worker.log")
    process = child_command(instance, ["worker", "--threads", str(args.concurrency)], {}, log_path)
    time.sleep(args.rss_seconds)
    if process.poll() is not None:
        raise SystemExit(f"the worker exited: {Path(log_path).read_text()}")
    peak = peak_rss_mb(process.pid)
    process.send_signal(signal.SIGTERM)
    process.wait(60)
    delivered = target.count() - before
    return peak, delivered, delivered / args.rss_seconds


# main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=10_000, help="queued deliveries for the throughput run")
    parser.add_argument("--concurrency", type=int, default=4, help="worker threads, and bare-loop threads")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="processes of the `serve` runs (they share --concurrency delivery workers)")
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=100_000, help="pending deliveries for the memory run")
    parser.add_argument("--rss-seconds", type=float, default=15.0, help="how long the worker runs on the backlog")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "target":
            run_target()
        else:
            run_command(args.child[1], args.child[2:])
        return

    print(f"Delivery benchmark: Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, concurrency {args.concurrency}")
    target = Target()
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as workdir:
        try:
            bare_cost, serve_cost = Cost(), Cost()
            bare_rate, gateway_rate, processes_rate, serve_rate = throughput(args, target, workdir, bare_cost, serve_cost)
            samples = latency(args, workdir)
            peak, delivered, rate = memory(args, target, workdir)
        finally:
            target.stop()

    ratio, processes_ratio, serve_ratio = gateway_rate / bare_rate, processes_rate / bare_rate, serve_rate / bare_rate
    half = max(1, args.concurrency // 2)
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    rows = [
        ("bare requests.Session loop", f"{bare_rate:,.0f} /s", f"{args.concurrency} threads, one process"),
        ("gateway, `serve`'s own workers", f"{serve_rate:,.0f} /s",
         f"`serve --processes {args.processes}`, {args.concurrency} workers in all"),
        ("  / bare", f"{serve_ratio:.3f}", "goal >= 0.80 " + ("met" if serve_ratio >= 0.8 else "MISSED")),
        ("  CPU per delivery, bare loop", f"{1000 * bare_cost.cpu / args.deliveries:.2f} ms",
         f"its process; the machine was {100 * bare_cost.idle:.0f}% idle meanwhile"),
        ("  CPU per delivery, `serve`", f"{1000 * serve_cost.cpu / args.deliveries:.2f} ms",
         f"its processes; the machine was {100 * serve_cost.idle:.0f}% idle meanwhile"),
        ("gateway, one worker pool", f"{gateway_rate:,.0f} /s", f"{args.concurrency} threads in this process"),
        ("  / bare", f"{ratio:.3f}", ""),
        ("gateway, 2 worker processes", f"{processes_rate:,.0f} /s", f"`event-gateway worker --threads {half}` x 2"),
        ("  / bare", f"{processes_ratio:.3f}", ""),
        ("webhook-to-target p50", f"{p50:.1f} ms", "goal < 20 ms " + ("met" if p50 < 20 else "MISSED")),
        ("webhook-to-target p99", f"{p99:.1f} ms", f"mean {statistics.mean(samples):.1f} ms, n={len(samples)}"),
        (f"worker peak RSS, {args.backlog:,} pending", f"{peak:.1f} MB",
         "goal < 200 MB " + ("met" if peak < 200 else "MISSED")),
        ("worker rate on that backlog", f"{rate:,.0f} /s", f"{delivered:,} delivered in {args.rss_seconds:g} s"),
    ]
    print(f"\n{'measure':<36}{'value':>14}   notes")
    print(f"{'-' * 36}{'-' * 14}   {'-' * 28}")
    for label, value, note in rows:
        print(f"{label:<36}{value:>14}   {note}")
    print(f"\nThroughput: {args.deliveries:,} deliveries per run to a local target (its own process) answering 202.")


if __name__ == "__main__":
    main()

"""Several processes on one PostgreSQL database: delivery throughput with 1, 2 and 4 worker
processes, webhook-to-target latency across two nodes, and intake on two nodes — each side by side,
in the same run, with a bare baseline on the same sink or the same database.

    .venv/bin/python bench/bench_postgres.py [--deliveries 4000] [--threads 4] [--seconds 10]

The server is ``GATEWAY_BENCH_DATABASE_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``);
a scratch database is created on it for the run and dropped afterwards.

1. Delivery. ``--deliveries`` queued deliveries are sent by 1, 2 and 4 ``event-gateway worker``
   processes of ``--threads`` threads each (the bench plugin of ``bench_delivery.py``, POSTing with
   the core ``HttpClient``) to a target in its own process answering 202; timed from the moment they
   fall due (the processes start before). Durable baseline: as many bare processes
   (``bare_durable_queue.py``), each looping *claim one due row with ``FOR UPDATE SKIP LOCKED`` →
   POST → write the outcome and commit* on the same PostgreSQL, the same target and bodies. For
   context, a bare loop of ``requests.Session`` threads in one process (no database). Each side's CPU
   time per delivery (its processes, summed) is shown: it does not depend on how busy the machine is,
   where rates do.
2. Latency across nodes. Two ``serve`` nodes: A without workers (``GATEWAY_WORKERS=0``) takes the
   webhooks, B's idle workers deliver them (woken by LISTEN/NOTIFY); each sample is the time from
   posting to A to the target receiving the event, one at a time. Beside it: one node that takes and
   delivers, and the bare baseline of a ``requests.Session`` POSTing straight to the target.
3. Intake on two nodes. ``wrk`` (``apt-get install -y wrk``) loads two ``serve`` nodes (no workers,
   one integration: each webhook stores the event and one decision) with webhooks of distinct ids for
   ``--seconds``; then two processes of a bare Flask app on the same server and thread count, which
   parse the body and commit one row per request to the same PostgreSQL. wrk is a C load generator:
   it is not the bottleneck (its own CPU use is printed). Beside each side's rate, its servers' CPU
   per webhook (the processes' own count, less at the mercy of a busy machine than the rates).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import bench_delivery as bd  # noqa: E402
from gateway.host.state import get_state  # noqa: E402
from gateway.store.base import now  # noqa: E402
from gateway.testing import FakeService, Reply, free_port, wait_until  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "bench secret key shared by every process"
HERE = Path(__file__).resolve().parent
DELIVERY_GOAL = 0.8  # of the durable baseline, at each process count
LATENCY_GOAL_MS = 8.0  # idle webhook-to-target p50
INTAKE_GOAL = 0.8  # of the bare Flask app, two nodes


class ScratchDatabase:
    def __init__(self, server_url: str):
        self.server = make_url(server_url)
        self.name = f"event_gateway_bench_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = self.server.set(database=self.name).render_as_string(hide_password=False)

    def schema(self, name: str) -> str:
        """A fresh schema (one per run of the bench) and the URL that uses it."""
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
        engine.dispose()
        url = make_url(self.url)
        return url.set(query={**url.query, "options": f"-csearch_path={name}"}).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def env_for(url: str, **settings: str) -> dict[str, str]:
    # One process per node (``serve`` would fork one per core): a node here is one process, as is
    # each process of the bare baseline.
    return {"GATEWAY_DATABASE_URL": url, "GATEWAY_SECRET_KEY": SECRET_KEY, "GATEWAY_ALLOW_PRIVATE_TARGETS": "1",
            "GATEWAY_PROCESSES": "1", **settings}


def with_env(env: dict[str, str]):
    """Set ``env`` in this process too (apps made here read it), returning a function that undoes it."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)

    def undo() -> None:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return undo


# 1. delivery -----------------------------------------------------------------------------------


def release_and_wait(state, workers, target, goal: int, deliveries: int, workdir: str) -> float:
    """Make every queued delivery due now and wake the worker processes; wait until the target has
    received ``goal`` in all and ``deliveries`` are recorded delivered. Returns when it started."""
    started = now()
    with state.db.engine.begin() as connection:
        connection.execute(text("UPDATE deliveries SET next_attempt_at = :now"), {"now": started})
        connection.execute(text("SELECT pg_notify('event_gateway_work', current_schema())"))
    while target.count() < goal:
        if any(w.poll() is not None for w in workers):
            raise SystemExit(f"a worker process exited; see the logs in {workdir}")
        time.sleep(0.05)
    while bd.delivered(state) < deliveries:
        time.sleep(0.01)
    return started


def delivery_run(url: str, workdir: str, target: bd.Target, processes: int, args) -> tuple[float, float]:
    """Delivered/s of ``processes`` worker processes of ``args.threads`` threads on ``url``, and
    their CPU seconds per delivery. The deliveries are queued due in an hour; once every process
    says it runs, they are made due at once (and the workers woken with the gateway's NOTIFY), and
    the clock and the CPU count start: the processes' start-up, which on a busy machine may take
    seconds, is not delivery."""
    env = env_for(url)
    undo = with_env(env)
    instance = os.path.join(workdir, f"delivery-{processes}")
    try:
        state = get_state(bd.make_bench_app(instance))
        bd.queue_deliveries(state, bd.add_integration(state, target.url + "/events"), args.deliveries,
                            due=now() + 3600)
        goal = target.count() + args.deliveries
        logs = [os.path.join(workdir, f"worker-{processes}-{n}.log") for n in range(processes)]
        workers = [bd.child_command(instance, ["worker", "--threads", str(args.threads)], env, log)
                   for log in logs]
        try:
            wait_until(lambda: all("delivery worker(s)" in Path(log).read_text() for log in logs)
                       or any(w.poll() is not None for w in workers), timeout=120, interval=0.1,
                       message="the worker processes")
            time.sleep(1)  # their listeners connect
            cpu = sum(bd.tree_cpu(w.pid) for w in workers)
            started = release_and_wait(state, workers, target, goal, args.deliveries, workdir)
            rate = args.deliveries / (now() - started)
            return rate, (sum(bd.tree_cpu(w.pid) for w in workers) - cpu) / args.deliveries
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
                worker.wait(60)
            state.db.dispose()
    finally:
        undo()


def bare_rate(target: bd.Target, count: int, threads: int) -> tuple[float, float]:
    bodies = [bd.event_body(bd.sample_event(n)) for n in range(count)]
    cpu = time.process_time()
    seconds = bd.bare_loop(target.url + "/events", bodies, threads)
    return count / seconds, (time.process_time() - cpu) / count


def durable_run(url: str, target: bd.Target, processes: int, args) -> tuple[float, float]:
    """Delivered/s of ``processes`` bare durable-queue processes (``bare_durable_queue.py``) on
    ``url``, and their CPU seconds per delivery; as for the gateway, timed from when every process
    is ready (they wait for a start time given to them)."""
    import bare_durable_queue as bq

    bq.create_queue(url, args.deliveries)
    goal = target.count() + args.deliveries
    start_at = time.time() + 3 + processes
    children = [subprocess.Popen([sys.executable, str(HERE / "bare_durable_queue.py"), url, target.url + "/events",
                                  str(start_at)], stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    cpu = 0.0
    try:
        for child in children:
            out, _ = child.communicate(timeout=600)
            if child.returncode != 0 or not out.startswith("cpu "):
                raise SystemExit("a bare durable-queue process failed (or was not ready by its start time)")
            cpu += float(out.split()[1])
        seconds = time.time() - start_at
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    if target.count() < goal or bq.delivered(url) != args.deliveries:
        raise SystemExit("the bare durable queue did not deliver every row")
    return args.deliveries / seconds, cpu / args.deliveries


# 2. latency ------------------------------------------------------------------------------------


def serve_node(instance: str, env: dict[str, str], workdir: str, name: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log_path = os.path.join(workdir, f"{name}.log")
    process = bd.child_command(instance, ["serve", "--port", str(port)], env, log_path)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: bd._healthy(url, process, log_path), timeout=60, interval=0.05, message=name)
    return process, url


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(30)


def sample_latency(post_url: str, seen: dict, samples: int) -> list[float]:
    out = []
    with requests.Session() as session:
        for n in range(samples + 5):
            source_id = f"latency-{uuid.uuid4().hex}"
            sent = time.perf_counter()
            response = session.post(post_url, data=bd.ld_body(source_id), timeout=10,
                                    headers={"Content-Type": "application/json"})
            if response.status_code not in (202, 200):
                raise SystemExit(f"unexpected answer {response.status_code}: {response.text}")
            wait_until(lambda: source_id in seen, timeout=10, interval=0.0005, message="the delivery")
            if n >= 5:
                out.append((seen[source_id] - sent) * 1000)
            time.sleep(0.05)  # idle again
    return out


def latency(db: ScratchDatabase, workdir: str, args) -> dict[str, list[float]]:
    seen: dict[str, float] = {}

    def reply(request) -> Reply:
        seen[json.loads(request.body)["source_id"]] = time.perf_counter()
        return Reply(202, {})

    results = {}
    with FakeService(reply) as target:
        for label, nodes in (("two nodes", 2), ("one node", 1)):
            url = db.schema(f"latency_{nodes}")
            undo = with_env(env_for(url))
            try:
                state = get_state(bd.make_bench_app(os.path.join(workdir, f"lat{nodes}-setup")))
                bd.add_integration(state, target.url + "/events")
                state.db.dispose()
            finally:
                undo()
            a_env = env_for(url, GATEWAY_WORKERS="0" if nodes == 2 else str(args.threads))
            a, a_url = serve_node(os.path.join(workdir, f"lat{nodes}-a"), a_env, workdir, f"lat{nodes}-a")
            started = [a]
            try:
                if nodes == 2:
                    b, _ = serve_node(os.path.join(workdir, f"lat{nodes}-b"), env_for(url, GATEWAY_WORKERS=str(args.threads)),
                                      workdir, f"lat{nodes}-b")
                    started.append(b)
                    time.sleep(1)  # B's listener connects
                results[label] = sample_latency(a_url + "/webhooks/launchdarkly", seen, args.latency_samples)
            finally:
                stop(*started)
        bare = []
        with requests.Session() as session:
            for n in range(args.latency_samples + 5):
                source_id = f"bare-{uuid.uuid4().hex}"
                sent = time.perf_counter()
                session.post(target.url + "/events", data=json.dumps({"source_id": source_id}), timeout=10)
                if n >= 5:
                    bare.append((seen[source_id] - sent) * 1000)
        results["bare POST"] = bare
    return results


# 3. intake -------------------------------------------------------------------------------------


def wrk(urls: list[str], seconds: float, connections: int) -> tuple[int, int, float, float]:
    """Load every url at once with wrk (2 threads each); returns requests, failures, seconds, wrk CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    runs = [subprocess.Popen(["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "-s",
                              str(HERE / "wrk_unique_webhooks.lua"), url], stdout=subprocess.PIPE, text=True)
            for url in urls]
    total = failures = 0
    duration = 0.0
    for run in runs:
        out, _ = run.communicate(timeout=seconds + 60)
        match = re.search(r"RESULT requests=(\d+) non2xx=(\d+) errors=(\d+) seconds=([\d.]+)", out)
        if not match:
            raise SystemExit(f"wrk said:\n{out}")
        total += int(match[1])
        failures += int(match[2]) + int(match[3])
        duration = max(duration, float(match[4]))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return total, failures, duration, cpu


def wrk_with_cpu(processes: list[subprocess.Popen], urls: list[str], seconds: float, connections: int) -> tuple:
    """:func:`wrk`'s figures for ``urls``, and the CPU seconds ``processes`` (and their children) used meanwhile."""
    cpu = sum(bd.tree_cpu(p.pid) for p in processes)
    run = wrk(urls, seconds, connections)
    return (*run, sum(bd.tree_cpu(p.pid) for p in processes) - cpu)


def intake(db: ScratchDatabase, workdir: str, args) -> dict[str, tuple]:
    results = {}
    url = db.schema("intake")
    undo = with_env(env_for(url))
    try:
        state = get_state(bd.make_bench_app(os.path.join(workdir, "intake-setup")))
        bd.add_integration(state, "http://127.0.0.1:9/events")  # never called: no workers
        state.db.dispose()
    finally:
        undo()
    env = env_for(url, GATEWAY_WORKERS="0", GATEWAY_THREADS=str(args.server_threads))
    nodes = [serve_node(os.path.join(workdir, f"intake-{n}"), env, workdir, f"intake-{n}") for n in range(2)]
    try:
        wrk([u for _, u in nodes], 2, args.connections)  # warm-up
        results["gateway, two nodes"] = wrk_with_cpu([p for p, _ in nodes],
                                                     [u + "/webhooks/launchdarkly" for _, u in nodes],
                                                     args.seconds, args.connections)
    finally:
        stop(*(p for p, _ in nodes))
    bare_url = db.schema("bare")
    bares = []
    for _ in range(2):
        port = free_port()
        process = subprocess.Popen([sys.executable, str(HERE / "bare_pg_intake_app.py"), str(port),
                                    str(args.server_threads), bare_url], stdout=subprocess.DEVNULL,
                                   stderr=open(os.path.join(workdir, f"bare-{port}.log"), "ab"))
        url_ = f"http://127.0.0.1:{port}"
        wait_until(lambda: bd._healthy(url_, process, os.path.join(workdir, f"bare-{port}.log")), 60, 0.05, "bare app")
        bares.append((process, url_))
        time.sleep(0.5)  # the first creates the table
    try:
        wrk([u + "/webhooks/launchdarkly" for _, u in bares], 2, args.connections)
        results["bare Flask, two processes"] = wrk_with_cpu([p for p, _ in bares],
                                                            [u + "/webhooks/launchdarkly" for _, u in bares],
                                                            args.seconds, args.connections)
    finally:
        stop(*(p for p, _ in bares))
    return results


# main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=4, help="threads of each worker process")
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0, help="intake: how long wrk loads each side")
    parser.add_argument("--connections", type=int, default=16, help="intake: wrk connections per node")
    parser.add_argument("--server-threads", type=int, default=8, help="intake: waitress threads per node")
    parser.add_argument("--only", choices=["delivery", "latency", "intake"], action="append")
    args = parser.parse_args()
    parts = args.only or ["delivery", "latency", "intake"]
    if "intake" in parts and not shutil.which("wrk"):
        raise SystemExit("the intake run needs wrk: apt-get install -y wrk")

    server = os.environ.get("GATEWAY_BENCH_DATABASE_URL", DEFAULT_URL)
    db = ScratchDatabase(server)
    print(f"PostgreSQL benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"database {make_url(db.url).render_as_string()}, load average {os.getloadavg()[0]:.1f}")
    rows = []
    rates: dict[int, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-postgres-") as workdir:
            if "delivery" in parts:
                target = bd.Target()
                try:
                    for processes in (1, 2, 4):
                        url = db.schema(f"delivery_{processes}")
                        rate, cpu = delivery_run(url, workdir, target, processes, args)
                        durable, durable_cpu = durable_run(db.schema(f"durable_{processes}"), target, processes, args)
                        threads = processes * args.threads
                        bare, bare_cpu = bare_rate(target, args.deliveries, threads)
                        load = os.getloadavg()[0]
                        rows += [(f"{processes} worker process(es) x {args.threads} threads", f"{rate:,.0f} /s",
                                  f"{args.deliveries:,} deliveries; CPU {1000 * cpu:.2f} ms/delivery"),
                                 (f"  bare durable queue, {processes} process(es)", f"{durable:,.0f} /s",
                                  f"claim 1 (SKIP LOCKED), POST, commit; CPU {1000 * durable_cpu:.2f} ms/delivery"),
                                 ("  gateway / durable", f"{rate / durable:.3f}", f"goal >= {DELIVERY_GOAL:.2f} " + (
                                     "met" if rate / durable >= DELIVERY_GOAL else "MISSED")),
                                 (f"  bare requests.Session loop, {threads} threads", f"{bare:,.0f} /s",
                                  f"one process, no database; CPU {1000 * bare_cpu:.2f} ms/delivery"),
                                 ("  gateway / bare loop", f"{rate / bare:.3f}", f"load average {load:.1f}")]
                        rates[processes] = rate
                finally:
                    target.stop()
                rows += [("  2 processes / 1 process", f"{rates[2] / rates[1]:.3f}",
                          "goal >= 1.0 " + ("met" if rates[2] >= rates[1] else "MISSED")),
                         ("  4 processes / 2 processes", f"{rates[4] / rates[2]:.3f}",
                          "goal >= 0.9 " + ("met" if rates[4] >= 0.9 * rates[2] else "MISSED"))]
            if "latency" in parts:
                results = latency(db, workdir, args)
                for label, samples in results.items():
                    rows.append((f"webhook-to-target p50, {label}", f"{statistics.median(samples):.1f} ms",
                                 f"p99 {bd.percentile(samples, 0.99):.1f} ms, n={len(samples)}"))
                bare = statistics.median(results["bare POST"])
                for label in ("one node", "two nodes"):
                    p50 = statistics.median(results[label])
                    rows.append((f"  {label} p50 goal < {LATENCY_GOAL_MS:g} ms",
                                 "met" if p50 < LATENCY_GOAL_MS else "MISSED",
                                 f"{p50 - bare:.1f} ms over the bare POST; load average {os.getloadavg()[0]:.1f}"))
            if "intake" in parts:
                results = intake(db, workdir, args)
                intake_rates = {}
                for label, (total, failures, seconds, cpu, served) in results.items():
                    intake_rates[label] = total / seconds
                    rows.append((f"intake, {label}", f"{total / seconds:,.0f} /s",
                                 f"{total:,} in {seconds:.1f}s, {failures} failed; wrk CPU {cpu:.1f}s; "
                                 f"server CPU {1000 * served / max(total, 1):.2f} ms per webhook"))
                gateway, bare = intake_rates["gateway, two nodes"], intake_rates["bare Flask, two processes"]
                rows.append(("  gateway / bare", f"{gateway / bare:.3f}", f"goal >= {INTAKE_GOAL:.2f} " + (
                    "met" if gateway / bare >= INTAKE_GOAL else "MISSED") + f"; load average {os.getloadavg()[0]:.1f}"))
    finally:
        db.drop()
    print(f"\n{'measure':<48}{'value':>14}   notes")
    print(f"{'-' * 48}{'-' * 14}   {'-' * 30}")
    for label, value, note in rows:
        print(f"{label:<48}{value:>14}   {note}")


if __name__ == "__main__":
    main()

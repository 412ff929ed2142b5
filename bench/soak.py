"""A soak: webhooks at a steady rate for a given time, each delivered to two integrations; every
sample period the bench prints what should stay flat, and at the end it checks that every event
was delivered exactly once per integration.

    .venv/bin/python bench/soak.py [--rate 50] [--minutes 30] [--sample-seconds 60] [--sqlite]

On PostgreSQL (the default), two ``serve`` nodes take the webhooks and one ``event-gateway worker``
process delivers them. The server is ``GATEWAY_BENCH_DATABASE_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``); a scratch database is created on it for
the run and dropped afterwards. Both nodes run without workers (``GATEWAY_WORKERS=0``, one process
each); the worker runs ``--threads`` threads. With ``--sqlite``, the embedded set-up: one ``serve``
with its defaults (a process per core, each with its delivery workers) on a SQLite file.

Webhooks (LaunchDarkly entries of distinct ids, unsigned) are posted alternately to the nodes by
``--senders`` threads, paced to ``--rate`` per second in all; the target (in this process) answers
202 and counts what each integration received. ``--rate`` should be half of the measured intake
capacity (``bench_postgres.py``'s intake on two nodes, ``bench_intake.py``'s on SQLite); each webhook
makes two deliveries.

Each sample: summed resident set (VmRSS) and open files of the gateway's processes, p50/p99 of the
webhook's answer and of webhook-to-target time over the period, the backlog (queued and in-flight
deliveries, and the age of the oldest), the database's size, deliveries received by the target per
second, on PostgreSQL the transactions committed per delivery (intake, claims, finishes and the
bench's own samples: a count, less at the mercy of the machine's load than the CPU columns), and the
cores used over the period by the intake nodes, the delivery worker (on SQLite the one ``serve`` does
both, counted as intake), the PostgreSQL server and this bench (its load and target): on a machine the
bench saturates, they show where the CPU went. Goals: RSS and open files flat after warm-up, p99
stable, backlog bounded (oldest < 10 s), every event delivered exactly once per integration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

import bench_delivery as bd  # noqa: E402
import bench_postgres as bp  # noqa: E402
from gateway.host.state import get_state  # noqa: E402


class SqliteFile:
    """The embedded database of a ``--sqlite`` soak: a file in a scratch folder, removed afterwards."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="soak-sqlite-")

    def schema(self, name: str) -> str:
        return f"sqlite:///{os.path.join(self.folder, name + '.db')}"

    def drop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class Target:
    """Answers 202 to every POST; counts, per path (one per integration), each event's arrivals."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[str, Counter] = {"/a": Counter(), "/b": Counter()}
        self.lags: list[float] = []  # webhook-to-target seconds since the last sample
        self.sent: dict[str, float] = {}  # source id -> when its webhook was posted
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.time()
                source_id = json.loads(body)["source_id"]
                with target.lock:
                    target.arrivals.setdefault(self.path, Counter())[source_id] += 1
                    sent = target.sent.get(source_id)
                    if sent is not None:
                        target.lags.append(arrived - sent)
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def delivered(self) -> int:
        """Every arrival so far, at every path."""
        with self.lock:
            return sum(sum(counts.values()) for counts in self.arrivals.values())

    def take_lags(self) -> list[float]:
        with self.lock:
            lags, self.lags = self.lags, []
        return lags


class Load:
    """``senders`` threads posting webhooks of distinct ids to the nodes in turn, ``rate`` per second in all."""

    def __init__(self, urls: list[str], rate: float, senders: int, target: Target):
        self.urls = urls
        self.rate = rate
        self.senders = senders
        self.target = target
        self.accepted: list[str] = []
        self.failed = 0
        self.answers: list[float] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._send, args=(n,), daemon=True) for n in range(senders)]

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)

    def take_answers(self) -> list[float]:
        with self.lock:
            answers, self.answers = self.answers, []
        return answers

    def _send(self, number: int) -> None:
        interval = self.senders / self.rate
        next_at = self.started + number * interval / self.senders
        sent = 0
        with requests.Session() as session:
            while not self.stopping.is_set():
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stopping.wait(delay)
                next_at += interval
                source_id = f"soak-{uuid.uuid4().hex}"
                url = self.urls[(number + sent) % len(self.urls)] + "/webhooks/launchdarkly"
                sent += 1
                with self.target.lock:
                    self.target.sent[source_id] = time.time()
                began = time.perf_counter()
                try:
                    response = session.post(url, data=bd.ld_body(source_id), timeout=30,
                                            headers={"Content-Type": "application/json"})
                    ok = response.status_code == 202
                except requests.RequestException:
                    ok = False
                with self.lock:
                    self.answers.append(time.perf_counter() - began)
                    if ok:
                        self.accepted.append(source_id)
                    else:
                        self.failed += 1


def tree(pid: int) -> list[int]:
    """``pid`` and every process under it."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += [child for child, parent in parents.items() if parent == current]
    return found


def rss_and_files(pids: list[int]) -> tuple[float, int]:
    """Summed VmRSS (MB) and open file descriptors of the given processes and their children."""
    rss_kb = files = 0
    for pid in (p for top in pids for p in tree(top)):
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        rss_kb += int(line.split()[1])
            files += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return rss_kb / 1024, files


def cpu_seconds(pids: list[int], children: bool = True) -> float:
    """CPU seconds (user and system) used so far by the given processes (and their children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in (p for top in pids for p in (tree(top) if children else [top])):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (its backends serve the gateway here)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", encoding="ascii") as handle:
                    if handle.read().strip() == "postgres":
                        found.append(int(entry))
            except OSError:
                continue
    return found


class CpuShares:
    """Cores used since the last :meth:`take` by the intake nodes, the delivery worker (PostgreSQL;
    on SQLite the one ``serve`` does both), the database server and this bench (load and target)."""

    def __init__(self, nodes: list[int], worker: list[int]) -> None:
        self.groups = {"intake": lambda: nodes, "delivery": lambda: worker, "database": postgres_pids,
                       "bench": lambda: [os.getpid()]}  # the bench alone: the gateway's processes are its children
        self.totals: dict[str, float] = {}
        self.at = 0.0
        self.take()

    def take(self) -> dict[str, float]:
        at = time.monotonic()
        totals = {name: cpu_seconds(pids(), children=name != "bench") for name, pids in self.groups.items()}
        seconds = max(at - self.at, 1e-9)
        shares = {name: (totals[name] - self.totals.get(name, 0.0)) / seconds for name in totals}
        self.totals, self.at = totals, at
        return shares


def backlog(engine) -> tuple[int, float, float]:
    """Queued and in-flight deliveries, the age in seconds of the oldest of them, the database size in MB."""
    with engine.connect() as connection:
        count, oldest = connection.execute(text(
            "SELECT count(*), min(created_at) FROM deliveries WHERE status IN ('pending', 'retrying', 'in_flight')"
        )).one()
        if engine.dialect.name == "sqlite":
            path = engine.url.database
            size = sum(os.path.getsize(path + end) for end in ("", "-wal") if os.path.exists(path + end))
        else:
            size = connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
    return int(count), (time.time() - oldest if oldest is not None else 0.0), size / 1e6


def commits(engine) -> int | None:
    """Transactions committed in the scratch database so far (PostgreSQL's statistics; None on SQLite)."""
    if engine.dialect.name == "sqlite":
        return None
    with engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")).scalar())


def ms(values: list[float], fraction: float) -> str:
    return f"{1000 * bd.percentile(values, fraction):.1f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="webhooks per second, both nodes together")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=4, help="threads of the worker process")
    parser.add_argument("--senders", type=int, default=8, help="threads posting webhooks")
    parser.add_argument("--drain-seconds", type=float, default=300.0, help="at most this long to wait for the backlog")
    parser.add_argument("--sqlite", action="store_true",
                        help="the embedded set-up instead: one `serve` with its defaults (a process per core, "
                             "each with its delivery workers) on SQLite")
    args = parser.parse_args()

    db = SqliteFile() if args.sqlite else bp.ScratchDatabase(
        os.environ.get("GATEWAY_BENCH_DATABASE_URL", bp.DEFAULT_URL))
    target = Target()
    failures = []
    try:
        with tempfile.TemporaryDirectory(prefix="soak-postgres-") as workdir:
            url = db.schema("soak")
            undo = bp.with_env(bp.env_for(url))
            try:
                state = get_state(bd.make_bench_app(os.path.join(workdir, "setup")))
                for path in ("/a", "/b"):
                    state.integrations.create({"plugin": "benchplugin", "name": f"soak {path}",
                                               "config": {"url": target.url + path}})
                state.db.dispose()
            finally:
                undo()
            engine = create_engine(url)
            if args.sqlite:
                env = {key: value for key, value in bp.env_for(url).items() if key != "GATEWAY_PROCESSES"}
                nodes = [bp.serve_node(os.path.join(workdir, "node"), env, workdir, "node")]
                processes = [p for p, _ in nodes]
                shape = "one `serve` with its default processes and delivery workers"
            else:
                nodes = [bp.serve_node(os.path.join(workdir, f"node-{n}"), bp.env_for(url, GATEWAY_WORKERS="0"),
                                       workdir, f"node-{n}") for n in range(2)]
                worker = bd.child_command(os.path.join(workdir, "worker"), ["worker", "--threads", str(args.threads)],
                                          bp.env_for(url), os.path.join(workdir, "worker.log"))
                processes = [p for p, _ in nodes] + [worker]
                shape = f"two nodes, one worker of {args.threads} threads"
            load = Load([u for _, u in nodes], args.rate, args.senders, target)
            print(f"{'SQLite' if args.sqlite else 'PostgreSQL'} soak: {args.rate:g} webhooks/s ({2 * args.rate:g} "
                  f"deliveries/s asked) to {shape}, {args.minutes:g} min, load average "
                  f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
            print(f"{'min':>6} {'accepted':>9} {'RSS MB':>8} {'files':>6} {'answer p50/p99 ms':>18} "
                  f"{'to target p50/p99 ms':>21} {'backlog':>8} {'oldest s':>9} {'db MB':>7} {'load':>5} "
                  f"{'delivered/s':>11} {'commits/delivery':>16} {'cores: intake/delivery/db/bench':>32}")
            worker_pids = [] if args.sqlite else [processes[-1].pid]
            cpu = CpuShares([p.pid for p, _ in nodes], worker_pids)
            delivered_before, commits_before = 0, commits(engine)
            load.start()
            began = time.monotonic()
            ends = began + args.minutes * 60
            worst_age = 0.0
            try:
                while time.monotonic() < ends:
                    time.sleep(min(args.sample_seconds, max(0.0, ends - time.monotonic())))
                    if any(p.poll() is not None for p in processes):
                        raise SystemExit(f"a gateway process exited; see the logs in {workdir}")
                    rss, files = rss_and_files([p.pid for p in processes])
                    answers, lags = load.take_answers(), target.take_lags()
                    queued, oldest, size = backlog(engine)
                    worst_age = max(worst_age, oldest)
                    shares = cpu.take()
                    delivered = target.delivered()
                    rate = (delivered - delivered_before) / args.sample_seconds
                    committed = commits(engine)
                    per_delivery = "-" if committed is None or delivered == delivered_before else \
                        f"{(committed - commits_before) / (delivered - delivered_before):.2f}"
                    delivered_before, commits_before = delivered, committed
                    cores = " / ".join(f"{shares[name]:.2f}" for name in ("intake", "delivery", "database", "bench"))
                    print(f"{(time.monotonic() - began) / 60:6.1f} {len(load.accepted):9,d} {rss:8.1f} {files:6d} "
                          f"{ms(answers, 0.5):>8} / {ms(answers, 0.99):>7} {ms(lags, 0.5):>10} / {ms(lags, 0.99):>8} "
                          f"{queued:8,d} {oldest:9.1f} {size:7.1f} {os.getloadavg()[0]:5.1f} {rate:11.0f} "
                          f"{per_delivery:>16} {cores:>32}", flush=True)
            finally:
                load.stop()
            drained_by = time.monotonic() + args.drain_seconds
            while backlog(engine)[0] and time.monotonic() < drained_by:
                time.sleep(1)
            left, _, _ = backlog(engine)
            time.sleep(1)
            bp.stop(*processes)
            engine.dispose()
            accepted = set(load.accepted)
            for path, arrivals in target.arrivals.items():
                missing = [s for s in accepted if arrivals[s] == 0]
                twice = [s for s, n in arrivals.items() if n > 1]
                unknown = [s for s in arrivals if s not in accepted]
                print(f"integration {path}: {sum(arrivals.values()):,} received for {len(accepted):,} accepted "
                      f"webhooks; missing {len(missing)}, more than once {len(twice)}, not accepted {len(unknown)}")
                if missing or twice or unknown:
                    failures.append(path)
            print(f"webhooks refused or failed: {load.failed}; backlog left after the drain: {left}; "
                  f"oldest pending seen: {worst_age:.1f} s (goal < 10 s)")
            if left:
                failures.append("backlog")
    finally:
        target.server.shutdown()
        db.drop()
    if failures:
        raise SystemExit(f"NOT exactly once: {', '.join(failures)}")
    print("every accepted event was delivered exactly once per integration")


if __name__ == "__main__":
    main()

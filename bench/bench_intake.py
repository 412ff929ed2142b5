"""Intake over HTTP with wrk: `event-gateway serve` against the durable floor, side by side in one run.

    python bench/bench_intake.py [--seconds 5] [--rounds 3] [--connections 16] [--skipping 1000]

The durable floor (bench/bare_intake_app.py) is a bare Flask app on the same server as the gateway
(gunicorn, one process per core, the same threads) that parses the JSON and commits one row per
request to SQLite. The load is wrk (Debian package ``wrk``) posting flag-change webhooks of the
documented shape, each with a unique ``_id``, in staging, so that every integration (Dynatrace,
default policy: production only) records a skip. Delivery workers are off: intake alone is measured.

It reports, each figure the median of alternating rounds:

1. accepted/s of the floor and of the gateway with 10 integrations, and the ratio (goal >= 0.6);
   and that the client is not what limits the floor: wrk's CPU per request against the server's,
   and the floor's rate with half the client threads; the CPU one request costs each server;
2. the gateway with ``--skipping`` (1,000) integrations that all skip: accepted/s against the
   10-integration rate (goal >= 0.5), and the bytes the database grows by per event in both;
3. latency at half the gateway's maximum rate (wrk paced by a per-connection delay): p50, p99 (goal
   p99 < 50 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.testing import GatewayProcess, free_port, wait_until  # noqa: E402

PAYLOAD = ROOT / "examples" / "payloads" / "flag-targeting-changed-staging.json"
SCRIPT = ROOT / "bench" / "wrk_webhooks.lua"
PATH = "/webhooks/launchdarkly"


def find_wrk() -> str:
    """The wrk binary; installs the Debian package when apt-get can, else says how to."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("wrk is not installed; installing the Debian package 'wrk' ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("this benchmark needs wrk: install it with 'apt-get install -y wrk' (Debian/Ubuntu), "
                     "'brew install wrk' (macOS) or from https://github.com/wg/wrk")


@dataclass
class Run:
    rate: float  # accepted per second
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    client_cpu: float  # CPU seconds wrk used
    server_cpu: float  # CPU seconds the server's processes used
    seconds: float


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def process_tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its children (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class Wrk:
    def __init__(self, binary: str, body_file: str, connections: int, seconds: float):
        self.binary, self.body_file = binary, body_file
        self.connections, self.seconds = connections, seconds

    def run(self, url: str, server_pid: int, threads: int = 2, pause_ms: float | None = None,
            seconds: float | None = None, check: bool = True) -> Run:
        env = {**os.environ, "BENCH_BODY_FILE": self.body_file, "BENCH_RUN": uuid.uuid4().hex[:12]}
        if pause_ms is not None:
            env["BENCH_PAUSE_MS"] = str(max(0, int(pause_ms)))
        server_before = process_tree_cpu(server_pid)
        before = os.times()
        started = time.monotonic()
        done = subprocess.run(
            [self.binary, f"-t{threads}", f"-c{self.connections}", f"-d{max(1, round(seconds or self.seconds))}s", "--latency",
             "-s", str(SCRIPT), url + PATH], env=env, capture_output=True, text=True, check=True)
        elapsed = time.monotonic() - started
        after = os.times()
        server_cpu = process_tree_cpu(server_pid) - server_before
        out = done.stdout
        if not check:
            return Run(0.0, 0, 0, 0.0, 0.0, 0.0, 0.0, elapsed)
        requests_done = int(re.search(r"(\d+) requests in", out).group(1))
        errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
        errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
        p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
        client_cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        if errors:
            raise SystemExit(f"{errors} requests failed against {url}:\n{out}")
        return Run(rate, requests_done, errors, p50, p99, client_cpu, server_cpu, elapsed)


class Bare:
    """The durable floor in a subprocess."""

    def __init__(self, workdir: str, processes: int, threads: int):
        self.port = free_port()
        self.database = os.path.join(workdir, "bare.db")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "bare_intake_app.py"), str(self.port), str(processes),
             str(threads), self.database], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until(self._up, 30, 0.05, "the bare app")

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise SystemExit("the bare app exited")
        try:
            return requests.get(self.url + "/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def start_gateway(workdir: str, name: str, processes: int, threads: int, integrations: int,
                  policy: Callable[[int], list[dict]] | None = None) -> GatewayProcess:
    """A gateway process with ``integrations`` Dynatrace integrations; ``policy(index)``, when given,
    is each one's own policy (else they take every event)."""
    # Private targets allowed: only so that adding a thousand integrations does not wait for a thousand
    # DNS answers of made-up host names (nothing is delivered: GATEWAY_WORKERS=0).
    gateway = GatewayProcess(os.path.join(workdir, name), env={
        "GATEWAY_WORKERS": "0", "GATEWAY_THREADS": str(threads), "GATEWAY_PROCESSES": str(processes),
        "GATEWAY_PLUGINS": "dynatrace", "GATEWAY_ALLOW_PRIVATE_TARGETS": "1"})
    os.makedirs(gateway.instance_path, exist_ok=True)
    gateway.start()
    with requests.Session() as session:
        for index in range(integrations):
            body = {"plugin": "dynatrace", "name": f"dynatrace {index}",
                    "config": {"url": f"https://env{index:04d}.live.dynatrace.com",
                               "api_token": f"dt0c01.bench.{index:04d}"}}
            if policy is not None:
                body["policy"] = policy(index)
            response = session.post(gateway.url + "/api/v1/integrations", timeout=30, json=body,
                                    headers={"Authorization": f"Bearer {gateway.admin_token}"})
            response.raise_for_status()
    return gateway


def database_bytes(path: str) -> int:
    """The size of the SQLite database with its log folded in (a full checkpoint first)."""
    with sqlite3.connect(path, timeout=60) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
    return (pages - free) * size


def events_stored(path: str) -> int:
    with sqlite3.connect(path, timeout=60) as connection:
        return connection.execute("SELECT count(*) FROM events").fetchone()[0]


def median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.rate)[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server, alternating")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--threads", type=int, default=8, help="server threads per process, the same for both")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="server processes, both")
    parser.add_argument("--skipping", type=int, default=1000, help="integrations of the growth run")
    args = parser.parse_args()

    wrk = Wrk(find_wrk(), "", args.connections, args.seconds)
    workdir = tempfile.mkdtemp(prefix="bench-intake-")
    payload = json.loads(PAYLOAD.read_text())
    payload["_id"] = "BENCH_ID"
    wrk.body_file = os.path.join(workdir, "body.json")
    Path(wrk.body_file).write_text(json.dumps(payload))

    started = time.monotonic()
    bare = Bare(workdir, args.processes, args.threads)
    ten = start_gateway(workdir, "ten", args.processes, args.threads, 10)
    many = start_gateway(workdir, "many", args.processes, args.threads, args.skipping)
    print(f"servers up, integrations added in {time.monotonic() - started:.0f}s", flush=True)
    servers = {"bare": (bare.url, bare.process.pid), "ten": (ten.url, ten.process.pid),
               "many": (many.url, many.process.pid)}
    try:
        for url, pid in servers.values():  # warm up (each process reads and checks the integrations)
            wrk.run(url, pid, seconds=max(3, args.skipping // 60), check=False)
        sizes = {name: (database_bytes(os.path.join(g.instance_path, "gateway.db")),
                        events_stored(os.path.join(g.instance_path, "gateway.db"))) for name, g in
                 (("ten", ten), ("many", many))}
        results: dict[str, list[Run]] = {name: [] for name in servers}
        client_check: list[Run] = []
        for _ in range(args.rounds):
            for name, (url, pid) in servers.items():
                results[name].append(wrk.run(url, pid))
            client_check.append(wrk.run(bare.url, bare.process.pid, threads=1))
        grown = {}
        for name, g in (("ten", ten), ("many", many)):
            path = os.path.join(g.instance_path, "gateway.db")
            size, count = sizes[name]
            grown[name] = (database_bytes(path) - size) / max(1, events_stored(path) - count)
        ten_rate = median(results["ten"]).rate
        half = ten_rate / 2
        pause = 1000.0 * args.connections / half  # each connection's period at half the rate
        paced = []
        for _ in range(args.rounds):
            run = wrk.run(ten.url, ten.process.pid, pause_ms=pause - median(results["ten"]).p50_ms / 2)
            paced.append(run)
    finally:
        bare.stop()
        ten.terminate(60)
        many.terminate(60)

    b, t, m = median(results["bare"]), median(results["ten"]), median(results["many"])
    c = median(client_check)
    p = sorted(paced, key=lambda r: r.p99_ms)[len(paced) // 2]
    print(f"intake over HTTP: wrk -c{args.connections}, gunicorn {args.processes} processes x {args.threads} threads "
          f"for both servers, {args.rounds} alternating rounds of {args.seconds:g}s (median); "
          f"{os.cpu_count()} CPU cores, shared by client and servers")
    print(f"\n{'server':<52}{'accepted/s':>11}{'p50 ms':>8}{'p99 ms':>8}   rounds")
    for label, name in (("bare Flask + SQLite commit (durable floor)", "bare"),
                        ("gateway, 10 integrations (all skip)", "ten"),
                        (f"gateway, {args.skipping:,} integrations (all skip)", "many")):
        r = median(results[name])
        print(f"{label:<52}{r.rate:>11.0f}{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}   "
              + ", ".join(f"{x.rate:.0f}" for x in results[name]))
    ratio, growth = t.rate / b.rate, m.rate / t.rate
    print(f"\n1. gateway (10) / floor: {ratio:.2f}   goal >= 0.60 {'met' if ratio >= 0.6 else 'MISSED'}")
    print(f"   client check: wrk used {1000 * b.client_cpu / b.requests:.3f} ms CPU per request, the floor's "
          f"server {1000 * b.server_cpu / b.requests:.3f} ms ({b.client_cpu / b.seconds:.2f} vs "
          f"{b.server_cpu / b.seconds:.2f} cores); with 1 wrk thread instead of 2 the floor answered "
          f"{c.rate:.0f}/s ({c.rate / b.rate:.2f} of it)")
    print(f"   server CPU per request: the floor {1000 * b.server_cpu / b.requests:.3f} ms, the gateway (10) "
          f"{1000 * t.server_cpu / t.requests:.3f} ms ({t.server_cpu / t.seconds:.2f} of "
          f"{os.cpu_count()} cores; other programs on the machine take their share too)")
    print(f"2. gateway ({args.skipping:,}) / gateway (10): {growth:.2f}   goal >= 0.50 {'met' if growth >= 0.5 else 'MISSED'}")
    print(f"   database growth per event: {grown['ten']:.0f} bytes with 10 integrations, "
          f"{grown['many']:.0f} bytes with {args.skipping:,}")
    print(f"3. paced at half the maximum ({half:.0f}/s wanted, {p.rate:.0f}/s reached): p50 {p.p50_ms:.1f} ms, "
          f"p99 {p.p99_ms:.1f} ms   goal p99 < 50 ms {'met' if p.p99_ms < 50 else 'MISSED'}   "
          f"(rounds: " + ", ".join(f"{x.p99_ms:.1f}" for x in paced) + ")")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

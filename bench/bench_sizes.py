"""The gateway at size: one integration per team (each with a policy of its own), and a big database.

    python bench/bench_sizes.py intake [--seconds 5] [--rounds 3] [--many 1000]
    python bench/bench_sizes.py pages [--events 1000000] [--integrations 1000] [--database PATH]

``intake``: two gateways (`event-gateway serve`, delivery workers off), one with 10 integrations and
one with ``--many`` (1,000), each integration with a policy of its own
(``proj/team-<i>:env/*:flag/*``, as a platform team sets them up), loaded in the same run by wrk
with flag changes of another project (``proj/shop``), so every integration declines every event.
It reports each one's accepted/s (median of alternating rounds) and the ratio (goal >= 0.5), and
the bytes the database grows by per event in each (goal: at 1,000 no more than twice those at 10).

``pages``: builds a database of ``--integrations`` integrations (one policy each) and ``--events``
events directly, in bulk, through the store's tables (each event a flag change of one team's project:
delivered to that team's integration, denied by every other policy; some dead, some queued, some
skipped by the plugin), then times, in process (server time, no network), /healthz, /metrics and
each web UI page: overview, events (unfiltered and with each filter), an event with
``--integrations`` - 1 skips, an integration, deliveries. Goals: /healthz < 50 ms, /metrics <
200 ms, every page < 300 ms. ``--database`` keeps the built database there and reuses it on the
next run (building a million events takes minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_intake import PAYLOAD, Run, Wrk, database_bytes, events_stored, find_wrk, median  # noqa: E402

from gateway.testing import GatewayProcess  # noqa: E402


def team_policy(index: int) -> list[dict]:
    return [{"effect": "allow", "resources": [f"proj/team-{index}:env/*:flag/*"], "actions": ["*"]}]


def start_gateway(workdir: str, name: str, processes: int, threads: int, integrations: int) -> GatewayProcess:
    # Private targets allowed: only so that adding a thousand integrations does not wait for a thousand
    # DNS answers of made-up host names (nothing is delivered: GATEWAY_WORKERS=0).
    gateway = GatewayProcess(os.path.join(workdir, name), env={
        "GATEWAY_WORKERS": "0", "GATEWAY_THREADS": str(threads), "GATEWAY_PROCESSES": str(processes),
        "GATEWAY_PLUGINS": "dynatrace", "GATEWAY_ALLOW_PRIVATE_TARGETS": "1"})
    os.makedirs(gateway.instance_path, exist_ok=True)
    gateway.start()
    with requests.Session() as session:
        for index in range(integrations):
            response = session.post(gateway.url + "/api/v1/integrations", timeout=30, headers={
                "Authorization": f"Bearer {gateway.admin_token}"}, json={
                "plugin": "dynatrace", "name": f"team {index}", "policy": team_policy(index),
                "config": {"url": f"https://env{index:04d}.live.dynatrace.com", "api_token": f"dt0c01.bench.{index:04d}"}})
            response.raise_for_status()
    return gateway


def intake(args) -> None:
    wrk = Wrk(find_wrk(), "", args.connections, args.seconds)
    workdir = tempfile.mkdtemp(prefix="bench-sizes-")
    payload = json.loads(PAYLOAD.read_text())  # proj/shop: no team's project
    payload["_id"] = "BENCH_ID"
    wrk.body_file = os.path.join(workdir, "body.json")
    Path(wrk.body_file).write_text(json.dumps(payload))
    started = time.monotonic()
    ten = start_gateway(workdir, "ten", args.processes, args.threads, 10)
    many = start_gateway(workdir, "many", args.processes, args.threads, args.many)
    print(f"servers up, integrations added in {time.monotonic() - started:.0f}s", flush=True)
    servers = {"ten": ten, "many": many}
    try:
        for g in servers.values():  # warm up (each process reads the integrations)
            wrk.run(g.url, g.process.pid, seconds=max(3, args.many // 200), check=False)
        paths = {name: os.path.join(g.instance_path, "gateway.db") for name, g in servers.items()}
        sizes = {name: (database_bytes(path), events_stored(path)) for name, path in paths.items()}
        results: dict[str, list[Run]] = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name, g in servers.items():
                results[name].append(wrk.run(g.url, g.process.pid))
        grown = {}
        for name, path in paths.items():
            size, count = sizes[name]
            grown[name] = (database_bytes(path) - size) / max(1, events_stored(path) - count)
    finally:
        ten.terminate(60)
        many.terminate(60)
    t, m = median(results["ten"]), median(results["many"])
    print(f"intake over HTTP, one policy per integration (proj/team-<i>:env/*:flag/*), flag changes of another "
          f"project: wrk -c{args.connections}, {args.processes} processes x {args.threads} threads, "
          f"{args.rounds} alternating rounds of {args.seconds:g}s (median); {os.cpu_count()} CPU cores, shared")
    print(f"\n{'server':<44}{'accepted/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'bytes/event':>13}   rounds")
    for label, name, r in (("gateway, 10 integrations", "ten", t), (f"gateway, {args.many:,} integrations", "many", m)):
        print(f"{label:<44}{r.rate:>11.0f}{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}{grown[name]:>13.0f}   "
              + ", ".join(f"{x.rate:.0f}" for x in results[name]))
    ratio, growth = m.rate / t.rate, grown["many"] / max(1.0, grown["ten"])
    print(f"\nintake ({args.many:,}) / intake (10): {ratio:.2f}   goal >= 0.50 {'met' if ratio >= 0.5 else 'MISSED'}")
    print(f"bytes per event ({args.many:,}) / (10): {growth:.2f}   goal <= 2.00 {'met' if growth <= 2 else 'MISSED'}")
    shutil.rmtree(workdir, ignore_errors=True)


def pages_bench(args) -> None:
    raise SystemExit("not yet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("intake", help="intake rate and bytes per event, 10 against --many integrations")
    load.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    load.add_argument("--rounds", type=int, default=3, help="rounds per server, alternating")
    load.add_argument("--connections", type=int, default=16, help="wrk connections")
    load.add_argument("--threads", type=int, default=8, help="server threads per process, the same for both")
    load.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="server processes, both")
    load.add_argument("--many", type=int, default=1000, help="integrations of the second gateway")
    pages = commands.add_parser("pages", help="build a big database and time /healthz, /metrics and the UI pages")
    pages.add_argument("--integrations", type=int, default=1000)
    pages.add_argument("--events", type=int, default=1_000_000)
    pages.add_argument("--database", help="SQLite file to build (or reuse, when it is there)")
    pages.add_argument("--repeat", type=int, default=5, help="timings per page (the median is reported)")
    args = parser.parse_args()
    if args.command == "intake":
        intake(args)
    else:
        pages_bench(args)


if __name__ == "__main__":
    main()

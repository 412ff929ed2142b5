"""Intake throughput: accepted webhooks/s over HTTP through the production server (waitress) with 10
enabled integrations, side by side in one run with a bare Flask app on the same server that only
verifies the HMAC and parses the JSON. Reports both figures and the ratio (goal: >= 0.5).

    python bench/bench_intake.py [--seconds 5] [--rounds 3] [--clients 8]

Both servers run as subprocesses on loopback with the same thread count; the same client threads
load each in alternating rounds, and the median round of each is reported. Delivery workers are off
(GATEWAY_WORKERS=0) so that intake alone is measured; each accepted webhook still stores the event
and ten decisions.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from gateway import hmac_sha256_hex
from gateway.testing import GatewayProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = json.loads((ROOT / "examples" / "payloads" / "flag-turned-on.json").read_text())
SECRET = "bench-signing-secret"


def integrations(gateway: GatewayProcess) -> None:
    """Ten enabled integrations of two installed plugins (their policies and policy hooks run)."""
    for index in range(5):
        for body in (
            {"plugin": "dynatrace", "name": f"dynatrace {index}",
             "config": {"url": f"https://env{index}.live.dynatrace.com", "api_token": f"dt0c01.bench.{index:04d}"}},
            {"plugin": "webhook", "name": f"webhook {index}", "config": {"url": f"https://hooks{index}.example.com/in"}},
        ):
            response = gateway.admin("POST", "/api/v1/integrations", json=body)
            response.raise_for_status()


def start_bare(port: int, threads: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_intake_app.py"), str(port),
                                str(threads), SECRET], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/healthz"

    def up():
        try:
            return requests.get(url, timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(up, 30, 0.05, "bare app")
    return process


class Load:
    """Client threads posting signed, unique webhooks as fast as answers come, for a fixed time."""

    counter = 0
    lock = threading.Lock()

    @classmethod
    def body(cls) -> bytes:
        with cls.lock:
            cls.counter += 1
            number = cls.counter
        payload = copy.deepcopy(PAYLOAD)
        payload["_id"] = f"bench{number:020d}"
        return json.dumps(payload).encode()

    @classmethod
    def run(cls, url: str, clients: int, seconds: float) -> float:
        accepted = [0] * clients
        failures: list[str] = []
        stop = time.monotonic() + seconds

        def client(slot: int) -> None:
            session = requests.Session()
            while time.monotonic() < stop:
                body = cls.body()
                response = session.post(url, data=body, timeout=30, headers={
                    "Content-Type": "application/json", "X-LD-Signature": hmac_sha256_hex(SECRET, body)})
                if response.status_code == 202:
                    accepted[slot] += 1
                else:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                    return

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        if failures:
            raise SystemExit(f"a webhook was not accepted: {failures[0]}")
        return sum(accepted) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server, alternating")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--threads", type=int, default=8, help="server threads, the same for both servers")
    args = parser.parse_args()

    instance = tempfile.mkdtemp(prefix="bench-intake-")
    gateway = GatewayProcess(instance, env={
        "GATEWAY_WORKERS": "0", "GATEWAY_THREADS": str(args.threads), "GATEWAY_LAUNCHDARKLY_SECRET": SECRET,
        "GATEWAY_PLUGINS": "dynatrace,webhook",
    })
    gateway.start()
    bare_port = free_port()
    bare = start_bare(bare_port, args.threads)
    try:
        integrations(gateway)
        targets = {"gateway": gateway.url + "/webhooks/launchdarkly",
                   "bare": f"http://127.0.0.1:{bare_port}/webhooks/launchdarkly"}
        for url in targets.values():  # warm up both
            Load.run(url, args.clients, 1.0)
        results: dict[str, list[float]] = {"gateway": [], "bare": []}
        for _ in range(args.rounds):
            for name, url in targets.items():
                results[name].append(Load.run(url, args.clients, args.seconds))
        stored = gateway.admin("GET", "/api/v1/events?limit=1").json()["items"]
        assert stored, "the gateway stored no event"
    finally:
        gateway.terminate()
        bare.terminate()
        bare.wait(10)

    gateway_rate = statistics.median(results["gateway"])
    bare_rate = statistics.median(results["bare"])
    print(f"intake over HTTP, waitress {args.threads} threads, {args.clients} clients, "
          f"{args.rounds} alternating rounds of {args.seconds:g}s, median round; 10 enabled integrations")
    print(f"{'server':<44} {'accepted/s':>12}  rounds")
    print(f"{'gateway (store event + 10 decisions)':<44} {gateway_rate:>12.1f}  "
          + ", ".join(f"{r:.0f}" for r in results["gateway"]))
    print(f"{'bare Flask (HMAC + JSON parse only)':<44} {bare_rate:>12.1f}  "
          + ", ".join(f"{r:.0f}" for r in results["bare"]))
    print(f"ratio gateway/bare: {gateway_rate / bare_rate:.2f} (goal >= 0.5)")
    print(f"cpu cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()

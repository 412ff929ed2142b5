"""Intake latency while slow clients hold connections open, under ``serve``.

Run from the repository root::

    .venv/bin/python bench/bench_slow_clients.py [--slow 200] [--processes 2]

It starts ``event-gateway serve`` (default threads), measures the time to answer a probe webhook
ten times with no other client (the baseline), then opens ``--slow`` connections that each send one
byte of a request head per second and measures the probe again, ten times. It prints the medians and
their ratio. Before requests were read whole in the event loop, 17 such connections stalled
webhooks on 2 processes of 8 threads.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.testing import GatewayProcess  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "launchdarkly" / "flag-turned-on-production.json"
HEAD = b"POST /webhooks/launchdarkly HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + b"X-Pad: " + b"a" * 200


def probe_times(served: GatewayProcess, label: str, count: int = 10) -> list[float]:
    entry = json.loads(FIXTURE.read_bytes())
    times = []
    for n in range(count):
        entry["_id"] = f"{label}-{n}-{time.time_ns()}"
        start = time.perf_counter()
        answer = served.post_webhook(entry)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 202, answer.text
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--processes", default="2")
    args = parser.parse_args()
    served = GatewayProcess(tempfile.mkdtemp(prefix="bench-slow-"), env={
        "GATEWAY_PROCESSES": args.processes, "GATEWAY_WORKERS": "0", "GATEWAY_PLUGINS": "",
        "GATEWAY_HEADER_READ_SECONDS": "60"})
    served.start()
    try:
        baseline = probe_times(served, "baseline")
        sockets = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(args.slow)]
        stop = threading.Event()

        def drip() -> None:
            position = 0
            while not stop.is_set() and position < len(HEAD):
                for sock in sockets:
                    try:
                        sock.send(HEAD[position:position + 1])
                    except OSError:
                        pass
                position += 1
                stop.wait(1)

        dripping = threading.Thread(target=drip, daemon=True)
        dripping.start()
        time.sleep(3)
        try:
            slow = probe_times(served, "slow")
        finally:
            stop.set()
            dripping.join(5)
            for sock in sockets:
                sock.close()
    finally:
        served.terminate(30)
    base, loaded = statistics.median(baseline), statistics.median(slow)
    print(f"serve with {args.processes} process(es), default threads")
    print(f"probe webhook, no other client: median {base:.1f} ms (max {max(baseline):.1f})")
    print(f"probe webhook with {args.slow} slow connections (1 byte/s): median {loaded:.1f} ms "
          f"(max {max(slow):.1f})")
    print(f"ratio {loaded / base:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

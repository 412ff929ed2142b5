"""Benchmark the strict JSON reader (gateway/strict_json.py) against plain ``json.loads``.

Run from the repository root::

    .venv/bin/python bench/bench_strict_json.py

For a flag-platform webhook body (the fixture), a 50 kB error-tracker-like body and a 1 MB body of
many small objects, it prints reads per second with ``json.loads`` (the bare baseline, which takes
the same bytes but none of the checks) and with ``strict_json.loads``, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway import strict_json  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "launchdarkly" / "flag-turned-on-production.json"


def bodies() -> dict[str, bytes]:
    frames = [{"filename": f"app/module_{i}.py", "lineno": i, "function": f"handler_{i}",
               "vars": {"user": "u" * 20, "count": i, "ratio": i / 7}} for i in range(250)]
    error = {"action": "created", "data": {"event": {"title": "KeyError", "exception": {"values": [
        {"type": "KeyError", "stacktrace": {"frames": frames}}]}, "contexts": {"launchdarkly": {"key": "user-1"}}}}}
    many = {"items": [{"id": i, "name": f"item-{i}", "score": i * 1.5, "tags": ["a", "b"]} for i in range(12000)]}
    return {
        "webhook fixture": FIXTURE.read_bytes(),
        "50 kB nested body": json.dumps(error).encode(),
        "1 MB many objects": json.dumps(many).encode(),
    }


def rate(read: Callable[[bytes], object], body: bytes, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        read(body)
        count += 1
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent on each measurement")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}; {args.seconds}s per measurement")
    print(f"{'body':<20} {'bytes':>9} {'json.loads/s':>14} {'strict/s':>12} {'strict cost':>12}")
    for name, body in bodies().items():
        assert strict_json.loads(body) == json.loads(body)
        bare = rate(json.loads, body, args.seconds)
        strict = rate(strict_json.loads, body, args.seconds)
        print(f"{name:<20} {len(body):>9} {bare:>14.0f} {strict:>12.0f} {bare / strict:>11.2f}x")


if __name__ == "__main__":
    main()

"""The proof of several nodes on one database: two ``serve`` nodes and one ``worker`` start at the same
moment on a fresh database, take 2,000 distinct webhooks spread over both nodes, one node is killed
with SIGKILL at the midpoint and restarted. Every accepted event is delivered; deliveries received
twice are at most the attempts cut off by the kill; the queue drains within lease + 30 s of the kill.
Runs on the database of the run: one SQLite file, or a fresh PostgreSQL schema."""

from __future__ import annotations

import pytest

import collections
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

from .delivery_support import FAST_SCHEDULE, ld_entry
from .multi_node_support import (  # noqa: F401
    PRODUCTION_ONLY, instance, node_env, shared_database_url, wait_until_nodes_see_the_integration)

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

EVENTS = 2000
LEASE = 5.0


def all_deliveries(node: GatewayProcess, status: str) -> list[dict]:
    items, cursor = [], None
    while True:
        query = f"?status={status}&limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = node.admin("GET", "/api/v1/deliveries" + query).json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def test_two_nodes_and_a_worker_survive_a_sigkill_at_the_midpoint(shared_database_url, tmp_path):
    env = node_env(shared_database_url, GATEWAY_WORKERS="4", GATEWAY_LEASE_SECONDS=str(LEASE),
                   GATEWAY_RETRY_SCHEDULE=FAST_SCHEDULE, GATEWAY_SHUTDOWN_GRACE_SECONDS="2",
                   GATEWAY_READ_TIMEOUT="5")
    with FakeService(Reply(200, {}, delay=0.01)) as target:
        a = GatewayProcess(instance(tmp_path, "a"), env=env)
        b = GatewayProcess(instance(tmp_path, "b"), env=env)
        worker = GatewayProcess(instance(tmp_path, "worker"), env=env, command=("worker",))
        started = [a, b, worker]
        try:
            # the three start at the same moment on the fresh database
            gate = threading.Barrier(3)
            with ThreadPoolExecutor(3) as pool:
                for future in [pool.submit(lambda p=p: (gate.wait(10), p.start(60))) for p in started]:
                    future.result()
            wait_until(lambda: "delivery worker(s)" in worker.log(), 30, message="the worker process")
            created = a.admin("POST", "/api/v1/integrations",
                              json={"plugin": "webhook", "name": "t", "config": {"url": target.url + "/hook"},
                                    "policy": PRODUCTION_ONLY})
            assert created.status_code == 201, created.text
            wait_until_nodes_see_the_integration(a, b)

            nodes = {"a": a, "b": b}
            accepted: list[str] = []
            unanswered: list[str] = []  # posts the killed node never answered (then sent to a)
            answers = collections.Counter()
            lock = threading.Lock()
            midpoint = threading.Event()
            local = threading.local()

            def post(n: int) -> None:
                session = getattr(local, "session", None)
                if session is None:
                    session = local.session = requests.Session()
                source_id = f"fault-{n}-{uuid.uuid4().hex[:8]}"
                for name in ("ab"[n % 2], "a"):  # like a load balancer: a refused node's request goes to a
                    try:
                        response = session.post(nodes[name].url + "/webhooks/launchdarkly", data=ld_entry(source_id),
                                                headers={"Content-Type": "application/json"}, timeout=30)
                    except requests.ConnectionError:
                        with lock:
                            unanswered.append(source_id)
                        continue
                    with lock:
                        answers[response.status_code] += 1
                        # 200: the killed node stored it, then died before it answered; the retry finds it
                        if response.status_code == 202 or (response.status_code == 200 and source_id in unanswered):
                            accepted.append(source_id)
                            if len(accepted) >= EVENTS // 2:
                                midpoint.set()
                    return

            killed_at = None
            with ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(post, n) for n in range(EVENTS)]
                assert midpoint.wait(300), "half of the webhooks were not accepted in time"
                b.kill()
                killed_at = time.monotonic()
                killed_pid = b.process.pid
                b = nodes["b"] = GatewayProcess(instance(tmp_path, "b2"), env=env)
                started.append(b)
                b.start(60)
                for future in futures:
                    future.result()
            posted_seconds = time.monotonic() - killed_at
            assert set(answers) <= {202, 200} and answers[200] <= len(unanswered), answers  # no 500
            assert len(set(accepted)) == EVENTS  # every webhook stored once

            def drained() -> bool:
                queue = requests.get(a.url + "/healthz", timeout=10).json()["queue"]
                return queue["depth"] == 0
            wait_until(drained, timeout=LEASE + 120, interval=0.2, message="the queue to drain")
            drain_seconds = time.monotonic() - killed_at

            delivered = all_deliveries(a, "delivered")
            received = collections.Counter(r.json()["source_id"] for r in target.received("/hook"))
            assert len(delivered) == EVENTS and all_deliveries(a, "dead") == []
            assert set(received) == set(accepted)  # every accepted event arrived, nothing else did
            twice = sum(count - 1 for count in received.values() if count > 1)
            cut_off = []
            for summary in (d for d in delivered if d["attempts"] > 1):
                log = a.admin("GET", f"/api/v1/deliveries/{summary['id']}").json()["attempt_log"]
                cut_off += [x for x in log if x["outcome"] == "lost"]
            assert all(x["worker"].split(":")[1] == str(killed_pid) and x["reason"].startswith("cut off")
                       for x in cut_off)
            print(f"\n{shared_database_url.split(':')[0]}: {EVENTS} accepted and delivered ({answers[200]} stored by "
                  f"the killed node just before it died, answered 200 on the retry); {len(cut_off)} attempt(s) "
                  f"cut off by the SIGKILL, {twice} delivery(ies) received twice; drained {drain_seconds:.1f}s "
                  f"after the kill (lease {LEASE:g}s; the last webhook was accepted {posted_seconds:.1f}s after it)")
            assert twice <= len(cut_off)
            assert drain_seconds <= LEASE + 30
            for process in (a, b, worker):
                assert "Traceback" not in process.log(), process.log()
        finally:
            for process in started:
                try:
                    process.terminate(15)
                except Exception:
                    process.kill()

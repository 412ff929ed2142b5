"""Two ``serve`` nodes on one database receive the same webhooks at the same moment: each event is
stored once, one node answers 202 and the other 200 (duplicate), and none answers 500."""

from __future__ import annotations

import pytest

import collections
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from gateway.testing import FakeService, GatewayProcess, Reply

from .delivery_support import ld_entry
from .multi_node_support import (  # noqa: F401
    PRODUCTION_ONLY, instance, node_env, shared_database_url, wait_until_nodes_see_the_integration)

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

PAIRS = 300


def test_the_same_webhook_to_two_nodes_at_once_is_one_202_and_one_200(shared_database_url, tmp_path):
    env = node_env(shared_database_url, GATEWAY_WORKERS="0")
    with FakeService(Reply(200, {})) as target:
        with GatewayProcess(instance(tmp_path, "a"), env=env) as a, \
                GatewayProcess(instance(tmp_path, "b"), env=env) as b:
            created = a.admin("POST", "/api/v1/integrations",
                              json={"plugin": "webhook", "name": "t", "config": {"url": target.url + "/hook"},
                                    "policy": PRODUCTION_ONLY})
            assert created.status_code == 201, created.text
            wait_until_nodes_see_the_integration(a, b)
            ids = [f"same-{uuid.uuid4().hex[:12]}" for _ in range(PAIRS)]
            local = threading.local()
            answers: dict[str, list[tuple[str, int, dict]]] = collections.defaultdict(list)

            def post(node: GatewayProcess, source_id: str, gate: threading.Barrier) -> None:
                session = getattr(local, "session", None) or setattr(local, "session", requests.Session()) \
                    or local.session
                body = ld_entry(source_id)
                gate.wait(10)  # both posts of a pair leave together
                response = session.post(node.url + "/webhooks/launchdarkly", data=body, timeout=30,
                                        headers={"Content-Type": "application/json"})
                answers[source_id].append((node.url, response.status_code, response.json()))

            with ThreadPoolExecutor(16) as pool:
                futures = []
                for source_id in ids:
                    gate = threading.Barrier(2)
                    futures += [pool.submit(post, a, source_id, gate), pool.submit(post, b, source_id, gate)]
                for future in futures:
                    future.result()

            statuses = collections.Counter(status for pair in answers.values() for _, status, _ in pair)
            assert statuses == {202: PAIRS, 200: PAIRS}, statuses
            for source_id, pair in answers.items():
                assert sorted(status for _, status, _ in pair) == [200, 202], (source_id, pair)
                [first], [repeat] = ([body for _, s, body in pair if s == code] for code in (202, 200))
                assert repeat["event_id"] == first["event_id"] and repeat.get("duplicate") is True
            queue = requests.get(a.url + "/healthz", timeout=10).json()["queue"]
            assert queue["by_status"]["pending"] == PAIRS  # one event, one delivery each: nothing twice
            assert "Traceback" not in a.log() + b.log()

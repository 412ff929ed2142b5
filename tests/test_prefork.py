"""``serve`` with several processes (gunicorn) and with one (waitress): every process answers and
delivers, a change made through one process is seen by the others at once, SIGTERM stops all of it
cleanly; plus the pieces: worker shares, per-process ids, the queue-warning filter."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import uuid

import pytest
import requests
from sqlalchemy import create_engine, select

from gateway import hmac_sha256_hex
from gateway.kit.fake_flag_platform import FakeFlagPlatform
from gateway.runtime.prefork import worker_share
from gateway.runtime.server_log import OncePerEpisode
from gateway.store import tables
from gateway.store.base import new_id
from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

from .delivery_support import FAST_SCHEDULE, ld_entry

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

FAST = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "webhook", "GATEWAY_LEASE_SECONDS": "5",
        "GATEWAY_RETRY_SCHEDULE": FAST_SCHEDULE, "GATEWAY_SHUTDOWN_GRACE_SECONDS": "2"}


@pytest.fixture
def gateway(tmp_path):
    started = []

    def start(**env) -> GatewayProcess:
        process = GatewayProcess(str(tmp_path), env={**FAST, **env})
        started.append(process)
        return process.start()

    yield start
    for process in started:
        try:
            process.terminate(20)
        except Exception:
            process.kill()


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.add(int(entry))
            except OSError:
                continue
    return found


def column(instance, stored) -> list:
    """The values of the column ``stored`` in the served gateway's database (the test's PostgreSQL
    schema on a PostgreSQL run, else the instance folder's SQLite file)."""
    engine = create_engine(os.environ.get("GATEWAY_DATABASE_URL") or f"sqlite:///{os.path.join(instance, 'gateway.db')}")
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(stored)).scalars())
    finally:
        engine.dispose()


def checked(instance) -> set[str]:
    """The integrations whose checks have a stored result."""
    return {subject.split(":", 1)[1] for subject in column(instance, tables.check_results.c.subject)
            if subject.startswith("integration:")}


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads child processes from /proc (Linux)")
def test_two_processes_share_the_work_and_see_each_others_changes(gateway, tmp_path):
    with FakeService(Reply(200, {})) as target:
        served = gateway(GATEWAY_PROCESSES="2", GATEWAY_WORKERS="2")
        wait_until(lambda: len(children_of(served.process.pid)) == 2, timeout=30, message="both children")
        wait_until(lambda: served.log().count("delivery worker(s)\n") >= 2, timeout=30, message="their workers")
        children = children_of(served.process.pid)
        workers = requests.get(served.url + "/healthz", timeout=10).json()["workers"]
        assert workers["threads"] == 1  # of the process that answered
        assert (workers["serve_processes"], workers["serve_threads"]) == (2, 2)  # of the node
        # each webhook right after the integration was added through the API: whichever process
        # answers it knows the integration already
        sources, integration_ids = [], []
        for n in range(6):
            added = served.admin("POST", "/api/v1/integrations", json={
                "plugin": "webhook", "name": f"target {n}", "config": {"url": target.url + f"/hook/{n}"}})
            assert added.status_code == 201, added.text
            integration_ids.append(added.json()["id"])
            source_id = f"evt-{uuid.uuid4().hex[:12]}"
            answer = served.post_webhook(ld_entry(source_id))
            assert answer.status_code == 202 and answer.json()["queued"] == n + 1, answer.text
            sources.append(source_id)
        total = sum(range(1, 7))
        wait_until(lambda: len(target.received()) >= total, timeout=30, message="every delivery")
        # the background checks, run by one of the processes, cover integrations added through either
        wait_until(lambda: checked(tmp_path) >= set(integration_ids), timeout=30,
                   message="the background checks of every integration")
        assert served.terminate(20) == 0
    assert len(target.received()) == total
    pids = {int(worker.split(":")[1]) for worker in column(tmp_path, tables.attempts.c.worker)}
    assert pids <= children  # the children made the attempts (the master runs no workers)
    log = served.log()
    assert "with 2 processes" in log
    assert {int(pid) for pid in re.findall(r"event-gateway\[(\d+)\]: 1 delivery worker\(s\)", log)} == children
    [checker] = re.findall(r"event-gateway\[(\d+)\]: background checks", log)  # one process per node
    assert int(checker) in children
    assert "SIGTERM received, stopping" in log


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads child processes from /proc (Linux)")
def test_every_process_checks_webhooks_against_the_connection_at_once_after_it_changes(gateway):
    with FakeFlagPlatform("api-prefork-connection-token") as platform:
        served = gateway(GATEWAY_PROCESSES="2", GATEWAY_WORKERS="0")
        wait_until(lambda: len(children_of(served.process.pid)) == 2, timeout=30, message="both children")
        body = ld_entry("evt-before-connect")
        assert served.post_webhook(body).status_code == 202  # no secret yet: unsigned is accepted
        connected = served.admin("PUT", "/api/v1/connections/launchdarkly", json={
            "api_token": platform.token, "public_url": served.url, "api_url": platform.url})
        assert connected.status_code == 200, connected.text
        [hook] = platform.webhooks.values()
        # right after the connect, through either process (each request is a new TCP connection,
        # taken by whichever process accepts it first): unsigned is refused, signed accepted
        for n in range(8):
            entry = ld_entry(f"evt-after-connect-{n}")
            assert served.post_webhook(entry).status_code == 401
            signed = served.post_webhook(entry, headers={"X-LD-Signature": hmac_sha256_hex(hook["secret"], entry)})
            assert signed.status_code == 202, signed.text
        assert served.admin("DELETE", "/api/v1/connections/launchdarkly").status_code == 200
        for n in range(8):
            assert served.post_webhook(ld_entry(f"evt-after-disconnect-{n}")).status_code == 202


def test_one_process_serves_with_waitress(gateway):
    with FakeService(Reply(200, {})) as target:
        served = gateway(GATEWAY_PROCESSES="1", GATEWAY_WORKERS="1")
        workers = requests.get(served.url + "/healthz", timeout=10).json()["workers"]
        assert (workers["threads"], workers["serve_processes"], workers["serve_threads"]) == (1, 1, 1)
        added = served.admin("POST", "/api/v1/integrations", json={
            "plugin": "webhook", "name": "target", "config": {"url": target.url + "/hook"}})
        assert added.status_code == 201
        assert served.post_webhook(ld_entry("one-process")).json()["queued"] == 1
        target.wait_for(1, "/hook")
        assert served.terminate(20) == 0
    log = served.log()
    assert "Starting gunicorn" not in log and "with 1 delivery worker(s)" in log


@pytest.mark.parametrize(("total", "processes", "shares"), [
    (4, 2, [2, 2]), (5, 2, [3, 2]), (1, 2, [1, 1]), (0, 3, [0, 0, 0]), (8, 3, [3, 3, 2]), (3, 1, [3]),
])
def test_each_process_runs_its_share_of_the_delivery_workers(total, processes, shares):
    assert [worker_share(total, processes, slot) for slot in range(processes)] == shares


def _ids_in_child(out) -> None:
    out.send([new_id() for _ in range(3)])


def test_ids_are_unique_across_forked_processes():
    before = [new_id() for _ in range(3)]
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_ids_in_child, args=(sending,))
    child.start()
    theirs = receiving.recv()
    child.join(10)
    after = [new_id() for _ in range(3)]
    ours = before + after
    assert len(set(ours + theirs)) == 9
    assert {i[:23] for i in theirs}.isdisjoint({i[:23] for i in ours})  # a new prefix after the fork
    assert all(len(i) == 36 and i.count("-") == 4 for i in ours + theirs)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def queue_warning(depth: int) -> logging.LogRecord:
    return logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1, "Task queue depth is %d", (depth,), None)


def test_queue_depth_warnings_are_said_once_per_episode():
    clock = Clock()
    quiet = OncePerEpisode(gap=10.0, clock=clock)
    first = queue_warning(1)
    assert quiet.filter(first) and "queue depth 1" in first.getMessage()
    passed = []
    for depth in range(2, 500):
        clock.now += 0.01
        passed.append(quiet.filter(queue_warning(depth)))
    assert not any(passed)
    clock.now += 30  # quiet for longer than the gap: a new episode, summing up the last
    again = queue_warning(3)
    assert quiet.filter(again)
    message = again.getMessage()
    assert "499 such warnings" in message and "deepest 499" in message
    other = logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1, "something else", (), None)
    assert quiet.filter(other)

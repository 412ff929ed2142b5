"""The database goes away under load, with real processes: ``event-gateway serve`` (with its delivery
workers and the example ``webhook`` plugin), a fake target on loopback, about 50 flag-change
webhooks a second, and

- a PostgreSQL server of the test's own, stopped (``pg_ctl stop -m fast``) and started again;
- the same server made read-only (``default_transaction_read_only``), as after a failover to a
  standby, and writable again;
- the SQLite database made unwritable: the gateway's file-size limit (RLIMIT_FSIZE) is lowered
  below the size of its files, so every write to them fails as on a full disk, then restored.

The contract, in both: during the outage webhooks are answered 503 with ``Retry-After`` and a JSON
body, never 500; the log says once that the database went and once that it is back, with no
traceback; /healthz is not ready meanwhile; /metrics counts the refusals; the workers resume by
themselves; every accepted event — and every refused one, sent again as a sender would — is
delivered, each exactly once.

``serve`` runs one process here (``GATEWAY_PROCESSES=1``), whose log lines and metrics are the whole
story; the PostgreSQL stop-and-start runs again with two processes (gunicorn), each with its own
watch: each says once that the database went and once that it is back, and counts what it refused.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass

import pytest
import requests

from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

from .delivery_support import ld_entry
from .throwaway_postgres import ThrowawayPostgres, availability

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

RATE = 50  # webhooks a second
SENDERS = 4
PHASE = 250  # webhooks answered in each phase (before, during, after the outage): about 5 s each
ENV = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "webhook", "GATEWAY_WORKERS": "4",
       "GATEWAY_RETRY_SCHEDULE": "0,0.5,1,2,2,2,2,2,2,2", "GATEWAY_LEASE_SECONDS": "60",
       "GATEWAY_SHUTDOWN_GRACE_SECONDS": "5", "GATEWAY_PROCESSES": "1"}


@dataclass(frozen=True)
class Answer:
    source_id: str
    status: int
    retry_after: str | None
    body: dict | str


class Load:
    """Posts distinct flag-change webhooks at about ``RATE`` a second from ``SENDERS`` threads and
    keeps every answer (a request that gets no answer fails the test: the gateway must answer)."""

    def __init__(self, gateway: GatewayProcess):
        self.gateway = gateway
        self.answers: list[Answer] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(SENDERS)]

    def _send(self) -> None:
        interval = SENDERS / RATE
        next_at = time.monotonic()
        with requests.Session() as session:
            while not self._stop.is_set():
                source_id = f"evt-{uuid.uuid4().hex[:16]}"
                try:
                    answer = post(session, self.gateway, source_id)
                except requests.RequestException as exc:
                    with self._lock:
                        self.failures.append(f"{source_id}: {type(exc).__name__}: {exc}")
                    continue
                with self._lock:
                    self.answers.append(answer)
                next_at += interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))  # pacing, not synchronisation

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def count(self, status: int) -> int:
        with self._lock:
            return sum(1 for a in self.answers if a.status == status)

    def wait_for(self, status: int, more: int, timeout: float = 60) -> None:
        target = self.count(status) + more
        wait_until(lambda: self.count(status) >= target or self.failures, timeout, interval=0.05,
                   message=f"{more} more answers {status}")
        assert not self.failures, self.failures[:5]


def post(session: requests.Session, gateway: GatewayProcess, source_id: str) -> Answer:
    response = session.post(gateway.url + "/webhooks/launchdarkly", data=ld_entry(source_id), timeout=30,
                            headers={"Content-Type": "application/json"})
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Answer(source_id, response.status_code, response.headers.get("Retry-After"), body)


class PipedGatewayProcess(GatewayProcess):
    """A gateway whose output goes through a pipe to the log file: a pipe is not a file, so the
    file-size limit of the SQLite test does not stop the gateway from logging."""

    def start(self, timeout: float = 30.0) -> PipedGatewayProcess:
        args = [sys.executable, "-m", "gateway", *self.command, "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._copier = threading.Thread(target=self._copy, daemon=True)
        self._copier.start()
        try:
            wait_until(self._healthy, timeout, interval=0.05, message=f"gateway on {self.url} (log: {self.log_path})")
        except AssertionError:
            self.kill()
            raise
        return self

    def _copy(self) -> None:
        with open(self.log_path, "ab", buffering=0) as log:
            for line in self.process.stdout:
                log.write(line)

    def terminate(self, timeout: float = 30.0) -> int:
        status = super().terminate(timeout)
        self._copier.join(10)
        return status


def add_webhook(gateway: GatewayProcess, url: str) -> None:
    response = gateway.admin("POST", "/api/v1/integrations",
                             json={"plugin": "webhook", "name": "target", "config": {"url": url}})
    assert response.status_code == 201, response.text


def metric_total(gateway: GatewayProcess, name: str) -> float:
    text = requests.get(gateway.url + "/metrics", timeout=10).text
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, flags=re.M))


def check_not_ready(gateway: GatewayProcess, reasons: set[str]) -> None:
    response = requests.get(gateway.url + "/healthz", timeout=30)
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["database"] == "unavailable" and body["database_outage"]["reason"] in reasons, body
    assert response.headers["Retry-After"] == "5"


def outage_under_load(gateway: GatewayProcess, target: FakeService, go_away, come_back,
                      reasons: set[str], during=None, processes: int = 1) -> None:
    """Run the load, take the database away after a phase, bring it back after another, and check
    the whole contract (``processes``: how many processes serve, each with its own watch, log
    lines and metrics; a scrape is answered by one of them)."""
    add_webhook(gateway, target.url + "/hook")
    load = Load(gateway).start()
    try:
        load.wait_for(202, PHASE)
        go_away()
        load.wait_for(503, PHASE)
        check_not_ready(gateway, reasons)
        if during is not None:
            during()
        come_back()
        load.wait_for(202, PHASE)
    finally:
        load.stop()
    assert not load.failures, load.failures[:5]

    statuses = {a.status for a in load.answers}
    assert statuses <= {202, 503}, [a for a in load.answers if a.status not in (202, 503)][:5]
    refused = [a for a in load.answers if a.status == 503]
    for answer in refused:
        assert answer.retry_after == "5", answer
        assert isinstance(answer.body, dict) and answer.body["reason"] in reasons, answer
        assert answer.body["retry_after"] == 5 and answer.body["error"].startswith("database unavailable: ")
    assert requests.get(gateway.url + "/healthz", timeout=30).status_code == 200

    # a sender tries the refused ones again: each is taken now (or found already stored)
    with requests.Session() as session:
        for answer in refused:
            again = post(session, gateway, answer.source_id)
            assert again.status in (200, 202), again

    posted = [a.source_id for a in load.answers]
    wait_until(lambda: len(target.received("/hook")) >= len(posted), timeout=120, interval=0.1,
               message=f"{len(posted)} deliveries")
    delivered = [r.json()["source_id"] for r in target.received("/hook")]
    assert sorted(delivered) == sorted(posted)  # every one, each exactly once

    if processes == 1:
        assert metric_total(gateway, "gateway_database_refusals_total") == len(refused)
    else:  # the scraped process's own refusals (all of them may have gone to the other process)
        assert metric_total(gateway, "gateway_database_refusals_total") <= len(refused)
    assert metric_total(gateway, "gateway_database_outages_total") == 1
    log = gateway.log()
    assert "Traceback" not in log, log[-3000:]
    went = re.findall(r"database unavailable: .*", log)
    back = re.findall(r"database available again after ([\d.]+) s; (\d+) request\(s\) were refused(.*)", log)
    # once each per node, however many of its processes met the outage (all do: every process's
    # delivery workers meet it within a second)
    assert len(went) == 1 and len(back) == 1, (went, back)
    assert 0 < int(back[0][1]) <= len(refused)
    if processes > 1:
        assert back[0][2] == f" with 503 meanwhile (by the {processes} processes of this node that met it)", back


def require(reason: str | None, what: str) -> None:
    """Skip when ``reason`` says this machine cannot run the test; in CI, fail instead."""
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} must run in CI, but {reason}")
    pytest.skip(f"{what} skipped: {reason}")


@pytest.fixture
def postgres():
    require(availability(), "the PostgreSQL outage test")
    cluster = ThrowawayPostgres().init()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def test_postgresql_stopped_and_started_under_load(postgres, tmp_path):
    url = postgres.create_database("dbdown_gateway")
    with FakeService(Reply(200, {})) as target:
        gateway = GatewayProcess(str(tmp_path), env={**ENV, "GATEWAY_DATABASE_URL": url})
        with gateway:
            outage_under_load(gateway, target, lambda: postgres.stop("fast"), postgres.start,
                              reasons={"shutting_down", "unreachable", "starting_up"})


def test_postgresql_stopped_and_started_under_load_with_two_processes(postgres, tmp_path):
    url = postgres.create_database("dbdown_gateway")
    with FakeService(Reply(200, {})) as target:
        gateway = GatewayProcess(str(tmp_path), env={**ENV, "GATEWAY_DATABASE_URL": url, "GATEWAY_PROCESSES": "2"})
        with gateway:
            outage_under_load(gateway, target, lambda: postgres.stop("fast"), postgres.start,
                              reasons={"shutting_down", "unreachable", "starting_up"}, processes=2)
    assert "with 2 processes" in gateway.log()


def test_postgresql_read_only_under_load(postgres, tmp_path):
    """As after a failover to a standby: the server answers, reads work, writes are refused."""
    url = postgres.create_database("dbdown_gateway")
    with FakeService(Reply(200, {})) as target:
        gateway = GatewayProcess(str(tmp_path), env={**ENV, "GATEWAY_DATABASE_URL": url})
        with gateway:
            def reads_still_work():
                response = gateway.admin("GET", "/api/v1/events?limit=1")
                assert response.status_code == 200, response.text

            outage_under_load(gateway, target, lambda: postgres.set_read_only(True),
                              lambda: postgres.set_read_only(False), reasons={"read_only"}, during=reads_still_work)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (a server that forks workers has its files open in each)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in os.listdir(f"/proc/{current}/task"):
            try:
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    queue.extend(int(child) for child in handle.read().split())
            except OSError:
                pass
    return found


def limit_file_size(pid: int, size: int) -> None:
    for process in descendants(pid):
        _, hard = resource.prlimit(process, resource.RLIMIT_FSIZE)
        resource.prlimit(process, resource.RLIMIT_FSIZE, (size, hard))


def test_sqlite_made_unwritable_under_load(tmp_path):
    require(None if hasattr(resource, "prlimit") and os.path.isdir("/proc/self/task")
            else "this system cannot limit another process's file size (prlimit)", "the SQLite outage test")
    with FakeService(Reply(200, {})) as target:
        # SQLite in the instance folder, also on a PostgreSQL run of the suite
        gateway = PipedGatewayProcess(str(tmp_path), env={**ENV, "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}"})
        with gateway:
            pid = gateway.process.pid

            def reads_still_work():
                response = gateway.admin("GET", "/api/v1/events?limit=1")
                assert response.status_code == 200, response.text

            outage_under_load(
                gateway, target,
                go_away=lambda: limit_file_size(pid, 4096),  # smaller than a page of the log: no write fits
                come_back=lambda: limit_file_size(pid, resource.RLIM_INFINITY),
                reasons={"io_error", "disk_full", "read_only"}, during=reads_still_work)


def test_a_machine_without_postgresql_skips_but_ci_fails(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    require(None, "the test")  # nothing missing: it runs
    with pytest.raises(pytest.skip.Exception, match="the test skipped: no binaries"):
        require("no binaries", "the test")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="the test must run in CI, but no binaries"):
        require("no binaries", "the test")

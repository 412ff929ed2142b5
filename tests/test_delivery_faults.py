"""Fault injection with real processes: ``event-gateway serve`` / ``worker`` subprocesses, the
example ``webhook`` plugin (installed as an entry point) and a fake target on loopback. Each test
asserts what reached the target, by count and content."""

from __future__ import annotations

import collections
import threading
import uuid

import pytest

from gateway.testing import FakeService, GatewayProcess, RecordedRequest, Reply, wait_until

from .delivery_support import FAST_SCHEDULE, ld_entry

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

FAST = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "webhook", "GATEWAY_LEASE_SECONDS": "2",
        "GATEWAY_RETRY_SCHEDULE": FAST_SCHEDULE, "GATEWAY_WORKERS": "4", "GATEWAY_SHUTDOWN_GRACE_SECONDS": "2"}


@pytest.fixture
def processes():
    """Start gateway processes; every one is stopped after the test, however it ends."""
    started: list[GatewayProcess] = []

    def start(instance_path, command=("serve",), **env) -> GatewayProcess:
        process = GatewayProcess(str(instance_path), env={**FAST, **env}, command=command)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        try:
            process.terminate(15)
        except Exception:
            process.kill()


def add_webhook(gateway: GatewayProcess, url: str) -> str:
    response = gateway.admin("POST", "/api/v1/integrations",
                             json={"plugin": "webhook", "name": "target", "config": {"url": url}})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def post_events(gateway: GatewayProcess, count: int) -> list[str]:
    """Post ``count`` distinct flag-change webhooks; returns their source ids (all accepted)."""
    ids = [f"evt-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    for source_id in ids:
        response = gateway.post_webhook(ld_entry(source_id))
        assert response.status_code == 202 and response.json()["queued"] == 1, response.text
    return ids


def source_ids(requests: list[RecordedRequest]) -> list[str]:
    return [r.json()["source_id"] for r in requests]


def deliveries(gateway: GatewayProcess, status: str | None = None) -> list[dict]:
    query = "?limit=200" + (f"&status={status}" if status else "")
    return gateway.admin("GET", "/api/v1/deliveries" + query).json()["items"]


def delivery_of(gateway: GatewayProcess) -> dict:
    [summary] = deliveries(gateway)
    return gateway.admin("GET", f"/api/v1/deliveries/{summary['id']}").json()


def test_sigkill_loses_nothing_and_repeats_only_attempts_in_flight(processes, tmp_path):
    with FakeService(Reply(200, {}, delay=0.3)) as target:
        gateway = processes(tmp_path)
        add_webhook(gateway, target.url + "/hook")
        accepted = post_events(gateway, 30)
        target.wait_for(4, timeout=20)
        gateway.kill()
        before_kill = set(source_ids(target.received()))

        restarted = processes(tmp_path)
        wait_until(lambda: set(source_ids(target.received())) >= set(accepted), timeout=60,
                   message="every accepted event at the target")
        wait_until(lambda: len(deliveries(restarted, "delivered")) == len(accepted), timeout=30,
                   message="every delivery marked delivered")
        received = collections.Counter(source_ids(target.received()))
    assert set(received) == set(accepted)
    repeated = {source_id for source_id, count in received.items() if count > 1}
    assert repeated <= before_kill and len(repeated) <= 4  # at most one in flight per worker
    assert all(count <= 2 for count in received.values())
    for item in deliveries(restarted):
        if item["attempts"] > 1:  # taken again after the crash: the lost attempt is on record
            detail = restarted.admin("GET", f"/api/v1/deliveries/{item['id']}").json()
            assert [a["outcome"] for a in detail["attempt_log"]] == ["lost", "delivered"]


def test_target_down_then_back_gets_everything_with_attempts_logged(processes, tmp_path):
    answered = collections.Counter()
    lock = threading.Lock()

    def reply(request: RecordedRequest) -> Reply:
        with lock:
            answered["total"] += 1
            return Reply(503, {"error": "down"}) if answered["total"] <= 6 else Reply(200, {})

    with FakeService(reply) as target:
        gateway = processes(tmp_path)
        add_webhook(gateway, target.url + "/hook")
        accepted = post_events(gateway, 3)
        wait_until(lambda: len(deliveries(gateway, "delivered")) == 3, timeout=30, message="recovery")
        received = source_ids(target.received())
    assert set(received) == set(accepted) and len(received) == 9
    attempts = 0
    for item in deliveries(gateway):
        log = gateway.admin("GET", f"/api/v1/deliveries/{item['id']}").json()["attempt_log"]
        attempts += len(log)
        assert log[-1]["outcome"] == "delivered" and log[-1]["http"][0]["status"] == 200
        for failed in log[:-1]:
            assert failed["outcome"] == "retry" and failed["reason"] == "the receiver answered 503"
            assert failed["http"][0]["status"] == 503 and '"down"' in failed["http"][0]["excerpt"]
    assert attempts == len(received)


def test_retry_after_is_honoured(processes, tmp_path):
    with FakeService(Reply(200, {})) as target:
        target.queue(Reply(429, {"error": "slow down"}, headers={"Retry-After": "2"}))
        gateway = processes(tmp_path)
        add_webhook(gateway, target.url + "/hook")
        [accepted] = post_events(gateway, 1)
        first, second = target.wait_for(2, timeout=20)
    # the schedule alone would come back after 0.2 s (+-20%)
    assert second.received_at - first.received_at >= 1.9
    assert source_ids([first, second]) == [accepted, accepted]
    detail = delivery_of(gateway)
    assert [a["outcome"] for a in detail["attempt_log"]] == ["retry", "delivered"]


def test_hung_target_hits_the_read_timeout_and_is_retried(processes, tmp_path):
    with FakeService(Reply(200, {})) as target:
        target.queue(Reply(200, {}, delay=5))
        gateway = processes(tmp_path, GATEWAY_READ_TIMEOUT="0.5")
        add_webhook(gateway, target.url + "/hook")
        [accepted] = post_events(gateway, 1)
        wait_until(lambda: deliveries(gateway, "delivered"), timeout=20, message="the retry")
        assert source_ids(target.received()) == [accepted, accepted]
    first, second = delivery_of(gateway)["attempt_log"]
    assert first["outcome"] == "retry" and "timed out after 5s connect / 0.5s read" in first["reason"]
    assert first["http"][0]["status"] is None and "ReadTimeout" in first["http"][0]["error"]
    assert second["outcome"] == "delivered"


def test_permanent_failure_goes_dead_at_once_and_replay_delivers_it_once_fixed(processes, tmp_path):
    fixed = threading.Event()

    def reply(request: RecordedRequest) -> Reply:
        return Reply(200, {}) if fixed.is_set() else Reply(400, {"error": "unknown field 'flag_key'"})

    with FakeService(reply) as target:
        gateway = processes(tmp_path)
        integration_id = add_webhook(gateway, target.url + "/hook")
        [accepted] = post_events(gateway, 1)
        wait_until(lambda: deliveries(gateway, "dead"), timeout=20, message="the dead delivery")
        dead = delivery_of(gateway)
        assert dead["attempts"] == 1 and len(dead["attempt_log"]) == 1
        assert "answered 400" in dead["reason"] and "unknown field 'flag_key'" in dead["reason"]
        assert len(target.received()) == 1

        fixed.set()
        response = gateway.admin("POST", f"/api/v1/integrations/{integration_id}/replay",
                                 json={"since": dead["created_at"]})
        assert response.json()["requeued"] == 1
        wait_until(lambda: deliveries(gateway, "delivered"), timeout=20, message="the replayed delivery")
        assert source_ids(target.received()) == [accepted, accepted]
    assert [a["outcome"] for a in delivery_of(gateway)["attempt_log"]] == ["failed", "delivered"]


def test_two_worker_processes_never_deliver_one_delivery_twice(processes, tmp_path):
    with FakeService(Reply(200, {}, delay=0.03)) as target:
        gateway = processes(tmp_path, GATEWAY_WORKERS="0")
        add_webhook(gateway, target.url + "/hook")
        workers = [processes(tmp_path, command=("worker",), GATEWAY_WORKERS="3") for _ in range(2)]
        for worker in workers:
            wait_until(lambda w=worker: "delivery worker(s)" in w.log(), timeout=30, message="worker start")
        accepted = post_events(gateway, 200)
        wait_until(lambda: len(target.received()) >= len(accepted), timeout=60, message="all deliveries")
        wait_until(lambda: len(deliveries(gateway, "delivered")) == 200, timeout=30, message="all recorded")
        received = source_ids(target.received())
    assert sorted(received) == sorted(accepted)  # each exactly once
    workers_used = {attempt["worker"].split(":")[1]
                    for summary in deliveries(gateway, "delivered")
                    for attempt in gateway.admin("GET", f"/api/v1/deliveries/{summary['id']}").json()["attempt_log"]}
    assert workers_used == {str(w.process.pid) for w in workers}


def test_private_address_guard_refuses_loopback_unless_allowed(processes, tmp_path):
    with FakeService(Reply(200, {})) as target:
        allowed = processes(tmp_path, GATEWAY_WORKERS="0")  # queue one delivery, send nothing yet
        integration_id = add_webhook(allowed, target.url + "/hook")
        post_events(allowed, 1)
        allowed.terminate(15)

        guarded = processes(tmp_path, GATEWAY_ALLOW_PRIVATE_TARGETS="0")
        for url, words in ((target.url + "/hook", "plain http://"), ("https://127.0.0.1:9/hook", "loopback")):
            refused = guarded.admin("POST", "/api/v1/integrations",
                                    json={"plugin": "webhook", "name": "x", "config": {"url": url}})
            assert refused.status_code == 400 and words in refused.json()["errors"]["config.url"][0]
        wait_until(lambda: deliveries(guarded, "dead"), timeout=20, message="the queued delivery refused")
        queued_earlier = delivery_of(guarded)
        later = guarded.post_webhook(ld_entry("after-restart")).json()
        assert target.received() == []
    assert queued_earlier["integration_id"] == integration_id
    assert "GATEWAY_ALLOW_PRIVATE_TARGETS" in queued_earlier["reason"]
    assert queued_earlier["attempt_log"][0]["outcome"] == "failed"
    assert later["skipped"] == 1
    decision = guarded.admin("GET", f"/api/v1/events/{later['event_id']}").json()["decisions"][0]
    assert decision["status"] == "skipped" and "GATEWAY_ALLOW_PRIVATE_TARGETS" in decision["reason"]


def test_sigterm_lets_the_running_attempt_finish_and_records_it(processes, tmp_path):
    with FakeService(Reply(200, {"ok": True}, delay=1.0)) as slow:
        gateway = processes(tmp_path)
        add_webhook(gateway, slow.url + "/hook")
        [source_id] = post_events(gateway, 1)
        slow.wait_for(1, "/hook")  # the attempt is under way: the target holds it for a second
        assert gateway.terminate(15) == 0
        log = gateway.log()
        assert "SIGTERM received, stopping" in log and "delivery workers stopped" in log
        restarted = processes(tmp_path)  # the same database: what did the stopped process record?
        [delivery] = deliveries(restarted)
        assert delivery["status"] == "delivered" and delivery["attempts"] == 1
        assert source_ids(slow.received("/hook")) == [source_id]

"""One attempt (outcome mapping, recording, redaction, metrics) and the worker pool (wake-up,
disabled integrations, leases, shutdown)."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import select, update

from gateway import Delivered, Failed, RetryLater, TargetNotAllowed, TransportError
from gateway.delivery import Deliverer, WorkerPool
from gateway.host.state import get_state
from gateway.store.base import now
from gateway.store.tables import attempts, deliveries
from gateway.store.tables import integrations as integrations_table
from gateway.testing import FakeService, Reply, wait_until

from .delivery_support import (  # noqa: F401
    add, delivery_app, dclient, dstate, ld_entry, queue_event, queue_event_for, scripted,
)

SECRET = "hunter2-very-secret"


def run_one(state, worker_id: str = "w1"):
    """Claim the next due delivery and make its attempt; returns the report."""
    delivery = state.db.deliveries.claim(worker_id, 30, now())
    assert delivery is not None
    return Deliverer(state, worker_id).attempt(delivery)


def metric(state, name: str, **labels) -> float:
    return state.metrics.registry.get_sample_value(name, labels) or 0.0


def make_due(state, delivery_id: str) -> None:
    """Bring a delivery's next attempt forward to now, as time passing would."""
    with state.db.engine.begin() as connection:
        connection.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(next_attempt_at=now()))


def test_delivered_records_summary_details_exchanges_and_metrics(dstate):
    with FakeService(Reply(201, {"id": "abc"})) as target:
        row = add(dstate, "courier", {"url": target.url + "/in", "token": SECRET})
        _, delivery_id = queue_event(dstate, row.id, "e1")
        report = run_one(dstate)
    assert (report.outcome, report.status, report.number, report.applied) == ("delivered", "delivered", 1, True)
    delivery = dstate.db.deliveries.get(delivery_id)
    assert delivery.status == "delivered" and delivery.summary == "accepted with 201"
    assert delivery.details == {"status": 201}
    [entry] = delivery.attempt_log
    assert entry.outcome == "delivered" and entry.worker == "w1" and entry.duration_ms > 0
    [exchange] = entry.http
    assert exchange["method"] == "POST" and exchange["status"] == 201
    assert exchange["url"] == target.url + "/in?token=[redacted]" and exchange["excerpt"] == '{"id": "abc"}'
    assert SECRET not in str(entry)
    [request] = target.received()
    assert request.json() == {"source_id": "e1", "delivery": delivery_id, "attempt": 1}
    assert metric(dstate, "gateway_delivery_attempts_total", plugin="courier", result="delivered") == 1
    assert metric(dstate, "gateway_delivery_attempt_seconds_count", plugin="courier") == 1


def test_retry_later_follows_the_schedule_and_honours_after(dstate, scripted):
    row = add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    scripted.script = [RetryLater("busy"), RetryLater("slow down", after=60)]
    first = run_one(dstate)
    assert first.status == "retrying" and first.reason == "busy"
    assert now() + 0.2 * 0.8 - 0.1 <= first.next_attempt_at <= now() + 0.2 * 1.2  # schedule: 0.2 s after attempt 1
    make_due(dstate, delivery_id)
    second = run_one(dstate)
    assert second.status == "retrying" and 59 <= second.next_attempt_at - now() <= 60.5
    assert [a.outcome for a in dstate.db.deliveries.get(delivery_id).attempt_log] == ["retry", "retry"]


def test_a_retry_by_hand_starts_a_fresh_schedule(dstate, scripted):
    row = add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    scripted.script = [RetryLater(f"no {n}") for n in range(1, 11)]
    for _ in range(5):
        make_due(dstate, delivery_id)
        report = run_one(dstate)
    assert report.status == "dead" and report.reason == "gave up after 5 attempts: no 5"
    dstate.db.deliveries.retry(delivery_id, now())  # the cause is fixed, say: a whole schedule again
    report = run_one(dstate)
    assert report.number == 6 and report.status == "retrying"
    assert now() + 0.2 * 0.8 - 0.1 <= report.next_attempt_at <= now() + 0.2 * 1.2  # the first delay again
    for _ in range(4):
        make_due(dstate, delivery_id)
        report = run_one(dstate)
    assert report.number == 10 and report.status == "dead"
    assert report.reason == "gave up after 5 attempts: no 10"


def test_gives_up_when_attempts_run_out(dstate, scripted):
    row = add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    scripted.script = [RetryLater(f"no {n}") for n in range(1, 6)]
    for number in range(1, 6):
        make_due(dstate, delivery_id)
        report = run_one(dstate)
        assert report.number == number
    assert report.status == "dead" and report.reason == "gave up after 5 attempts: no 5"
    assert dstate.db.deliveries.get(delivery_id).status == "dead"
    assert metric(dstate, "gateway_delivery_attempts_total", plugin="scripted", result="retry") == 5


def test_a_dead_delivery_never_says_it_will_retry(dstate, scripted):
    row = add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    scripted.script = [RetryLater(f"the tool answered 503 (try {n}); will retry") for n in range(1, 6)]
    for _ in range(5):
        make_due(dstate, delivery_id)
        report = run_one(dstate)
    assert report.status == "dead" and report.reason == "gave up after 5 attempts: the tool answered 503 (try 5)"
    log = dstate.db.deliveries.get(delivery_id).attempt_log
    assert log[0].reason.endswith("; will retry") and log[-1].reason == "the tool answered 503 (try 5)"


@pytest.mark.parametrize("answer,status,reason", [
    (Failed("bad request: field x"), "dead", "bad request: field x"),
    (TargetNotAllowed("10.0.0.1 is private"), "dead", "target refused: 10.0.0.1 is private"),
    (TransportError("POST https://x timed out"), "retrying", "POST https://x timed out"),
    (KeyError("missing"), "retrying", "plugin 'scripted' raised KeyError: 'missing'"),
    ("not a result", "retrying", "plugin 'scripted' returned str, not Delivered, RetryLater or Failed"),
])
def test_outcomes_and_exceptions_map_to_statuses(dstate, scripted, answer, status, reason):
    row = add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    scripted.script = [(lambda call: answer) if isinstance(answer, str) else answer]
    report = run_one(dstate)
    assert (report.status, report.reason) == (status, reason)
    delivery = dstate.db.deliveries.get(delivery_id)
    assert delivery.status == status and delivery.attempt_log[0].reason == reason


def test_plugin_gets_event_config_client_and_a_stable_delivery_ref(dstate, scripted):
    row = add(dstate, config={"password": SECRET})
    _, delivery_id = queue_event(dstate, row.id, "e7")
    scripted.script = [RetryLater("again"), Delivered("fine")]
    run_one(dstate)
    dstate.db.deliveries.retry(delivery_id, now())
    run_one(dstate)
    first, second = scripted.calls
    assert first["source_id"] == "e7" and first["config"]["password"] == SECRET
    assert first["delivery"].id == second["delivery"].id == delivery_id
    assert (first["delivery"].attempt, second["delivery"].attempt) == (1, 2)
    assert first["delivery"].integration.id == row.id and first["http"] is not second["http"]


def test_secrets_are_redacted_from_reasons(dstate, scripted):
    row = add(dstate, config={"password": SECRET})
    _, delivery_id = queue_event(dstate, row.id, "e")
    scripted.script = [RuntimeError(f"login with {SECRET} failed")]
    report = run_one(dstate)
    assert report.reason == "plugin 'scripted' raised RuntimeError: login with [redacted] failed"
    assert SECRET not in str(dstate.db.deliveries.get(delivery_id))


def test_missing_plugin_is_retried_and_broken_config_goes_dead(dstate, make_app, scripted):
    row = add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    # the same instance folder (database, key) without the plugin
    without_plugin = make_app({"GATEWAY_RETRY_SCHEDULE": "0,1"}, plugins=(), instance=dstate.settings.instance_path)
    report = run_one(get_state(without_plugin))
    assert report.status == "retrying" and "'scripted' is not installed or not loaded" in report.reason

    courier = add(dstate, "courier", {"url": "http://127.0.0.1:9/"})
    _, broken = queue_event(dstate, courier.id, "e2")
    with dstate.db.engine.begin() as connection:
        connection.execute(update(integrations_table).where(integrations_table.c.id == courier.id)
                           .values(config="{}", updated_at=integrations_table.c.updated_at + 1))
    report = Deliverer(dstate, "w1").attempt(dstate.db.deliveries.claim("w1", 30, now(), integration_id=courier.id))
    assert report.status == "dead" and "stored configuration is invalid" in report.reason
    assert dstate.db.deliveries.get(broken).attempt_log[0].outcome == "failed"


def test_lost_lease_records_the_attempt_but_leaves_the_delivery(dstate, scripted):
    row = add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e", due=now() - 10)
    claimed = dstate.db.deliveries.claim("slow", 1, now() - 5)  # its lease has already run out
    dstate.db.deliveries.claim("fast", 30, now())
    report = Deliverer(dstate, "slow").attempt(claimed)
    assert report.applied is False
    delivery = dstate.db.deliveries.get(delivery_id)
    assert delivery.status == "in_flight" and delivery.lease_owner == "fast"
    assert [a.outcome for a in delivery.attempt_log] == ["lost", "delivered"]


# the pool ---------------------------------------------------------------------------------------


@pytest.fixture
def pool(dstate):
    pools = []

    def start(count: int = 2, **options) -> WorkerPool:
        started = WorkerPool(dstate, count, prefix="test", **options)
        started.start()
        pools.append(started)
        return started

    yield start
    for started in pools:
        started.stop(grace=5)


def test_new_event_wakes_an_idle_worker_at_once(dstate, dclient, pool, scripted):
    add(dstate)
    pool(poll_seconds=30)  # only a wake-up can deliver within the deadline below
    wait_until(lambda: all(s.heartbeat for s in dstate.workers[0].slots))
    answer = dclient.post("/webhooks/launchdarkly", data=ld_entry("wake-1"), content_type="application/json")
    assert answer.status_code == 202
    wait_until(lambda: scripted.calls, timeout=5, message="the delivery")
    assert scripted.calls[0]["source_id"] == "wake-1"


def test_scheduled_retries_are_picked_up(dstate, pool, scripted):
    row = add(dstate)
    scripted.script = [RetryLater("first"), RetryLater("second")]
    _, delivery_id = queue_event(dstate, row.id, "e")
    pool(1)
    wait_until(lambda: dstate.db.deliveries.get(delivery_id).status == "delivered", timeout=10)
    assert [a.outcome for a in dstate.db.deliveries.get(delivery_id).attempt_log] == ["retry", "retry", "delivered"]


def test_disabled_integration_holds_deliveries_until_enabled(dstate, dclient, pool, scripted):
    from .conftest import AUTH

    row = add(dstate, enabled=False)
    _, delivery_id = queue_event(dstate, row.id, "held")
    pool(2)
    wait_until(lambda: all(s.heartbeat for s in dstate.workers[0].slots))
    assert dstate.db.deliveries.claim("probe", 30, now()) is None
    assert dstate.db.deliveries.get(delivery_id).status == "pending" and not scripted.calls

    assert dclient.patch(f"/api/v1/integrations/{row.id}", json={"enabled": True}, headers=AUTH).status_code == 200
    wait_until(lambda: dstate.db.deliveries.get(delivery_id).status == "delivered", timeout=5)


def test_plugin_exception_does_not_kill_the_worker(dstate, pool, scripted):
    row = add(dstate)
    scripted.script = [ZeroDivisionError("oops")]
    _, bad = queue_event(dstate, row.id, "bad")
    started = pool(1)
    wait_until(lambda: dstate.db.deliveries.get(bad).status == "delivered", timeout=10)
    _, good = queue_event(dstate, row.id, "good")
    dstate.notify_new_work()
    wait_until(lambda: dstate.db.deliveries.get(good).status == "delivered", timeout=5)
    assert started.health()["alive"] == 1


def test_stop_lets_running_attempts_finish_within_grace(dstate, pool, scripted):
    row = add(dstate)
    release = threading.Event()
    scripted.script = [lambda call: (release.wait(10), Delivered("late but done"))[1]]
    _, delivery_id = queue_event(dstate, row.id, "e")
    started = pool(1)
    wait_until(lambda: started.health()["busy"] == 1)
    threading.Timer(0.2, release.set).start()
    assert started.stop(grace=10) == 0
    assert dstate.db.deliveries.get(delivery_id).status == "delivered"
    assert started not in dstate.workers


def test_stop_puts_back_attempts_still_running_after_grace(dstate, pool, scripted):
    row = add(dstate)
    release = threading.Event()
    scripted.script = [lambda call: (release.wait(10), Delivered("too late"))[1]]
    _, delivery_id = queue_event(dstate, row.id, "e")
    started = pool(1)
    wait_until(lambda: started.health()["busy"] == 1)
    assert started.stop(grace=0.1) == 1
    delivery = dstate.db.deliveries.get(delivery_id)
    assert (delivery.status, delivery.attempts, delivery.lease_owner) == ("pending", 0, None)
    release.set()


def test_stop_between_attempts_of_a_claimed_batch_puts_the_rest_back(dstate, pool, scripted):
    row = add(dstate)
    t = now()
    ids = [queue_event(dstate, row.id, f"e{n}", due=t - 10 + n)[1] for n in range(3)]
    release, stopping = threading.Event(), []
    scripted.script = [Delivered("first"), lambda call: (release.wait(10), Delivered("second"))[1]]
    started = pool(1)  # claims e0 alone, then e1 and e2 together
    wait_until(lambda: len(scripted.calls) == 2 and started.health()["busy"] == 1)
    stopper = threading.Thread(target=lambda: stopping.append(started.stop(grace=10)))
    stopper.start()
    wait_until(lambda: started.health()["stopping"])
    release.set()
    stopper.join(15)
    assert stopping == [0]  # nothing was left running after the grace period
    assert [dstate.db.deliveries.get(i).status for i in ids] == ["delivered", "delivered", "pending"]
    assert dstate.db.deliveries.get(ids[2]).attempts == 0 and len(scripted.calls) == 2


def test_running_attempt_keeps_its_lease(make_app, scripted):
    app = make_app({"GATEWAY_LEASE_SECONDS": "1", "GATEWAY_RETRY_SCHEDULE": "0,0.2"},
                   plugins=(("scripted", scripted),))
    state = get_state(app)
    row = add(state)
    release = threading.Event()
    scripted.script = [lambda call: (release.wait(10), Delivered("slow"))[1]]
    _, delivery_id = queue_event(state, row.id, "e")
    pool = WorkerPool(state, 1, prefix="keeper")
    pool.start()
    try:
        wait_until(lambda: pool.health()["busy"] == 1)
        deadline = now() + 2.5  # over twice the lease: renewal must have happened
        while now() < deadline:
            assert state.db.deliveries.claim("thief", 30, now()) is None
            release.wait(0.1)
        release.set()
        wait_until(lambda: state.db.deliveries.get(delivery_id).status == "delivered")
    finally:
        release.set()
        pool.stop(grace=5)
    assert len(scripted.calls) == 1


def test_housekeeping_prunes_old_records(make_app, scripted):
    """With no retention, delivered and skipped records go with their events and attempts; dead and
    queued ones stay."""
    app = make_app({"GATEWAY_RETENTION_DAYS": "0", "GATEWAY_LEASE_SECONDS": "1", "GATEWAY_RETRY_SCHEDULE": "0"},
                   plugins=(("scripted", scripted),))
    state = get_state(app)
    row = add(state)
    scripted.script = [lambda call: Failed("no") if call["source_id"] == "dead" else Delivered("ok")] * 2
    delivered_event, delivered = queue_event(state, row.id, "delivered")
    skipped_event, skipped = queue_event(state, row.id, "skipped", status="skipped")
    queued_event, queued = queue_event(state, row.id, "queued", due=now() + 3600)
    dead_event, dead = queue_event(state, row.id, "dead")
    pool = WorkerPool(state, 1, prefix="pruner", prune_interval=0.2)
    pool.start()
    try:
        wait_until(lambda: state.db.deliveries.get(dead) is not None and state.db.deliveries.get(dead).status == "dead"
                   and state.db.deliveries.get(delivered) is None and state.db.deliveries.get(skipped) is None,
                   timeout=10, message="pruning")
        pool._prune()  # one more pass, made after the dead delivery was recorded
    finally:
        pool.stop(grace=5)
    assert state.db.events.get(delivered_event) is None and state.db.events.get(skipped_event) is None
    with state.db.engine.connect() as connection:
        left = connection.execute(select(attempts.c.delivery_id)).scalars().all()
    assert left == [dead]  # the delivered one's attempt went with it
    assert state.db.deliveries.get(queued).status == "pending" and state.db.events.get(queued_event) is not None
    assert state.db.deliveries.get(dead).status == "dead" and state.db.events.get(dead_event) is not None
    assert sorted(c["source_id"] for c in scripted.calls) == ["dead", "delivered"]


def test_worker_health_in_healthz(dstate, dclient, pool):
    assert dclient.get("/healthz").get_json()["workers"]["threads"] == 0
    started = pool(3)
    body = dclient.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["workers"]["threads"] == 3 and body["workers"]["alive"] == 3
    assert body["workers"]["serve_processes"] is None and body["workers"]["serve_threads"] is None  # not `serve`
    assert body["queue"]["depth"] == 0 and body["queue"]["by_status"]["pending"] == 0
    started.stop(grace=5)
    assert dclient.get("/healthz").get_json()["workers"]["threads"] == 0


def test_requests_session_is_per_worker(dstate):
    first, second = Deliverer(dstate, "a"), Deliverer(dstate, "b")
    assert isinstance(first.session, requests.Session) and first.session is not second.session


def announce(state) -> None:
    """What the intake does once its transaction queued work: wake a worker of its own app (on
    PostgreSQL the transaction's NOTIFY wakes the workers of other apps, processes and nodes, not
    those of the app that sent it)."""
    state.notify_new_work()


def record_claims(state, monkeypatch) -> list[int]:
    """The limit of every claim the store is asked for, in order."""
    claims = []
    claim_many = state.db.deliveries.claim_many
    monkeypatch.setattr(state.db.deliveries, "claim_many",
                        lambda *args, **kwargs: claims.append(args[3]) or claim_many(*args, **kwargs))
    return claims


def test_only_a_claim_that_leaves_more_due_wakes_another_idle_worker(dstate, pool, scripted, monkeypatch):
    row = add(dstate)
    ids = [queue_event(dstate, row.id, f"pass-{n}")[1] for n in range(4)]
    passed, claims = [], record_claims(dstate, monkeypatch)
    monkeypatch.setattr(dstate, "pass_on_work", lambda: passed.append(len(scripted.calls)))
    pool(1, poll_seconds=30)
    wait_until(lambda: all(dstate.db.deliveries.get(i).status == "delivered" for i in ids), timeout=10)
    # the claims of 1 and 2 leave more due, so each wakes another idle worker; the claim of 4 takes
    # the last one, so no worker is woken to look again
    assert passed == [0, 1]
    # and after the last attempt the worker waits instead of claiming again to find nothing: the
    # next claim is the one that the next announced event starts, and it finds that event
    _, later = queue_event(dstate, row.id, "pass-later")
    announce(dstate)
    wait_until(lambda: dstate.db.deliveries.get(later).status == "delivered", timeout=10)
    assert claims == [1, 2, 4, 1]


def test_a_worker_that_took_all_due_claims_again_when_work_was_announced_meanwhile(dstate, pool, scripted,
                                                                                     monkeypatch):
    row = add(dstate)
    _, first = queue_event(dstate, row.id, "first")
    second = []

    def announce_another(call):  # while the first attempt runs, another event is queued and announced
        second.append(queue_event(dstate, row.id, "second")[1])
        dstate.notify_new_work()
        return Delivered("ok")

    scripted.script = [announce_another]
    # neither polling (30 s) nor the next due time (said to be never) finds the second event in
    # time: only the announcement made during the attempt can
    monkeypatch.setattr(dstate.db.deliveries, "next_due_at", lambda: None)
    pool(1, poll_seconds=30)
    wait_until(lambda: second and dstate.db.deliveries.get(second[0]).status == "delivered", timeout=10)
    assert [call["source_id"] for call in scripted.calls] == ["first", "second"]
    assert dstate.db.deliveries.get(first).status == "delivered"


def test_a_worker_whose_claim_left_more_waits_once_the_worker_it_woke_took_the_rest(dstate, pool, scripted,
                                                                                     monkeypatch):
    first, second = add(dstate, name="first"), add(dstate, name="second")
    claims = record_claims(dstate, monkeypatch)
    workers = pool(2, poll_seconds=30)
    wait_until(lambda: len(claims) == 2 and len(dstate.new_work._waiters) == 2)  # both idle, nothing due
    ids = []

    def until_the_other_is_delivered(call):  # the first attempt lasts until the other worker's is done
        wait_until(lambda: len(ids) == 2)  # on PostgreSQL the attempt may begin before queue_event_for returns
        other = ids[1] if call["delivery"].id == ids[0] else ids[0]
        wait_until(lambda: dstate.db.deliveries.get(other).status == "delivered", timeout=10)
        return Delivered("ok")

    scripted.script = [until_the_other_is_delivered]  # before the event: on PostgreSQL it is announced as it is queued
    ids += queue_event_for(dstate, [first.id, second.id], "both")[1]
    announce(dstate)
    wait_until(lambda: all(dstate.db.deliveries.get(i).status == "delivered" for i in ids), timeout=10)
    # one claim took one delivery and saw the other (so it woke the second worker), the second took
    # that one and left nothing due: the first worker then waits instead of claiming to find nothing
    _, later = queue_event_for(dstate, [first.id], "later")
    announce(dstate)
    wait_until(lambda: dstate.db.deliveries.get(later[0]).status == "delivered", timeout=10)
    assert claims == [1, 1, 1, 1, 1]
    assert {call["delivery"].id for call in scripted.calls} == {*ids, *later}
    assert workers.health()["alive"] == 2


def test_the_pools_workers_share_a_reading_of_the_next_due_time(dstate, monkeypatch):
    import time

    from gateway.delivery.pool import DUE_CACHE_SECONDS

    readings = []
    due = [None]
    monkeypatch.setattr(dstate.db.deliveries, "next_due_at", lambda: readings.append(1) or due[0])
    workers = WorkerPool(dstate, 2)
    assert workers.next_due_at() is None and workers.next_due_at() is None
    assert len(readings) == 1  # the second worker's wait used the first one's reading
    workers._due_read = (time.monotonic() - DUE_CACHE_SECONDS, None)  # as old as a reading is kept
    due[0] = now() + 60
    assert workers.next_due_at() == due[0] and len(readings) == 2
    assert workers.next_due_at() == due[0] and len(readings) == 2
    workers._due_read = (time.monotonic(), now() - 1)  # a due time already past is never kept
    assert workers.next_due_at() == due[0] and len(readings) == 3

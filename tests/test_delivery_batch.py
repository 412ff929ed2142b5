"""Batch delivery: the optional ``batch_limits`` / ``deliver_batch`` hooks, gathering, per-delivery
outcomes and attempt logs, and retried batches that come back together and alone."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from marshmallow import Schema, fields

from gateway import (
    Batching, Delivered, Failed, IntegrationType, RetryLater, TargetURL, TransportError, hookimpl,
)
from gateway.delivery import Deliverer, WorkerPool
from gateway.delivery.batch import BatchDeliverer, BatchGatherer, batch_plan
from gateway.host.plugins import PluginHost
from gateway.host.state import get_state
from gateway.store.base import now
from gateway.testing import FakeService, Reply, wait_until

from .delivery_support import ALLOW_ALL, FAST_SCHEDULE, add, queue_event
from .test_delivery_worker import make_due

NAMESPACE = uuid.UUID("6f1e0c1a-2b7d-4a8e-9c3f-5d4b3a2e1f00")


def payload_id(ids) -> str:
    return str(uuid.uuid5(NAMESPACE, ",".join(sorted(ids))))


class BatcherConfig(Schema):
    url = TargetURL(required=True)
    max_size = fields.Integer(load_default=10)
    max_delay = fields.Float(load_default=0.0)
    batched = fields.Boolean(load_default=True)


class Batcher:
    """POSTs each batch as one request (source ids, with a payload id made of the sorted delivery
    ids), then answers per delivery from :attr:`answers` (source id -> result or exception) or
    Delivered. Every call's source ids are kept in :attr:`calls`."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.single: list[str] = []
        self.answers: dict[str, Any] = {}
        self.whole: Any = None  # raise or return this instead of the outcomes
        self.lock = threading.Lock()

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="batcher", name="Batcher", description="posts batches",
                               config_schema=BatcherConfig, default_policy=ALLOW_ALL)

    @hookimpl
    def batch_limits(self, config):
        if not config["batched"]:
            return None
        return Batching(max_size=config["max_size"], max_delay=config["max_delay"])

    @hookimpl
    def deliver_batch(self, items, config, http):
        ids = [item.delivery.id for item in items]
        with self.lock:
            self.calls.append([item.event.source_id for item in items])
        response = http.post(config["url"], json=[item.event.source_id for item in items],
                             headers={"X-Payload-ID": payload_id(ids)}, deliveries=ids)
        if isinstance(self.whole, BaseException):
            raise self.whole
        if self.whole is not None:
            return self.whole
        out = {}
        for item in items:
            answer = self.answers.get(item.event.source_id, Delivered(f"in batch with {response.status_code}"))
            if answer == "omit":
                continue
            out[item.delivery.id] = answer
        return out

    @hookimpl
    def deliver_event(self, event, config, http, delivery):
        self.single.append(event.source_id)
        http.post(config["url"], json=[event.source_id])
        return Delivered("alone")


@pytest.fixture
def batcher() -> Batcher:
    return Batcher()


@pytest.fixture
def bstate(make_app, batcher):
    app = make_app({"GATEWAY_RETRY_SCHEDULE": FAST_SCHEDULE, "GATEWAY_ALLOW_PRIVATE_TARGETS": "1",
                    "GATEWAY_LEASE_SECONDS": "30"}, plugins=(("batcher", batcher),))
    return get_state(app)


@pytest.fixture
def target():
    with FakeService(Reply(202, {})) as service:
        yield service


def run_batch(state, worker: str = "w1", max_delay_clock=None):
    """Claim what is due for ``worker``, gather and attempt it as the pool does (one round)."""
    claimed = state.db.deliveries.claim_many(worker, 30, now(), 100)
    assert claimed
    plan = batch_plan(state, claimed[0])
    gatherer = BatchGatherer(state, worker, max_attempts=5, stopping=lambda: False,
                             **({"clock": max_delay_clock} if max_delay_clock else {}))
    fresh = [d for d in claimed if not d.batch_id]
    retried = [d for d in claimed if d.batch_id]
    batches = []
    if fresh:
        fresh, more = gatherer.fill(fresh, plan)
        retried += more
        batches.append(fresh)
    batches = gatherer.retried_batches(retried) + batches
    deliverer = BatchDeliverer(Deliverer(state, worker))
    return [deliverer.attempt(batch, plan) for batch in batches]


def test_one_call_with_an_outcome_and_an_attempt_log_per_delivery(bstate, batcher, target):
    row = add(bstate, "batcher", {"url": target.url + "/in"})
    ids = [queue_event(bstate, row.id, f"e{n}")[1] for n in range(4)]
    [reports] = run_batch(bstate)
    assert sorted(batcher.calls[0]) == ["e0", "e1", "e2", "e3"] and len(batcher.calls) == 1
    [request] = target.received()
    assert sorted(request.json()) == ["e0", "e1", "e2", "e3"]
    assert request.header("X-Payload-ID") == payload_id(ids)
    assert {r.delivery_id for r in reports} == set(ids)
    for delivery_id in ids:
        delivery = bstate.db.deliveries.get(delivery_id)
        assert delivery.status == "delivered" and delivery.summary == "in batch with 202"
        [entry] = delivery.attempt_log
        assert entry.number == 1 and entry.outcome == "delivered"
        [exchange] = entry.http
        assert exchange["status"] == 202 and "deliveries" not in exchange


def test_mixed_outcomes_each_delivery_keeps_its_own_status(bstate, batcher, target):
    row = add(bstate, "batcher", {"url": target.url + "/in"})
    by_name = {name: queue_event(bstate, row.id, name)[1] for name in ("ok", "bad", "later1", "later2", "gone")}
    batcher.answers = {"bad": Failed("refused: no context"), "later1": RetryLater("busy"),
                       "later2": RetryLater("busy"), "gone": "omit"}
    run_batch(bstate)
    got = {name: bstate.db.deliveries.get(i) for name, i in by_name.items()}
    assert got["ok"].status == "delivered"
    assert (got["bad"].status, got["bad"].reason) == ("dead", "refused: no context")
    assert got["later1"].status == got["later2"].status == got["gone"].status == "retrying"
    assert "gave no outcome for this delivery in its batch of 5" in got["gone"].reason
    # retried together: one retry time, one batch id
    retried = [got["later1"], got["later2"], got["gone"]]
    assert len({d.batch_id for d in retried}) == 1 and retried[0].batch_id
    assert len({d.next_attempt_at for d in retried}) == 1
    assert got["ok"].batch_id is None and got["bad"].batch_id is None


def test_a_retried_batch_comes_back_together_alone_with_the_same_payload_id(bstate, batcher, target):
    row = add(bstate, "batcher", {"url": target.url + "/in"})
    first = [queue_event(bstate, row.id, f"r{n}")[1] for n in range(3)]
    batcher.answers = {f"r{n}": RetryLater("503 from the tool") for n in range(3)}
    run_batch(bstate)
    [first_request] = target.received()
    batcher.answers = {}
    newcomer = queue_event(bstate, row.id, "new")[1]
    make_due(bstate, first[1])  # one member due: the worker claims the rest of its batch with it
    run_batch(bstate)
    assert sorted(map(sorted, batcher.calls[1:])) == [["new"], ["r0", "r1", "r2"]]
    again = next(r for r in target.received()[1:] if sorted(r.json()) == ["r0", "r1", "r2"])
    assert again.header("X-Payload-ID") == first_request.header("X-Payload-ID") == payload_id(first)
    for delivery_id in first:
        delivery = bstate.db.deliveries.get(delivery_id)
        assert delivery.status == "delivered" and delivery.batch_id is None
        assert [e.outcome for e in delivery.attempt_log] == ["retry", "delivered"]
    assert bstate.db.deliveries.get(newcomer).status == "delivered"


def test_a_retry_by_hand_takes_the_delivery_out_of_its_batch(bstate, batcher, target):
    row = add(bstate, "batcher", {"url": target.url + "/in"})
    ids = [queue_event(bstate, row.id, f"r{n}")[1] for n in range(2)]
    batcher.answers = {"r0": RetryLater("busy"), "r1": RetryLater("busy")}
    run_batch(bstate)
    assert bstate.db.deliveries.get(ids[0]).batch_id
    assert bstate.db.deliveries.retry(ids[0], now()).batch_id is None


def test_exchanges_are_recorded_for_the_deliveries_they_carried(make_app, target):
    class Splitter(Batcher):
        @hookimpl
        def deliver_batch(self, items, config, http):
            for item in items:  # one request per delivery, then one for all
                http.post(config["url"], json=[item.event.source_id], deliveries=[item.delivery.id])
            http.get(config["url"])
            return {item.delivery.id: Delivered("ok") for item in items}

    state = get_state(make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"}, plugins=(("batcher", Splitter()),)))
    row = add(state, "batcher", {"url": target.url + "/in"})
    ids = [queue_event(state, row.id, f"e{n}")[1] for n in range(3)]
    run_batch(state)
    for delivery_id in ids:
        [entry] = state.db.deliveries.get(delivery_id).attempt_log
        assert [x["method"] for x in entry.http] == ["POST", "GET"]  # its own POST, and the shared GET


@pytest.mark.parametrize("whole, outcome, reason", [
    (RuntimeError("boom"), "retrying", "plugin 'batcher' raised RuntimeError: boom"),
    (TransportError("no answer"), "retrying", "no answer"),
    (["not", "a", "dict"], "retrying", "returned list from deliver_batch, not a dict"),
])
def test_a_batch_call_that_fails_as_a_whole_retries_every_delivery(bstate, batcher, target, whole, outcome, reason):
    row = add(bstate, "batcher", {"url": target.url + "/in"})
    ids = [queue_event(bstate, row.id, f"e{n}")[1] for n in range(2)]
    batcher.whole = whole
    run_batch(bstate)
    for delivery_id in ids:
        delivery = bstate.db.deliveries.get(delivery_id)
        assert delivery.status == outcome and reason in delivery.reason


def test_no_batching_for_an_integration_whose_limits_are_none(bstate, batcher, target):
    row = add(bstate, "batcher", {"url": target.url + "/in", "batched": False})
    ids = [queue_event(bstate, row.id, f"e{n}")[1] for n in range(2)]
    worker = WorkerPool(bstate, 1, prefix="t")
    worker.start()
    try:
        wait_until(lambda: all(bstate.db.deliveries.get(i).status == "delivered" for i in ids))
    finally:
        worker.stop(grace=5)
    assert sorted(batcher.single) == ["e0", "e1"] and batcher.calls == []


def test_the_pool_bounds_batches_by_size(bstate, batcher, target):
    row = add(bstate, "batcher", {"url": target.url + "/in", "max_size": 3})
    ids = [queue_event(bstate, row.id, f"e{n}", due=now() - 1)[1] for n in range(7)]
    worker = WorkerPool(bstate, 1, prefix="t")
    worker.start()
    try:
        wait_until(lambda: all(bstate.db.deliveries.get(i).status == "delivered" for i in ids))
    finally:
        worker.stop(grace=5)
    assert sorted(len(call) for call in batcher.calls) == [1, 3, 3]
    assert sorted(s for call in batcher.calls for s in call) == [f"e{n}" for n in range(7)]


def test_the_pool_holds_a_lone_delivery_to_gather_more(bstate, batcher, target):
    row = add(bstate, "batcher", {"url": target.url + "/in", "max_size": 2, "max_delay": 30})
    queue_event(bstate, row.id, "first")
    worker = WorkerPool(bstate, 1, prefix="t", poll_seconds=30)
    worker.start()
    try:
        wait_until(lambda: worker.health()["busy"] == 1)  # holds "first", waiting for more
        queue_event(bstate, row.id, "second")
        bstate.notify_new_work()
        target.wait_for(1)
    finally:
        worker.stop(grace=5)
    assert [sorted(call) for call in batcher.calls] == [["first", "second"]]


def test_the_gatherer_stops_waiting_at_the_delay(bstate, batcher, target):
    row = add(bstate, "batcher", {"url": target.url + "/in", "max_size": 50, "max_delay": 1.0})
    due = now() - 5
    queue_event(bstate, row.id, "late", due=due)
    ticks = iter([due + 0.2, due + 1.0, due + 1.0])  # claim, then the delay is up: no waiting
    [reports] = run_batch(bstate, max_delay_clock=lambda: next(ticks))
    assert [r.status for r in reports] == ["delivered"] and batcher.calls == [["late"]]


def test_batching_limits_are_checked():
    with pytest.raises(ValueError, match="max_size"):
        Batching(max_size=0)
    with pytest.raises(ValueError, match="max_delay"):
        Batching(max_size=10, max_delay=61)


def test_a_plugin_with_one_batch_hook_only_is_refused():
    class Half:
        @hookimpl
        def integration_type(self):
            return IntegrationType(key="half", name="Half", description="d", config_schema=BatcherConfig)

        @hookimpl
        def deliver_event(self, event):
            return Delivered()

        @hookimpl
        def deliver_batch(self, items):
            return {}

    host = PluginHost(entry_points=False, extra=(("half", Half()),))
    assert "half" not in host.plugins
    [refused] = [r for r in host.refused if r.name == "half"]
    assert "'batch_limits' and 'deliver_batch' together" in refused.error

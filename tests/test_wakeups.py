"""Wake-ups across processes: on PostgreSQL, work queued through one app (node) wakes the idle
workers of another at once (LISTEN/NOTIFY), long before they would poll."""

from __future__ import annotations

import pytest

from gateway.delivery import WorkerPool
from gateway.host.state import get_state
from gateway.store.base import now
from gateway.testing import wait_until

from .delivery_support import add, delivery_app, delivery_plugins, dstate, queue_event, scripted  # noqa: F401

pytestmark = pytest.mark.postgresql  # LISTEN/NOTIFY is PostgreSQL's

POLL = 60.0  # the workers would not look on their own within the test


def test_work_queued_on_another_node_wakes_idle_workers(dstate, make_app, scripted):
    other = get_state(make_app({"GATEWAY_WORKERS": "0"}, plugins=delivery_plugins(scripted),
                               instance=dstate.settings.instance_path))  # the same database and key
    row = add(dstate)
    pool = WorkerPool(dstate, 2, prefix="idle", poll_seconds=POLL)
    pool.start()
    try:
        wait_until(lambda: pool.listener.connected.is_set(), 10, message="the listener")
        wait_until(lambda: all(s.thread.is_alive() for s in pool.slots), 5)
        for n in range(3):
            started = now()
            _, delivery_id = queue_event(other, row.id, f"elsewhere-{n}")  # committed by the other node
            wait_until(lambda: dstate.db.deliveries.get(delivery_id).status == "delivered", timeout=10,
                       message="the delivery made by the woken worker")
            assert now() - started < POLL / 2
        assert pool.listener.received >= 3 and len(scripted.calls) == 3
    finally:
        pool.stop(grace=5)


def test_a_retry_by_hand_on_another_node_wakes_them_too(dstate, make_app, scripted):
    from gateway import Failed

    other = get_state(make_app({"GATEWAY_WORKERS": "0"}, plugins=delivery_plugins(scripted),
                               instance=dstate.settings.instance_path))
    row = add(dstate)
    scripted.script = [Failed("not yet")]
    pool = WorkerPool(dstate, 1, prefix="idle", poll_seconds=POLL)
    pool.start()
    try:
        wait_until(lambda: pool.listener.connected.is_set(), 10, message="the listener")
        _, delivery_id = queue_event(other, row.id, "retried")
        wait_until(lambda: dstate.db.deliveries.get(delivery_id).status == "dead", timeout=10)
        other.db.deliveries.retry(delivery_id, now())
        wait_until(lambda: dstate.db.deliveries.get(delivery_id).status == "delivered", timeout=10,
                   message="the retried delivery")
    finally:
        pool.stop(grace=5)

"""Wake-ups across processes: on PostgreSQL, work queued through one app (node) wakes the idle
workers of another at once (LISTEN/NOTIFY), long before they would poll."""

from __future__ import annotations

import os
import re

import pytest

from gateway.delivery import WorkerPool
from gateway.host.state import get_state
from gateway.store.base import now
from gateway.store.wakeups import origin, wakes
from gateway.testing import wait_until

from .delivery_support import add, delivery_app, delivery_plugins, dstate, queue_event, scripted  # noqa: F401

postgresql = pytest.mark.postgresql  # LISTEN/NOTIFY is PostgreSQL's

POLL = 60.0  # the workers would not look on their own within the test


@postgresql
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


@postgresql
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


@postgresql
def test_an_apps_own_notifications_wake_none_of_its_workers_a_second_time(dstate, scripted):
    row = add(dstate)
    pool = WorkerPool(dstate, 2, prefix="idle", poll_seconds=POLL)
    pool.start()
    try:
        wait_until(lambda: pool.listener.connected.is_set(), 10, message="the listener")
        claims = []
        claim_many = dstate.db.deliveries.claim_many
        dstate.db.deliveries.claim_many = lambda *a, **k: claims.append(k) or claim_many(*a, **k)
        _, delivery_id = queue_event(dstate, row.id, "here")  # committed by this very app
        wait_until(lambda: pool.listener.own == 1, timeout=10, message="its own notification")
        assert pool.listener.received == 0 and claims == []  # it was not taken for someone else's
        dstate.notify_new_work()  # as the intake does after its commit
        wait_until(lambda: dstate.db.deliveries.get(delivery_id).status == "delivered", timeout=10,
                   message="the delivery made by the worker woken in the process")
        assert len(claims) == 1 and pool.listener.own == 1 and pool.listener.received == 0
    finally:
        pool.stop(grace=5)


def test_a_notification_wakes_for_another_app_process_or_node_and_an_earlier_version():
    own = "1a2b3c4d.4242"
    assert wakes("public", "public", own)  # an earlier version names the schema alone
    assert wakes("public 1a2b3c4d.4343", "public", own)  # a sibling process forked from the same app
    assert wakes("public 99999999.4242", "public", own)  # another app or node, whatever its process id
    assert not wakes(f"public {own}", "public", own)
    assert not wakes("tenant_b 99999999.4242", "public", own)
    assert not wakes("tenant_b", "public", own)
    assert wakes("my schema 99999999.1", "my schema", own)  # a quoted schema name may hold a space


def test_the_origin_names_the_engine_and_the_process(dstate, make_app):
    other = get_state(make_app({"GATEWAY_WORKERS": "0"}, instance=dstate.settings.instance_path))
    mine = origin(dstate.db.engine)
    assert re.fullmatch(r"[0-9a-f]{8}\.\d+", mine) and mine == origin(dstate.db.engine)
    assert origin(other.db.engine) != mine and mine.endswith(f".{os.getpid()}")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, origin(dstate.db.engine).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    in_child = os.read(read, 100).decode()
    os.close(read)
    assert in_child.split(".")[0] == mine.split(".")[0] and in_child == f"{mine.split('.')[0]}.{child}"

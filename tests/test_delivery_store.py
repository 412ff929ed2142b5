"""The delivery queue in the database: claim, leases, finish, release, retry, replay, prune, stats."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, update

from gateway.store.base import now
from gateway.store.deliveries import NewAttempt, NotRetryable, UnknownEvents
from gateway.store.tables import attempts as attempts_table
from gateway.store.tables import events as events_table
from gateway.store.tables import skips as skips_table
from gateway.store.tables import deliveries as deliveries_table

from .delivery_support import add, claim_until_empty, delivery_app, dstate, queue_event, scripted  # noqa: F401

LEASE = 30


def attempt(number: int, worker: str = "w1", outcome: str = "delivered") -> NewAttempt:
    return NewAttempt(number=number, worker=worker, started_at=now(), duration_ms=1.0, outcome=outcome,
                      reason=outcome, http=[{"method": "POST", "status": 200}])


def test_claim_takes_only_due_deliveries_oldest_first(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    t = now()
    _, later = queue_event(dstate, row.id, "later", due=t + 20)
    _, second = queue_event(dstate, row.id, "second", due=t - 5)
    _, first = queue_event(dstate, row.id, "first", due=t - 10)

    claimed = store.claim("w1", LEASE, t)
    assert claimed.id == first and claimed.status == "in_flight" and claimed.attempts == 1
    assert claimed.lease_owner == "w1" and claimed.lease_expires_at == pytest.approx(t + LEASE)
    assert store.claim("w1", LEASE, t).id == second
    assert store.claim("w1", LEASE, t) is None
    assert store.claim("w1", LEASE, t + 21).id == later


def test_claim_many_takes_due_deliveries_in_order_up_to_the_limit(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    t = now()
    ids = [queue_event(dstate, row.id, f"e{n}", due=t - 10 + n)[1] for n in range(5)]
    queue_event(dstate, row.id, "not-yet", due=t + 60)

    first = store.claim_many("w1", LEASE, t, 3)
    assert [d.id for d in first] == ids[:3]
    assert all(d.status == "in_flight" and d.lease_owner == "w1" and d.attempts == 1 for d in first)
    assert first[0].event.source_id == "e0" and first[0].integration.id == row.id
    assert [d.id for d in store.claim_many("w2", LEASE, t, 8)] == ids[3:]
    assert store.claim_many("w3", LEASE, t, 8) == []
    assert store.get(ids[4]).lease_owner == "w2"


def test_claim_skips_disabled_integrations_and_filters_by_integration(dstate):
    store = dstate.db.deliveries
    held, other = add(dstate, name="held"), add(dstate, name="other")
    queue_event(dstate, held.id, "a")
    _, other_delivery = queue_event(dstate, other.id, "b")
    dstate.integrations.update(held, {"enabled": False})

    assert store.claim("w1", LEASE, now(), integration_id=held.id) is None
    assert store.claim("w1", LEASE, now()).id == other_delivery
    assert store.claim("w1", LEASE, now()) is None
    assert store.stats(now()).held == 1
    assert store.next_due_at() is not None  # only the in-flight lease of `other`

    dstate.integrations.update(dstate.db.integrations.get(held.id), {"enabled": True})
    assert store.claim("w1", LEASE, now(), integration_id=held.id).integration_id == held.id


def test_finish_moves_the_delivery_only_for_the_lease_holder(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    store.claim("w1", LEASE, now())

    assert not store.finish(delivery_id, "intruder", attempt(1, "intruder"), status="delivered", reason="x", now=now())
    assert store.get(delivery_id).status == "in_flight"
    assert store.finish(delivery_id, "w1", attempt(1), status="delivered", reason="ok", summary="id 7",
                        details={"id": 7}, now=now())
    done = store.get(delivery_id)
    assert (done.status, done.summary, done.details, done.lease_owner) == ("delivered", "id 7", {"id": 7}, None)
    assert [(a.worker, a.number) for a in done.attempt_log] == [("intruder", 1), ("w1", 1)]
    assert done.attempt_log[1].http == [{"method": "POST", "status": 200}]


def test_finish_records_every_field_and_leaves_a_delivery_no_longer_in_flight_alone(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    store.claim("w1", LEASE, now())
    later = now() + 60
    assert store.finish(delivery_id, "w1", attempt(1, outcome="retry"), status="retrying", reason="503",
                        next_attempt_at=later, now=now())
    retried = store.get(delivery_id)
    assert (retried.status, retried.reason, retried.next_attempt_at) == ("retrying", "503", pytest.approx(later))
    assert (retried.lease_owner, retried.lease_expires_at, retried.summary, retried.details) == (None, None, None, None)
    [logged] = retried.attempt_log
    assert (logged.number, logged.worker, logged.outcome, logged.reason) == (1, "w1", "retry", "retry")
    # not in flight any more (its lease holder finished it): a late finish records, and moves nothing
    assert not store.finish(delivery_id, "w1", attempt(1), status="delivered", reason="late", now=now())
    assert store.get(delivery_id).status == "retrying" and len(store.get(delivery_id).attempt_log) == 2


def test_finishes_written_together_move_each_delivery_on_its_own(dstate):
    """Finishes queued at the same moment are written in one transaction, one statement per table
    (on PostgreSQL one UPDATE ... FROM VALUES): each still moves only a delivery its worker holds,
    with its own status, fields and retry time, and each attempt is recorded."""
    from gateway.store.base import writing

    store, row = dstate.db.deliveries, add(dstate)
    ids = [queue_event(dstate, row.id, f"e{n}")[1] for n in range(4)]
    assert len(store.claim_many("w1", LEASE, now(), 4)) == 4
    later = now() + 60

    def job(delivery_id, worker, status, next_attempt_at=None, summary=None, details=None):
        recorded = {"delivery_id": delivery_id, "number": 1, "worker": worker, "started_at": now(),
                    "duration_ms": 1.0, "outcome": "delivered", "reason": status, "http": "[]"}
        moved = {"delivery_id": delivery_id, "worker_id": worker, "new_status": status, "new_reason": status,
                 "next_attempt_at": next_attempt_at, "new_summary": summary,
                 "new_details": details, "now": now()}
        return recorded, moved

    with writing(dstate.db.engine) as connection:
        applied = store._write_finishes(connection, [
            job(ids[0], "w1", "delivered", summary="id 1", details='{"id": 1}'),
            job(ids[1], "intruder", "delivered"),  # not the lease holder: recorded, moves nothing
            job(ids[2], "w1", "retrying", next_attempt_at=later),
            job(ids[3], "w1", "dead"),
        ])
    assert applied == [True, False, True, True]
    moved = [store.get(i) for i in ids]
    assert [(d.status, d.lease_owner) for d in moved] == [("delivered", None), ("in_flight", "w1"),
                                                          ("retrying", None), ("dead", None)]
    assert (moved[0].summary, moved[0].details, moved[0].next_attempt_at) == ("id 1", {"id": 1}, None)
    assert (moved[2].summary, moved[2].details, moved[2].next_attempt_at) == (None, None, pytest.approx(later))
    assert [len(d.attempt_log) for d in moved] == [1, 1, 1, 1]


@pytest.mark.postgresql
def test_postgres_writes_finishes_in_one_statement_unless_one_goes_dead(dstate):
    """On PostgreSQL, finishes none of which goes dead are written by one statement that commits as
    it runs (attempts inserted, deliveries moved: each only by its lease holder); one that goes dead
    needs a transaction (it gives back its cooldown)."""
    from sqlalchemy import event

    from gateway.store.deliveries import _finish_in_one_statement

    engine = dstate.db.engine
    store, row = dstate.db.deliveries, add(dstate)
    ids = [queue_event(dstate, row.id, f"e{n}")[1] for n in range(4)]
    assert len(store.claim_many("w1", LEASE, now(), 4)) == 4
    later = now() + 60

    def job(delivery_id, worker, status, next_attempt_at=None, summary=None, details=None):
        recorded = {"delivery_id": delivery_id, "number": 1, "worker": worker, "started_at": now(),
                    "duration_ms": 1.0, "outcome": "delivered", "reason": status, "http": "[]"}
        moved = {"delivery_id": delivery_id, "worker_id": worker, "new_status": status, "new_reason": status,
                 "next_attempt_at": next_attempt_at, "new_summary": summary,
                 "new_details": details, "now": now()}
        return recorded, moved

    assert _finish_in_one_statement([job(ids[0], "w1", "delivered"), job(ids[3], "w1", "dead")]) is None
    write = _finish_in_one_statement([
        job(ids[0], "w1", "delivered", summary="id 1", details='{"id": 1}'),
        job(ids[1], "intruder", "delivered"),  # not the lease holder: recorded, moves nothing
        job(ids[2], "w1", "retrying", next_attempt_at=later),
    ])
    with engine.connect() as connection:
        assert write(connection.execution_options(isolation_level="AUTOCOMMIT")) == [True, False, True]
    moved = [store.get(i) for i in ids[:3]]
    assert [(d.status, d.lease_owner) for d in moved] == [("delivered", None), ("in_flight", "w1"),
                                                          ("retrying", None)]
    assert (moved[0].summary, moved[0].details, moved[0].next_attempt_at) == ("id 1", {"id": 1}, None)
    assert (moved[2].summary, moved[2].details, moved[2].next_attempt_at) == (None, None, pytest.approx(later))
    assert [[(a.worker, a.reason) for a in d.attempt_log] for d in moved] == [
        [("w1", "delivered")], [("intruder", "delivered")], [("w1", "retrying")]]

    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert store.finish(ids[3], "w1", attempt(1), status="delivered", reason="ok", now=now())
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(sent) == 1 and store.get(ids[3]).status == "delivered"


def test_concurrent_finishes_each_return_their_own_outcome(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    ids = [queue_event(dstate, row.id, f"e{n}")[1] for n in range(12)]
    assert len(store.claim_many("w1", LEASE, now(), 12)) == 12
    results: dict[str, bool] = {}

    def finish(n: int) -> None:
        worker = "w1" if n % 3 else "intruder"
        results[ids[n]] = store.finish(ids[n], worker, attempt(1, worker), status="delivered", reason="ok", now=now())

    threads = [threading.Thread(target=finish, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {ids[n]: bool(n % 3) for n in range(12)}
    assert [store.get(i).status for i in ids] == ["in_flight" if n % 3 == 0 else "delivered" for n in range(12)]


def test_driver_statements_run_as_compiled_or_fall_back():
    from sqlalchemy import bindparam
    from sqlalchemy.dialects import mysql, sqlite

    from gateway.store.base import DriverStatement
    from gateway.store.tables import deliveries

    finish = DriverStatement(update(deliveries).where(deliveries.c.status == "in_flight").values(
        lease_owner=None, reason=bindparam("new_reason")))
    sql, fixed = finish._compile(sqlite.dialect())
    assert ":new_reason" in sql and fixed == {"lease_owner": None, "status_1": "in_flight"}
    listed = DriverStatement(update(deliveries).where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
                             .values(reason="x"))
    assert listed._compile(sqlite.dialect()) is None  # an IN list: run as a construct
    assert finish._compile(mysql.dialect()) is None  # positional parameters: run as a construct


def test_expired_lease_is_taken_again_and_the_lost_attempt_recorded(dstate, caplog):
    store, row = dstate.db.deliveries, add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    t = int(now()) + 1.5  # the lease runs out half-way through a second (the reason shows whole seconds)
    store.claim("dead-worker", 2, t)
    assert store.claim("w2", LEASE, t + 1) is None  # the lease still holds

    with caplog.at_level("WARNING", logger="gateway.store.deliveries"):
        again = store.claim("w2", LEASE, t + 3)
    # the failover is said once, in the log of the process that takes over
    assert [r.getMessage() for r in caplog.records] == [
        f"failover: worker dead-worker stopped renewing its lease; worker w2 takes over 1 delivery(ies) whose "
        f"attempts in progress are recorded as lost (the target may have received them): {delivery_id}"]
    assert again.id == delivery_id and again.lease_owner == "w2" and again.attempts == 2
    [lost] = store.get(delivery_id).attempt_log
    assert lost.outcome == "lost" and lost.worker == "dead-worker" and lost.started_at == pytest.approx(t)
    cut_off = datetime.fromtimestamp(t + 2, timezone.utc).isoformat(timespec="seconds")
    assert lost.reason == (f"cut off: worker dead-worker stopped renewing its lease, which ran out at {cut_off} "
                           "(its process or node died, or lost the database); whether the attempt reached the "
                           "target is unknown")
    assert lost.number == 1 and lost.duration_ms == 0 and lost.http == []
    assert not store.finish(delivery_id, "dead-worker", attempt(1, "dead-worker"), status="delivered",
                            reason="late", now=t + 4)
    assert store.get(delivery_id).lease_owner == "w2"


def test_expired_lease_on_the_last_attempt_goes_dead(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    t = now()
    store.claim("w1", 1, t, max_attempts=1)
    assert store.claim("w2", LEASE, t + 2, max_attempts=1) is None
    dead = store.get(delivery_id)
    assert (dead.status, dead.reason) == ("dead", "gave up after 1 attempts: the last one never reported back "
                                                  "(worker w1 stopped while it held it)")
    assert dead.next_attempt_at is None and dead.lease_expires_at is None
    assert dead.attempts == 1 and dead.lease_owner is None  # the claim that found it did not count an attempt
    assert [a.outcome for a in dead.attempt_log] == ["lost"]


def test_claim_many_takes_expired_leases_first_then_the_queued_by_due_time(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    t = now()
    _, expired = queue_event(dstate, row.id, "expired", due=t - 100)
    store.claim("gone", 1, t - 50)  # its lease ran out at t - 49
    _, later = queue_event(dstate, row.id, "later", due=t - 5)
    _, earlier = queue_event(dstate, row.id, "earlier", due=t - 10)
    queue_event(dstate, row.id, "not-yet", due=t + 60)

    claimed = store.claim_many("w2", LEASE, t, 2, max_attempts=5)
    assert [d.id for d in claimed] == [expired, earlier]
    assert [d.attempts for d in claimed] == [2, 1]
    assert all(d.lease_owner == "w2" and d.lease_expires_at == pytest.approx(t + LEASE) for d in claimed)
    assert claimed[0].event.source_id == "expired" and claimed[1].integration.id == row.id
    assert [a.outcome for a in store.get(expired).attempt_log] == ["lost"]
    assert [d.id for d in store.claim_many("w3", LEASE, t, 8)] == [later]


def test_a_claim_tells_whether_more_were_due_than_it_took(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    t = now()
    queue_event(dstate, row.id, "expired", due=t - 100)
    store.claim("gone", 1, t - 50)  # its lease ran out at t - 49
    for n in range(3):
        queue_event(dstate, row.id, f"e{n}", due=t - 10 + n)
    queue_event(dstate, row.id, "not-yet", due=t + 60)  # not due: never counts as more

    first = store.claim_many("w1", LEASE, t, 1)
    assert [d.event.source_id for d in first] == ["expired"] and first.more is True
    second = store.claim_many("w1", LEASE, t, 2)
    assert [d.event.source_id for d in second] == ["e0", "e1"] and second.more is True
    last = store.claim_many("w1", LEASE, t, 1)  # exactly as many as were due
    assert [d.event.source_id for d in last] == ["e2"] and last.more is False
    nothing = store.claim_many("w1", LEASE, t, 4)
    assert nothing == [] and nothing.more is False
    later = store.claim_many("w2", LEASE, t + 61, 8)  # w1's 4 leases ran out, and "not-yet" is due
    assert len(later) == 5 and later.more is False


@pytest.mark.postgresql
def test_postgres_claims_in_one_statement(dstate):
    """On PostgreSQL a claim is one statement (select, lock, lease, and record the lost attempt of
    an expired lease together)."""
    from sqlalchemy import event

    engine = dstate.db.engine
    store, row = dstate.db.deliveries, add(dstate)
    t = now()
    for n in range(3):
        queue_event(dstate, row.id, f"e{n}", due=t - 10 + n)
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert len(store.claim_many("w1", 1, t, 2)) == 2
        assert len(sent) == 1 and "SKIP LOCKED" in sent[0]
        sent.clear()
        assert len(store.claim_many("w2", LEASE, t, 8)) == 1  # the third
        assert len(sent) == 1
        sent.clear()
        assert len(store.claim_many("w3", LEASE, t + 5, 8)) == 2  # the two of w1's ran out
        assert len(sent) == 1  # their lost attempts recorded by the same statement
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_renew_extends_only_the_given_workers_leases(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    _, mine = queue_event(dstate, row.id, "a")
    _, theirs = queue_event(dstate, row.id, "b")
    t = now()
    store.claim("w1", 2, t)
    store.claim("w2", 2, t)
    assert store.renew(["w1"], t + 100) == 1
    assert store.get(mine).lease_expires_at == t + 100
    assert store.get(theirs).lease_expires_at == pytest.approx(t + 2)
    assert store.claim("w3", LEASE, t + 5).id == theirs


def test_release_puts_deliveries_back_with_their_attempt_count(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    _, fresh = queue_event(dstate, row.id, "a")
    store.claim("w1", LEASE, now())
    _, retried = queue_event(dstate, row.id, "b")
    store.claim("w2", LEASE, now())
    store.finish(retried, "w2", attempt(1, "w2", "retry"), status="retrying", reason="503",
                 next_attempt_at=now() - 1, now=now())
    assert store.claim("w1", LEASE, now()).id == retried  # its second attempt

    assert store.release(["w1"], now()) == 2
    a, b = store.get(fresh), store.get(retried)
    assert (a.status, a.attempts, a.lease_owner) == ("pending", 0, None)
    assert (b.status, b.attempts) == ("retrying", 1)
    assert "worker stopped" in a.reason


def test_retry_by_hand(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    store.claim("w1", LEASE, now())
    with pytest.raises(NotRetryable, match="attempt is running"):
        store.retry(delivery_id, now())
    store.finish(delivery_id, "w1", attempt(1, outcome="failed"), status="dead", reason="400", now=now())

    again = store.retry(delivery_id, now())
    assert (again.status, again.attempts, again.reason) == ("pending", 1, "re-queued by hand (retry)")
    assert store.claim("w1", LEASE, now()).attempts == 2
    store.finish(delivery_id, "w1", attempt(2), status="delivered", reason="ok", now=now())
    with pytest.raises(NotRetryable, match="replay its event"):
        store.retry(delivery_id, now())
    assert store.retry("no-such-id", now()) is None


def test_replay_since_requeues_recent_dead_deliveries_only(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    other = add(dstate, name="other")
    ids = {}
    for name, integration, dead_at in (("old", row, 100.0), ("recent", row, 1000.0), ("others", other, 1000.0)):
        _, ids[name] = queue_event(dstate, integration.id, name)
        store.claim("w1", LEASE, now(), integration_id=integration.id)
        store.finish(ids[name], "w1", attempt(1, outcome="failed"), status="dead", reason="400", now=dead_at)

    result = store.replay(row.id, row.plugin, now=now(), since=500.0)
    assert (result.requeued, result.created, result.in_flight) == (1, 0, 0)
    assert [store.get(ids[n]).status for n in ("old", "recent", "others")] == ["dead", "pending", "dead"]


def test_replay_event_ids_requeues_any_status_and_creates_missing_deliveries(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    delivered_event, delivered = queue_event(dstate, row.id, "delivered")
    store.claim("w1", LEASE, now())
    store.finish(delivered, "w1", attempt(1), status="delivered", reason="ok", summary="s", now=now())
    skipped_event, skipped = queue_event(dstate, row.id, "skipped", status="skipped")
    running_event, running = queue_event(dstate, row.id, "running")
    store.claim("w1", LEASE, now(), integration_id=row.id)
    other = add(dstate, name="other")
    foreign_event, _ = queue_event(dstate, other.id, "foreign")

    with pytest.raises(UnknownEvents) as raised:
        store.replay(row.id, row.plugin, now=now(), event_ids=[delivered_event, "nope"])
    assert raised.value.ids == ["nope"]
    assert store.get(delivered).status == "delivered"  # nothing changed

    result = store.replay(row.id, row.plugin, now=now(),
                          event_ids=[delivered_event, skipped_event, running_event, foreign_event, foreign_event])
    assert (result.requeued, result.created, result.in_flight) == (2, 1, 1)
    assert store.get(delivered).status == "pending" and store.get(delivered).summary is None
    assert store.get(skipped).status == "pending"
    assert store.get(running).status == "in_flight"
    [created] = [d for d in store.for_event(foreign_event) if d.integration_id == row.id]
    assert (created.status, created.plugin, created.attempts) == ("pending", "scripted", 0)
    with pytest.raises(ValueError):
        store.replay(row.id, row.plugin, now=now())


def test_prune_keeps_dead_and_queued_deliveries_and_their_events(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    t = now()
    events = {}
    for name, status in (("delivered", "delivered"), ("dead", "dead"), ("skipped", None), ("pending", None)):
        events[name], delivery = queue_event(dstate, row.id, name, status="skipped" if name == "skipped" else "pending")
        if status:
            store.claim("w1", LEASE, now(), integration_id=row.id)
            store.finish(delivery, "w1", attempt(1), status=status, reason=status, now=t - 1000)
    with dstate.db.engine.begin() as connection:  # make the skipped one old too
        connection.execute(update(skips_table).values(created_at=t - 1000))  # skips are stored compactly
        connection.execute(update(events_table).values(received_at=t - 1000))

    result = store.prune(t - 500)
    assert (result.deliveries, result.events) == (2, 2)
    assert dstate.db.events.get(events["delivered"]) is None and dstate.db.events.get(events["skipped"]) is None
    for kept in ("dead", "pending"):
        assert dstate.db.events.get(events[kept]) is not None
        assert len(store.for_event(events[kept])) == 1
    with dstate.db.engine.connect() as connection:  # the dead one's, none left over
        assert connection.execute(select(func.count()).select_from(attempts_table)).scalar() == 1
    assert store.prune(t - 500) == type(result)(0, 0)


def test_prune_keeps_recent_records(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    _, delivery = queue_event(dstate, row.id, "e")
    store.claim("w1", LEASE, now())
    store.finish(delivery, "w1", attempt(1), status="delivered", reason="ok", now=now())
    assert store.prune(now() - 3600).deliveries == 0
    assert store.get(delivery) is not None


def test_next_due_and_stats(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    assert store.next_due_at() is None
    t = now()
    queue_event(dstate, row.id, "soon", due=t + 5)
    queue_event(dstate, row.id, "later", due=t + 50)
    queue_event(dstate, row.id, "skipped", status="skipped")
    assert store.next_due_at() == pytest.approx(t + 5)
    store.claim("w1", 2, t + 6)
    assert store.next_due_at() == pytest.approx(t + 8)  # the lease end comes first
    with dstate.db.engine.begin() as connection:  # a retry falling due before it
        connection.execute(update(deliveries_table).where(deliveries_table.c.status == "pending")
                           .values(status="retrying", next_attempt_at=t + 7))
    assert store.next_due_at() == pytest.approx(t + 7)
    with dstate.db.engine.begin() as connection:
        connection.execute(update(deliveries_table).where(deliveries_table.c.status == "retrying")
                           .values(status="pending", next_attempt_at=t + 50))

    stats = store.stats(t + 10)
    # delivered and skipped ones are not counted: every event adds to them (the counters count them)
    assert stats.by_status == {"pending": 1, "in_flight": 1, "retrying": 0, "dead": 0}
    assert stats.depth == 2 and stats.held == 0 and 9 < stats.oldest_age <= 10


def test_list_filters_and_pages_newest_first(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    other = add(dstate, name="other")
    ids = [queue_event(dstate, row.id, f"e{n}")[1] for n in range(5)]
    queue_event(dstate, other.id, "x")
    page = store.list(integration_id=row.id, limit=3)
    assert [d.id for d in page] == ids[::-1][:3]
    rest = store.list(integration_id=row.id, limit=3, before=(page[-1].created_at, page[-1].id))
    assert [d.id for d in rest] == ids[::-1][3:]
    assert len(store.list(status="pending")) == 6 and store.list(status="dead") == []
    assert store.list(since=now() + 10) == []


def test_concurrent_threads_never_claim_one_delivery_twice(dstate):
    store, row = dstate.db.deliveries, add(dstate)
    expected = {queue_event(dstate, row.id, f"e{n}")[1] for n in range(200)}
    claimed: list[str] = []
    lock = threading.Lock()

    def work(worker_id: str) -> None:
        for _ in range(len(expected)):
            delivery = store.claim(worker_id, LEASE, now())
            if delivery is None:
                return
            with lock:
                claimed.append(delivery.id)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(claimed) == len(set(claimed)) and set(claimed) == expected


def test_concurrent_processes_never_claim_one_delivery_twice(dstate):
    row = add(dstate)
    expected = {queue_event(dstate, row.id, f"e{n}")[1] for n in range(300)}
    context = multiprocessing.get_context("spawn")
    results, start = context.Queue(), context.Barrier(3)
    processes = [context.Process(target=claim_until_empty,
                                 args=(dstate.settings.database_url, f"p{n}", start, results))
                 for n in range(3)]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(30)
    everything = [i for ids in outcomes.values() for i in ids]
    assert len(everything) == len(set(everything)) and set(everything) == expected
    assert sum(1 for ids in outcomes.values() if ids) >= 2, {k: len(v) for k, v in outcomes.items()}


@pytest.mark.postgresql
def test_postgres_pings_a_pooled_connection_only_after_it_sat_unused(dstate, monkeypatch):
    """No round trip of ``SELECT 1`` before each transaction of the queue; a connection that sat
    unused is still pinged, and replaced when the server closed it meanwhile."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from gateway.store import database

    engine = dstate.db.engine
    pings = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: pings.append(1) or real_ping(connection))
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    pings.clear()
    with engine.connect() as connection:  # given back a moment ago
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    assert pings == []

    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)  # every pooled connection counts as idle now
    admin = create_engine(engine.url, poolclass=NullPool)
    with admin.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.commit()
    admin.dispose()
    pings.clear()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1  # the closed one was replaced
    assert pings


@pytest.mark.postgresql
def test_postgres_claims_look_for_expired_leases_through_the_in_flight_index(dstate):
    """An expired lease is looked for through ix_deliveries_lease (the in-flight rows only, revision
    0014), not through the status index, whose entries include every delivery's time in flight."""
    import time

    from gateway.store.deliveries import GAVE_UP_REASON, LOST_REASON, _claim_postgres

    store, row = dstate.db.deliveries, add(dstate)
    for n in range(3):
        queue_event(dstate, row.id, f"e{n}")
    assert len(store.claim_many("w1", LEASE, now(), 3)) == 3
    params = {"now": time.time(), "integration_id": None, "limit": 8, "looked_at": 9, "worker_id": "w2",
              "until": time.time() + 30,
              "max_attempts": None, "lost_reason": LOST_REASON, "gave_up_reason": GAVE_UP_REASON}
    with dstate.db.engine.connect() as connection:
        for setting in ("enable_seqscan", "enable_bitmapscan"):  # a table this small would be read whole
            connection.exec_driver_sql(f"SET LOCAL {setting} = off")
        plan = "\n".join(r[0] for r in connection.exec_driver_sql(
            "EXPLAIN " + _claim_postgres(filtered=False), params))
        connection.rollback()
    in_flight = plan.split("CTE in_flight", 1)[1].split("CTE pending", 1)[0]
    assert "ix_deliveries_lease" in in_flight, plan

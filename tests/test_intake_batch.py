"""A group commit's batch of events is written with one INSERT per table (per
:data:`gateway.store.events.EVENTS_PER_STATEMENT` events): every new event is stored with its skips,
and a repeat (of an event stored before, or of one earlier in the same batch) stores nothing and
answers the first event's id."""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.host.state import get_state
from gateway.store import tables
from gateway.store.base import writing
from gateway.store.events import EVENTS_PER_STATEMENT, NewDecision, Recorded
from gateway.testing import make_event

from .conftest import add_integration


def _queue(store, monkeypatch, events_and_decisions) -> list:
    """The jobs ``record`` would hand to the group commit, without running it."""
    jobs = []
    monkeypatch.setattr(store._batches, "run", lambda job, order="": jobs.append(job) or Recorded("x", True))
    for event, decisions in events_and_decisions:
        store.record(event, decisions)
    monkeypatch.undo()
    return sorted(jobs, key=lambda job: job.event["dedupe_key"])  # as the group commit orders them


def test_a_batch_larger_than_one_statement_stores_every_event_and_answers_repeats(app, client, monkeypatch):
    skipped = add_integration(client, "recorder", name="skipped", config={"token": "t"})["id"]
    store = get_state(app).db.events
    first = store.record(make_event(source_id="before"), [NewDecision(skipped, "recorder", "skipped", "no")])
    count = EVENTS_PER_STATEMENT * 2 + 3
    batch = [(make_event(source_id=f"e-{n:03d}"), [NewDecision(skipped, "recorder", "skipped", f"reason {n % 2}")])
             for n in range(count)]
    batch += [(make_event(source_id="before"), []), (make_event(source_id="e-007"), [])]
    jobs = _queue(store, monkeypatch, batch)
    with writing(store.engine) as connection:  # one transaction, as a group commit writes them
        results = store._write_batch(connection, jobs)
    by_source = {job.event["source_id"]: (job, result) for job, result in zip(jobs, results)}
    assert len(results) == count + 2
    assert sum(1 for r in results if r.created) == count
    assert all(r.skipped == 1 for r in results if r.created)
    repeat_of_stored = [r for job, r in zip(jobs, results) if job.event["source_id"] == "before"]
    assert [(r.event_id, r.created) for r in repeat_of_stored] == [(first.event_id, False)]
    repeats = [(job, r) for job, r in zip(jobs, results) if job.event["source_id"] == "e-007"]
    created = [r for _, r in repeats if r.created]
    assert len(created) == 1
    assert [(r.event_id, r.created) for _, r in repeats if not r.created] == [(created[0].event_id, False)]
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tables.events)).scalar() == count + 1
        assert connection.execute(select(func.count()).select_from(tables.skips)).scalar() == count + 1
    deliveries = get_state(app).db.deliveries
    line = deliveries.for_event(by_source["e-101"][1].event_id)
    assert [(d.integration_id, d.status, d.reason) for d in line] == [(skipped, "skipped", "reason 1")]

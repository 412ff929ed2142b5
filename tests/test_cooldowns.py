"""Cooldowns a plugin's ``Take`` carries: the first event claims the key for the integration, the
next within the cooldown is skipped with a reason naming the event that holds it and when it is
free; claims are made in the transaction that stores the event, so that a batch, threads and two
"nodes" (two engines on one database) never let two events take one key."""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from gateway import Cooldown, Take
from gateway.events import Event
from gateway.host.state import get_state
from gateway.store import Database, tables
from gateway.store.base import writing
from gateway.store.events import NewDecision, Recorded

from .conftest import AUTH, DEFAULT_PLUGINS, add_integration, fixture_bytes
from .plugins_for_tests import Cooling

PROD = "launchdarkly/flag-turned-on-production.json"
T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


def utc(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class Clock:
    def __init__(self, at: float):
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def app(make_app):
    return make_app(plugins=DEFAULT_PLUGINS + (("cooling", Cooling()),))


@pytest.fixture
def clock(app):
    clock = Clock(T0)
    get_state(app).db.events.clock = clock
    return clock


def post(client, source_id: str, status: int = 202) -> dict:
    body = json.loads(fixture_bytes(PROD))
    body["_id"] = source_id
    response = client.post("/webhooks/launchdarkly", data=json.dumps(body), content_type="application/json")
    assert response.status_code == status, response.get_json()
    return response.get_json()


def line(client, event_id: str, integration_id: str) -> dict:
    decisions = client.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json()["decisions"]
    [found] = [d for d in decisions if d["integration_id"] == integration_id]
    return found


def flag_key() -> str:
    return json.loads(fixture_bytes(PROD))["currentVersion"]["key"]


def test_the_first_event_takes_the_next_within_the_cooldown_is_skipped_then_one_takes_again(app, client, clock):
    cooling = add_integration(client, "cooling", config={"seconds": 600})["id"]
    first = post(client, "cool-1")
    assert (first["queued"], first["skipped"]) == (1, 0)
    taken = line(client, first["event_id"], cooling)
    assert taken["status"] == "pending"
    assert taken["reason"].endswith(f"; cooldown: claimed until {utc(T0 + 600)} (600 s)")

    clock.at = T0 + 599.5
    second = post(client, "cool-2")
    assert (second["queued"], second["skipped"]) == (0, 1)
    skipped = line(client, second["event_id"], cooling)
    assert skipped["status"] == "skipped"
    assert skipped["reason"] == (
        f"cooldown: turning flag {flag_key()!r} off was last done for event {first['event_id']} at {utc(T0)}; "
        f"the next is allowed after {utc(T0 + 600)} (cooldown 600 s)")

    clock.at = T0 + 600
    third = post(client, "cool-3")
    assert third["queued"] == 1
    assert line(client, third["event_id"], cooling)["reason"].endswith(
        f"cooldown: claimed until {utc(T0 + 1200)} (600 s)")
    [held] = get_state(app).db.cooldowns.for_integration(cooling)
    assert (held.event_id, held.claimed_at, held.key) == (third["event_id"], T0 + 600, f"proj/checkout:flag/{flag_key()}:off")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_decisions_total{outcome="skipped",plugin="cooling"} 1.0' in metrics
    assert 'gateway_decisions_total{outcome="queued",plugin="cooling"} 2.0' in metrics


def test_a_short_cooldown_runs_out_on_the_real_clock(app, client):
    cooling = add_integration(client, "cooling", config={"seconds": 0.2})["id"]
    first = post(client, "short-1")
    held = get_state(app).db.cooldowns.for_integration(cooling)[0]
    second = post(client, "short-2")
    if get_state(app).db.events.clock() < held.claimed_until:  # (a slow machine may already be past it)
        assert second["queued"] == 0
    threading.Event().wait(max(0.0, held.claimed_until - get_state(app).db.events.clock()) + 0.05)
    assert post(client, "short-3")["queued"] == 1
    assert first["queued"] == 1


def test_two_integrations_do_not_share_a_cooldown(app, client, clock):
    one = add_integration(client, "cooling", name="one")["id"]
    two = add_integration(client, "cooling", name="two")["id"]
    first = post(client, "share-1")
    assert first["queued"] == 2
    clock.at += 10
    second = post(client, "share-2")
    assert (second["queued"], second["skipped"]) == (0, 2)
    for integration in (one, two):
        assert first["event_id"] in line(client, second["event_id"], integration)["reason"]


def test_a_repeated_event_claims_nothing(app, client, clock):
    cooling = add_integration(client, "cooling", config={"seconds": 60})["id"]
    first = post(client, "dup-1")
    clock.at = T0 + 3600  # the claim has run out: a claim now would succeed, were one made
    again = post(client, "dup-1", status=200)
    assert again["event_id"] == first["event_id"] and again["duplicate"]
    [held] = get_state(app).db.cooldowns.for_integration(cooling)
    assert (held.event_id, held.claimed_at) == (first["event_id"], T0)


def test_an_event_without_a_cooldown_runs_no_statement_on_cooldowns(app, client):
    add_integration(client, "recorder", config={"token": "t"})
    statements = []
    engine = get_state(app).db.engine
    listener = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
    sa_event.listen(engine, "before_cursor_execute", listener)
    try:
        assert post(client, "plain-1")["queued"] == 1
    finally:
        sa_event.remove(engine, "before_cursor_execute", listener)
    assert statements and not [s for s in statements if "cooldowns" in s]


def _event(source_id: str) -> Event:
    from gateway.testing import make_event

    return make_event(source_id=source_id)


def _decision(integration_id: str, key: str = "flag/x:off") -> NewDecision:
    return NewDecision(integration_id, "cooling", "pending", "taken", next_attempt_at=T0,
                       cooldown=Cooldown(key, 600, "acting on flag x"))


def test_of_two_events_with_one_key_in_one_batch_only_the_first_takes(app, client, monkeypatch):
    cooling = add_integration(client, "cooling")["id"]
    store = get_state(app).db.events
    jobs = []
    monkeypatch.setattr(store._batches, "run", lambda job, order="": jobs.append(job) or Recorded("x", True))
    store.record(_event("batch-a"), [_decision(cooling)])
    store.record(_event("batch-b"), [_decision(cooling)])
    store.record(_event("batch-c"), [_decision(cooling, key="flag/y:off")])
    monkeypatch.undo()
    with writing(store.engine) as connection:  # one transaction for the three, as a group commit writes them
        results = store._write_batch(connection, jobs)
    assert [(r.queued, r.skipped) for r in results] == [(1, 0), (0, 1), (1, 0)]
    assert results[1].cooled_down == (cooling,)
    decisions = get_state(app).db.deliveries.for_event(results[1].event_id)
    assert [d.status for d in decisions] == ["skipped"]
    assert f"last done for event {results[0].event_id}" in decisions[0].reason


@pytest.mark.parametrize("engines", [1, 2])
def test_concurrent_events_with_one_key_only_one_takes(app, client, engines):
    """Threads of one process (one engine, group commit) and of two 'nodes' (two engines on one
    database: separate connections and transactions) record events with one key at once."""
    cooling = add_integration(client, "cooling")["id"]
    state = get_state(app)
    stores = [state.db] + [Database(state.db.url) for _ in range(engines - 1)]
    threads_per_store = 4
    start = threading.Barrier(threads_per_store * len(stores))
    results: list[Recorded] = []
    errors: list[BaseException] = []

    def record(store: Database, n: int) -> None:
        try:
            start.wait(10)
            results.append(store.events.record(_event(f"race-{n}"), [_decision(cooling)]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(store, n * len(stores) + i))
               for n in range(threads_per_store) for i, store in enumerate(stores)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        for store in stores[1:]:
            store.dispose()
    assert not errors, errors
    assert sorted(r.queued for r in results) == [0] * (len(threads) - 1) + [1]
    with state.db.engine.connect() as connection:
        pending = connection.execute(select(func.count()).select_from(tables.deliveries)
                                     .where(tables.deliveries.c.integration_id == cooling)).scalar()
    assert pending == 1


def record_in_child(database_url: str, integration_id: str, name: str, keys: int, start, results) -> None:
    """Record one event per key (with a cooldown on that key), starting when every process passed
    ``start``; put (name, [(key, queued)]) on ``results``. Runs in a child process."""
    db = Database(database_url)
    db.ping()
    start.wait(60)
    out = [(f"k{n}", db.events.record(_event(f"{name}-{n}"), [_decision(integration_id, f"k{n}")]).queued)
           for n in range(keys)]
    db.dispose()
    results.put((name, out))


def test_processes_recording_events_with_the_same_keys_take_each_key_once(app, client):
    cooling = add_integration(client, "cooling")["id"]
    context = multiprocessing.get_context("spawn")
    results, start = context.Queue(), context.Barrier(3)
    processes = [context.Process(target=record_in_child, args=(get_state(app).settings.database_url, cooling,
                                                               f"p{n}", 40, start, results))
                 for n in range(3)]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(30)
    taken: dict[str, int] = {}
    for recorded in outcomes.values():
        for key, queued in recorded:
            taken[key] = taken.get(key, 0) + queued
    assert taken == {f"k{n}": 1 for n in range(40)}


def test_a_removed_integration_takes_its_cooldowns_with_it(app, client, clock):
    cooling = add_integration(client, "cooling")["id"]
    other = add_integration(client, "cooling", name="other")["id"]
    post(client, "gone-1")
    assert client.delete(f"/api/v1/integrations/{cooling}", headers=AUTH).status_code in (200, 204)
    with get_state(app).db.engine.connect() as connection:
        left = connection.execute(select(tables.cooldowns.c.integration_id)).scalars().all()
    assert left == [other]


def test_explain_shows_the_cooldown_stage_as_it_would_go_now(app, client, clock):
    cooling = add_integration(client, "cooling", config={"seconds": 60})["id"]

    def explain() -> dict:
        response = client.post(f"/api/v1/integrations/{cooling}/explain", headers=AUTH, data=fixture_bytes(PROD),
                               content_type="application/json")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    free = explain()
    assert free["outcome"] == "queued"
    assert [s["stage"] for s in free["stages"]] == ["policy", "plugin", "cooldown"]
    assert free["stages"][2]["took"] and "is free" in free["stages"][2]["reason"]
    assert get_state(app).db.cooldowns.for_integration(cooling) == []  # explaining claims nothing
    event_id = post(client, "explain-1")["event_id"]
    held = explain()
    assert held["outcome"] == "skipped" and not held["stages"][2]["took"]
    assert f"last done for event {event_id}" in held["reason"]


@pytest.mark.parametrize("bad, reason", [
    ("type", "returned Take with a cooldown of type dict, not gateway.Cooldown"),
    ("key", "raised ValueError: Cooldown.key must be a string of 1 to 400 characters"),
])
def test_a_wrong_cooldown_skips_the_event_with_a_reason(app, client, bad, reason):
    cooling = add_integration(client, "cooling", config={"bad": bad})["id"]
    recorded = post(client, f"bad-{bad}")
    assert recorded["queued"] == 0
    assert reason in line(client, recorded["event_id"], cooling)["reason"]


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), True, "60", 366 * 86400 + 1])
def test_cooldown_seconds_must_be_a_positive_bounded_number(seconds):
    with pytest.raises(ValueError, match="Cooldown.seconds"):
        Cooldown("key", seconds, "d")
    assert Take(cooldown=Cooldown("key", 0.5, "d")).cooldown.seconds == 0.5
    assert Take().cooldown is None


def test_a_shared_cooldown_is_held_across_integrations(app, client, clock):
    one = add_integration(client, "cooling", name="one", config={"shared": True})["id"]
    two = add_integration(client, "cooling", name="two", config={"shared": True})["id"]
    first = post(client, "shared-1")
    assert (first["queued"], first["skipped"]) == (1, 1)
    lines = {integration: line(client, first["event_id"], integration) for integration in (one, two)}
    [taken] = [i for i, found in lines.items() if found["status"] == "pending"]
    [held_off] = [i for i in (one, two) if i != taken]
    assert f"was last done for event {first['event_id']}" in lines[held_off]["reason"]
    for integration in (one, two):  # an explanation previews the claim another integration holds
        explained = client.post(f"/api/v1/integrations/{integration}/explain", headers=AUTH,
                                data=fixture_bytes(PROD), content_type="application/json").get_json()
        assert explained["outcome"] == "skipped" and f"last done for event {first['event_id']}" in explained["reason"]
    clock.at += 601
    assert post(client, "shared-2")["queued"] == 1


def test_a_delivery_that_fails_for_good_gives_its_cooldown_back(app, client, clock):
    from gateway.delivery import Deliverer
    from gateway.store.base import now

    cooling = add_integration(client, "cooling", config={"fail": True})["id"]
    first = post(client, "fail-1")
    assert first["queued"] == 1
    state = get_state(app)
    assert [h.event_id for h in state.db.cooldowns.for_integration(cooling)] == [first["event_id"]]
    delivery = state.db.deliveries.claim("w1", 30, now())
    report = Deliverer(state, "w1").attempt(delivery)
    assert report.status == "dead"
    assert state.db.cooldowns.for_integration(cooling) == []
    clock.at += 10
    assert post(client, "fail-2")["queued"] == 1

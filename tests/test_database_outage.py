"""The database unavailable, in-process: which errors count, the 503 answer on every route, one log
line when it goes and one when it is back, /healthz and /metrics, and the delivery workers pausing,
holding a finished attempt's record and resuming. (tests/test_database_outage_processes.py does
the same with real processes, a real PostgreSQL server stopped and a SQLite file made unwritable.)"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading

import pytest
from flask import Blueprint, jsonify
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from gateway import Delivered
from gateway.delivery import Deliverer, WorkerPool
from gateway.store.unavailable import unavailable
from gateway.host.state import get_state
from gateway.store.base import now
from gateway.store.tables import deliveries, events, integrations
from gateway.testing import wait_until

from .conftest import AUTH, add_integration, fixture_bytes
from .database_faults import SQLiteFault, sqlite_error
from .delivery_support import add, delivery_plugins, queue_event, scripted  # noqa: F401  (fixture)


@pytest.fixture
def gateway_test_database():
    """The faults here are SQLite's (tests/database_faults.py): these tests run on SQLite in the
    PostgreSQL pass too (this replaces the suite's fixture that gives each test a PostgreSQL schema).
    PostgreSQL stopped and made read-only under load is in test_database_outage_processes.py, with a
    server of its own."""
    return None


PROD = "launchdarkly/flag-turned-on-production.json"
WATCH_LOG = "gateway.runtime.outage.watch"


def count(state, table) -> int:
    with state.db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar()


def refusals(state, reason: str) -> float:
    return state.metrics.registry.get_sample_value("gateway_database_refusals_total", {"reason": reason}) or 0.0


def watch_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == WATCH_LOG]


@pytest.fixture
def faulty(make_app):
    """An app with the recorder integration, a fault switch on its database and a quick probe."""
    app = make_app()
    client = app.test_client()
    add_integration(client, "recorder", config={"token": "t"})
    state = get_state(app)
    state.db_watch.probe_interval = 0.05
    return app, client, state, SQLiteFault(state.db.engine)


# which errors mean "unavailable" -----------------------------------------------------------------

@pytest.mark.parametrize("mode, reason", [("read_only", "read_only"), ("disk_full", "disk_full"),
                                          ("unreachable", "unreachable")])
def test_sqlite_errors_by_name(mode, reason):
    problem = unavailable(OperationalError("INSERT", {}, sqlite_error(mode)))
    assert problem.reason == reason and problem.detail == str(sqlite_error(mode))


@pytest.mark.parametrize("message, reason", [
    ("attempt to write a readonly database", "read_only"), ("database or disk is full", "disk_full"),
    ("disk I/O error", "io_error"), ("database is locked", "locked"), ("unable to open database file", "unreachable"),
])
def test_sqlite_errors_by_message(message, reason):
    assert unavailable(OperationalError("x", {}, sqlite3.OperationalError(message))).reason == reason


def test_other_errors_are_not_outages():
    assert unavailable(IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))) is None
    assert unavailable(OperationalError("x", {}, sqlite3.OperationalError("no such table: nothing"))) is None
    assert unavailable(ValueError("nothing to do with a database")) is None


def test_postgresql_errors():
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[postgres]')")
    errors = psycopg.errors
    cases = [
        (errors.AdminShutdown("terminating connection due to administrator command"), "shutting_down"),
        (errors.CannotConnectNow("the database system is starting up"), "starting_up"),
        (errors.CannotConnectNow("the database system is shutting down"), "shutting_down"),
        (errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"), "read_only"),
        (errors.DiskFull("could not extend file: No space left on device"), "disk_full"),
        (errors.TooManyConnections("sorry, too many clients already"), "overloaded"),
        (psycopg.OperationalError('connection failed: connection to server at "127.0.0.1", port 1 failed: '
                                  'Connection refused'), "unreachable"),
        (psycopg.OperationalError("connection failed: FATAL:  the database system is starting up"), "starting_up"),
    ]
    for error, reason in cases:
        assert unavailable(OperationalError("SELECT 1", {}, error)).reason == reason, error
    assert unavailable(IntegrityError("INSERT", {}, errors.UniqueViolation("duplicate key"))) is None
    assert unavailable(OperationalError("SELECT", {}, errors.DeadlockDetected("deadlock detected"))) is None


# the answer --------------------------------------------------------------------------------------

def test_webhook_refused_with_503_and_nothing_stored(faulty, caplog):
    app, client, state, fault = faulty
    caplog.set_level(logging.INFO)
    stored = count(state, events), count(state, deliveries)
    fault.set("read_only")
    for _ in range(3):
        response = client.post("/webhooks/launchdarkly", data=fixture_bytes(PROD), content_type="application/json")
        assert response.status_code == 503 and response.is_json
        assert response.headers["Retry-After"] == "5"
        body = response.get_json()
        assert body["reason"] == "read_only" and body["retry_after"] == 5
        assert body["error"].startswith("database unavailable: it accepts no writes")
    assert fault.failures >= 3
    fault.clear()
    assert (count(state, events), count(state, deliveries)) == stored  # nothing half-stored
    assert refusals(state, "read_only") == 3
    wait_until(lambda: state.db_watch.current() is None, message="the outage to close")
    lines = watch_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unavailable: it accepts no writes") and "attempt to write a readonly" in lines[0]
    assert lines[1].startswith("database available again after") and "3 request(s) were refused" in lines[1]
    assert not [r for r in caplog.records if r.exc_info]  # no traceback anywhere
    # and the same webhook goes through now
    response = client.post("/webhooks/launchdarkly", data=fixture_bytes(PROD), content_type="application/json")
    assert response.status_code == 202 and response.get_json()["queued"] == 1


def test_admin_api_refused_with_503(faulty):
    app, client, state, fault = faulty
    fault.set("unreachable")
    for method, path, body in [("GET", "/api/v1/integrations", None), ("GET", "/api/v1/events", None),
                               ("POST", "/api/v1/integrations", {"plugin": "recorder", "name": "r2",
                                                                 "config": {"token": "x"}})]:
        response = client.open(path, method=method, json=body, headers=AUTH)
        assert response.status_code == 503, (path, response.get_data(as_text=True))
        assert response.get_json()["reason"] == "unreachable" and response.headers["Retry-After"] == "5"
    documented = client.get("/api/v1/openapi.json", headers=AUTH).get_json()  # needs no database
    answer = documented["paths"]["/api/v1/events"]["get"]["responses"]["503"]
    assert "Retry-After" in answer["headers"]
    schema = documented["components"]["schemas"]["DatabaseUnavailable"]
    body = response.get_json()
    assert set(body) == set(schema["properties"]) and body["reason"] in schema["properties"]["reason"]["enum"]
    fault.clear()
    assert count(state, integrations) == 1
    assert refusals(state, "unreachable") == 3


def test_a_blueprint_added_later_answers_503_too(make_app):
    app = make_app()
    extra = Blueprint("later", __name__)

    @extra.get("/later")
    def later():
        return jsonify(integrations=len(get_state().db.integrations.list()))

    app.register_blueprint(extra)
    fault = SQLiteFault(get_state(app).db.engine)
    client = app.test_client()
    assert client.get("/later").get_json() == {"integrations": 0}
    fault.set("unreachable")
    response = client.get("/later")
    assert response.status_code == 503 and response.get_json()["reason"] == "unreachable"


def test_retry_after_is_a_setting(make_app):
    app = make_app({"GATEWAY_RETRY_AFTER_SECONDS": "12"})
    SQLiteFault(get_state(app).db.engine).set("disk_full")
    response = app.test_client().post("/webhooks/launchdarkly", data=fixture_bytes(PROD),
                                      content_type="application/json")
    assert response.status_code == 503 and response.headers["Retry-After"] == "12"
    assert response.get_json()["retry_after"] == 12


def test_other_database_errors_stay_internal_errors(make_app):
    app = make_app({"TESTING": False})
    extra = Blueprint("broken", __name__)

    @extra.get("/broken")
    def broken():
        with get_state().db.engine.connect() as connection:
            connection.exec_driver_sql("SELECT * FROM no_such_table")

    app.register_blueprint(extra)
    response = app.test_client().get("/broken")
    assert response.status_code == 500
    assert get_state(app).db_watch.current() is None


# health and metrics ------------------------------------------------------------------------------

def test_healthz_not_ready_while_writes_fail_and_ready_again(faulty):
    app, client, state, fault = faulty
    state.db_watch.probe_interval = 3600  # only /healthz probes in this test
    assert client.get("/healthz").status_code == 200
    fault.set("disk_full")
    assert client.post("/webhooks/launchdarkly", data=fixture_bytes(PROD),
                       content_type="application/json").status_code == 503
    response = client.get("/healthz")  # reads work, but the probe writes
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert body["status"] == "unavailable" and body["database"] == "unavailable"
    outage = body["database_outage"]
    assert outage["reason"] == "disk_full" and outage["refused"] == 1 and outage["since"].endswith("Z")
    assert "disk" not in str(body["database_outage"].get("detail", ""))  # no driver message here
    fault.clear()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["database"] == "ok"
    assert "database_outage" not in response.get_json()


def test_metrics_during_an_outage(faulty, caplog):
    app, client, state, fault = faulty
    state.db_watch.probe_interval = 3600
    caplog.set_level(logging.DEBUG)
    fault.set("unreachable")
    client.get("/api/v1/events", headers=AUTH)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_database_refusals_total{reason="unreachable"} 1.0' in text
    assert "gateway_database_available 0.0" in text and "gateway_database_outages_total 1.0" in text
    assert "gateway_delivery_queue_depth" not in text  # read from the database: left out, not an error
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name != WATCH_LOG]
    fault.clear()
    assert client.get("/healthz").status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    assert "gateway_database_available 1.0" in text and "gateway_delivery_queue_depth 0.0" in text


# the delivery workers ----------------------------------------------------------------------------

@pytest.fixture
def worker_app(make_app, scripted):
    app = make_app({"GATEWAY_RETRY_SCHEDULE": "0,0.2", "GATEWAY_LEASE_SECONDS": "30"},
                   plugins=delivery_plugins(scripted))
    state = get_state(app)
    state.db_watch.probe_interval = 0.05
    return app, state, SQLiteFault(state.db.engine)


def test_workers_pause_and_resume_by_themselves(worker_app, scripted, caplog):
    app, state, fault = worker_app
    caplog.set_level(logging.INFO)
    row = add(state)
    pool = WorkerPool(state, 2, prefix="pausing", poll_seconds=0.05)
    pool.start()
    try:
        fault.set("unreachable")
        wait_until(lambda: pool.health()["paused"] == 2, message="both workers paused")
        failures = fault.failures
        pool.state.notify_new_work()
        # paused workers leave the database alone: only the probe asks it, once per interval
        wait_until(lambda: fault.failures >= failures + 3, message="probes")
        assert len(scripted.calls) == 0
        fault.clear()
        wait_until(lambda: pool.health()["paused"] == 0, message="workers resumed")
        _, delivery_id = queue_event(state, row.id, "after")
        wait_until(lambda: state.db.deliveries.get(delivery_id).status == "delivered", message="delivery")
    finally:
        pool.stop(grace=5)
    assert not [r for r in caplog.records if r.exc_info]
    assert len(watch_lines(caplog)) == 2


def test_an_attempt_finished_during_an_outage_is_recorded_when_it_is_back(worker_app, scripted, caplog):
    app, state, fault = worker_app
    caplog.set_level(logging.INFO)
    row = add(state)
    in_plugin, finish = threading.Event(), threading.Event()

    def slow(call):
        in_plugin.set()
        finish.wait(10)
        return Delivered("done while the database was away")

    scripted.script = [slow]
    _, delivery_id = queue_event(state, row.id, "e")
    pool = WorkerPool(state, 1, prefix="holder", poll_seconds=0.05)
    pool.start()
    try:
        assert in_plugin.wait(10)
        fault.set("unreachable")
        finish.set()
        wait_until(lambda: any("is recorded when the database is back" in r.getMessage() for r in caplog.records),
                   message="the record held")
        fault.clear()
        wait_until(lambda: state.db.deliveries.get(delivery_id).status == "delivered", message="the record written")
    finally:
        finish.set()
        pool.stop(grace=5)
    delivery = state.db.deliveries.get(delivery_id)
    assert [(a.number, a.outcome) for a in delivery.attempt_log] == [(1, "delivered")]
    assert delivery.summary == "done while the database was away"
    assert len(scripted.calls) == 1  # recorded, not attempted again
    assert not [r for r in caplog.records if r.exc_info]


def test_a_record_committed_as_the_connection_failed_is_not_written_twice(worker_app, monkeypatch):
    """The commit went through but its answer was lost: the held record is found, not written again."""
    app, state, fault = worker_app
    row = add(state)
    _, delivery_id = queue_event(state, row.id, "e")
    claimed = state.db.deliveries.claim("w", 30, now())
    real_finish = state.db.deliveries.finish
    calls = []

    def finish_and_lose_the_answer(*args, **kwargs):
        calls.append(args)
        real_finish(*args, **kwargs)  # committed...
        fault.set("unreachable")  # ...and then the connection fails, as the answer was on its way
        threading.Timer(0.2, fault.clear).start()
        state.db.ping()

    monkeypatch.setattr(state.db.deliveries, "finish", finish_and_lose_the_answer)
    report = Deliverer(state, "w", stopping=threading.Event()).attempt(claimed)
    delivery = state.db.deliveries.get(delivery_id)
    assert report.status == "delivered" and report.applied and delivery.status == "delivered"
    assert [a.number for a in delivery.attempt_log] == [1]
    assert len(calls) == 1


def test_stopping_during_an_outage_leaves_the_delivery_to_its_lease(worker_app, scripted, caplog):
    app, state, fault = worker_app
    caplog.set_level(logging.INFO)
    row = add(state)
    in_plugin, finish = threading.Event(), threading.Event()
    scripted.script = [lambda call: (in_plugin.set(), finish.wait(10), Delivered("late"))[2]]
    _, delivery_id = queue_event(state, row.id, "e")
    pool = WorkerPool(state, 1, prefix="stopper", poll_seconds=0.05)
    pool.start()
    try:
        assert in_plugin.wait(10)
        fault.set("unreachable")
        state.db_watch.probe_interval = 3600
        finish.set()
        wait_until(lambda: any("is recorded when the database is back" in r.getMessage() for r in caplog.records),
                   message="the record held")
    finally:
        pool.stop(grace=5)
    assert not pool.slots[0].thread.is_alive()
    assert any("is not recorded; the lease will run out" in r.getMessage() for r in caplog.records)
    fault.clear()
    delivery = state.db.deliveries.get(delivery_id)
    assert delivery.status == "in_flight" and delivery.lease_owner == "stopper:1"  # taken again once it runs out


def test_the_rest_of_a_batch_goes_back_to_the_queue_after_an_outage(worker_app, scripted):
    """Claimed together, attempted one by one: after an outage the ones not yet attempted are put
    back (their leases may have run out meanwhile), not sent."""
    app, state, fault = worker_app
    row = add(state)
    ids = [queue_event(state, row.id, f"e{n}")[1] for n in range(3)]

    def outage_during_the_attempt(call):
        fault.set("unreachable")
        threading.Timer(0.2, fault.clear).start()
        with pytest.raises(OperationalError):
            state.db.ping()
        return Delivered("sent as the database went away")

    scripted.script = [outage_during_the_attempt]
    pool = WorkerPool(state, 1, prefix="batch", poll_seconds=0.05)
    batch = state.db.deliveries.claim_many("batch:1", 30, now(), 3)
    assert len(batch) == 3
    slot = pool.slots[0]
    pool._attempt_all(slot, Deliverer(state, slot.worker_id, stopping=threading.Event()), batch)
    assert len(scripted.calls) == 1
    rows = {i: state.db.deliveries.get(i) for i in ids}
    sent = batch[0].id
    assert rows[sent].status == "delivered"
    assert [(r.status, r.attempts, r.lease_owner) for i, r in rows.items() if i != sent] == [("pending", 0, None)] * 2


@pytest.mark.end_to_end
def test_the_command_line_says_it_in_one_line(tmp_path):
    (tmp_path / "not-a-database").mkdir()  # SQLite cannot open a folder: as a file it may not open
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "events", "list"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "GATEWAY_INSTANCE_PATH": str(tmp_path / "instance"),
             "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'not-a-database'}"})
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == ("Error: database unavailable: it cannot be reached (unable to open database "
                                     "file); nothing was changed, try again when it is back")


@pytest.mark.end_to_end
def test_a_postgresql_server_that_never_answers_fails_the_connection_in_seconds():
    """A server that takes the connection but never answers (a failover that moved its address):
    the connection fails after the default connect timeout, as unreachable, instead of hanging."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[postgres]')")
    import socket

    from gateway.store.database import POSTGRES_CONNECT_TIMEOUT, make_engine

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever answers
        engine = make_engine(f"postgresql+psycopg://gateway@127.0.0.1:{silent.getsockname()[1]}/gateway")
        outcome = {}

        def connect():
            try:
                engine.connect()
            except Exception as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=connect, daemon=True)
        thread.start()
        thread.join(POSTGRES_CONNECT_TIMEOUT * 4)  # only so that a regression fails instead of hanging
        assert not thread.is_alive(), "the connection attempt hangs"
        engine.dispose()
    assert unavailable(outcome["error"]).reason == "unreachable"


def test_a_node_says_an_outage_once_however_many_of_its_processes_meet_it():
    from gateway.runtime.outage.node_log import NodeOutages

    node = NodeOutages()
    node.share()  # as the pre-fork server does before forking its processes
    assert node.opened() is True  # the first process to meet it says so
    assert node.opened() is False  # the second does not
    assert node.closed(3) is None  # the first back is not the last
    ended = node.closed(4)
    assert ended is not None and ended.refused == 7 and ended.processes == 2 and ended.seconds >= 0
    # the next outage starts its counts afresh
    assert node.opened() is True
    assert node.closed(1).refused == 1

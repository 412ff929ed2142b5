"""Dead row versions piling up in the queue's tables are named in /healthz (PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gateway.host.state import get_state
from gateway.store import vacuum_watch
from gateway.store.vacuum_watch import VacuumWatch, vacuum_warnings

from .delivery_support import add, delivery_app, dclient, dstate, queue_event, scripted  # noqa: F401


def churn(state, rounds: int) -> None:
    """Leave dead row versions in ``deliveries``: update its rows ``rounds`` times, then flush the
    statistics so that this session's counts are seen at once."""
    with state.db.engine.begin() as connection:
        for _ in range(rounds):
            connection.execute(text("UPDATE deliveries SET updated_at = updated_at + 1"))
    with state.db.engine.connect() as connection:
        connection.execute(text("SELECT pg_stat_force_next_flush()"))


@pytest.mark.postgresql
def test_a_table_with_more_dead_versions_than_live_rows_is_named(dstate):
    row = add(dstate)
    for n in range(3):
        queue_event(dstate, row.id, f"vacuum-{n}")
    churn(dstate, 4)  # 12 dead versions beside 3 live rows
    with dstate.db.engine.connect() as connection:
        autovacuum = connection.execute(text("SELECT current_setting('autovacuum')")).scalar()
    [warning] = vacuum_warnings(dstate.db.engine, dead_rows=10)
    assert warning.startswith("the deliveries table holds 12 dead row versions beside 3 live rows (")
    assert ("autovacuum is off" in warning) == (autovacuum == "off")
    assert warning.endswith("turn autovacuum on, or run VACUUM ANALYZE deliveries")
    assert vacuum_warnings(dstate.db.engine, dead_rows=13) == []  # fewer than the threshold


@pytest.mark.postgresql
def test_healthz_shows_the_warning_and_reads_the_statistics_once_a_minute(dstate, dclient, monkeypatch):
    row = add(dstate)
    queue_event(dstate, row.id, "vacuum-health")
    churn(dstate, 3)
    clock, reads = [0.0], []
    monkeypatch.setattr(vacuum_watch, "vacuum_warnings",
                        lambda engine: reads.append(1) or vacuum_warnings(engine, dead_rows=3))
    get_state(dclient.application).vacuum_watch = VacuumWatch(dstate.db.engine, clock=lambda: clock[0])
    health = dclient.get("/healthz").get_json()
    assert health["status"] == "ok"
    assert [w for w in health["warnings"] if w.startswith("the deliveries table holds 3 dead row versions")]
    dclient.get("/healthz")
    assert len(reads) == 1
    clock[0] += vacuum_watch.READ_EVERY_SECONDS
    dclient.get("/healthz")
    assert len(reads) == 2


def test_sqlite_has_nothing_to_watch(tmp_path):
    from gateway.store import Database

    db = Database(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        assert vacuum_warnings(db.engine, dead_rows=0) == []
    finally:
        db.dispose()

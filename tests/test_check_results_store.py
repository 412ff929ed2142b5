"""Stored check results when two runs of one subject's checks finish at once (the background checks
and a status request, in two processes): both store, neither fails."""

from __future__ import annotations

import threading

import pytest

from gateway.store import Database
from gateway.store.tables import metadata


@pytest.fixture
def db(fresh_database_url):
    database = Database(fresh_database_url())
    metadata.create_all(database.engine)
    yield database
    database.dispose()


def save(db, state: str, at: float):
    return db.check_results.save("integration:x", state=state, checks=[{"name": "a", "state": state}],
                                 checked_at=at, subject_updated_at=1.0)


def test_runs_finishing_together_all_store(db):
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def run(n: int) -> None:
        start.wait()
        try:
            save(db, "ok" if n % 2 else "error", float(n))
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.check_results.get("integration:x").state in ("ok", "error")

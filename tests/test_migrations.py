"""Schema upgrades with Alembic: a fresh database, a database made by release 0.1, processes starting
together, a database newer than the code, and ``event-gateway db``."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import select, text

from gateway import create_app
from gateway.command import main
from gateway.host.state import get_state
from gateway.store import Database, migrations
from gateway.store.tables import meta, metadata

from .conftest import ADMIN_TOKEN, AUTH, DEFAULT_PLUGINS

V1_FILE = Path(__file__).parent / "data" / "gateway-0.1.db"  # made by release 0.1 (see tests/data/README.md)
V1_SECRET_KEY = "v1 fixture secret key"


def test_a_fresh_database_gets_the_newest_revision_and_matches_the_tables(fresh_database_url):
    db = Database(fresh_database_url())
    try:
        assert db.revision() is None
        assert db.upgrade() == migrations.head() == db.revision()
        with db.engine.connect() as connection:  # what the revisions built is what tables.py says
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        assert db.upgrade() == migrations.head()  # again: nothing to do
    finally:
        db.dispose()


def test_a_database_made_by_release_0_1_is_upgraded_in_place(tmp_path, monkeypatch):
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)  # this one is a SQLite file
    instance = tmp_path / "instance"
    instance.mkdir()
    shutil.copy(V1_FILE, instance / "gateway.db")
    before = Database(f"sqlite:///{instance / 'gateway.db'}")
    assert before.revision() == migrations.V1_REVISION
    before.dispose()

    app = create_app({"GATEWAY_INSTANCE_PATH": str(instance), "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
                      "GATEWAY_SECRET_KEY": V1_SECRET_KEY}, plugins=DEFAULT_PLUGINS, entry_points=False)
    state = get_state(app)
    try:
        assert state.db.revision() == migrations.head()
        with state.db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
            assert connection.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first() is None
        client = app.test_client()
        events = client.get("/api/v1/events", headers=AUTH).get_json()["items"]
        assert sorted(e["title"] for e in events) == ["v1 event 0", "v1 event 1", "v1 event 2"]
        [integration] = state.db.integrations.list()
        assert state.box.open(integration.secrets) == {"token": "v1-secret-token-value"}
        assert {d.status for e in events for d in state.db.deliveries.for_event(e["id"])} == {"pending"}
        answer = client.post("/webhooks/launchdarkly", content_type="application/json", data=(
            b'{"_id": "after-upgrade", "accesses": [{"action": "updateOn", "resource": "proj/p:env/e:flag/f"}]}'))
        assert answer.status_code == 202 and answer.get_json()["queued"] == 1
        again = client.post("/webhooks/launchdarkly", content_type="application/json",
                            data=(
            b'{"_id": "v1-event-1", "accesses": [{"action": "updateOn", "resource": "proj/p:env/e:flag/f"}]}'))
        assert again.status_code == 200  # still a duplicate of the event 0.1 stored
    finally:
        state.db.dispose()


def _start(url: str, barrier, results) -> None:
    """A process that starts on ``url`` when all are ready (spawned by the next test)."""
    try:
        db = Database(url)
        barrier.wait(30)
        results.put(("ok", db.upgrade()))
        db.dispose()
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def test_processes_starting_together_on_a_fresh_database_all_start(fresh_database_url):
    url = fresh_database_url()
    context = multiprocessing.get_context("spawn")
    count = 6
    barrier, results = context.Barrier(count), context.Queue()
    processes = [context.Process(target=_start, args=(url, barrier, results)) for _ in range(count)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
    assert outcomes == [("ok", migrations.head())] * count


def test_a_database_newer_than_the_code_is_refused(fresh_database_url):
    db = Database(fresh_database_url())
    try:
        db.upgrade()
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
        with pytest.raises(migrations.SchemaTooNew, match="f00dfeed.*upgrade the gateway"):
            db.upgrade()
    finally:
        db.dispose()


def test_db_commands(fresh_database_url, monkeypatch, tmp_path):
    url = fresh_database_url()
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("GATEWAY_INSTANCE_PATH", str(tmp_path / "cli-instance"))
    runner = CliRunner()

    current = runner.invoke(main, ["db", "current"])
    assert current.exit_code == 0, current.output
    assert '"current": null' in current.output and '"up_to_date": false' in current.output
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert '"upgraded": true' in upgraded.output
    assert f'"current": "{migrations.head()}"' in runner.invoke(main, ["db", "current"]).output
    assert '"upgraded": false' in runner.invoke(main, ["db", "upgrade"]).output
    history = runner.invoke(main, ["db", "history"])
    assert history.exit_code == 0 and '"revision": "0001"' in history.output
    assert not (tmp_path / "cli-instance").exists()  # the db commands do not start the gateway


def test_db_command_with_a_bad_url_says_so(monkeypatch):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "nosuchdb://x/y")
    result = CliRunner().invoke(main, ["db", "current"])
    assert result.exit_code == 1 and "cannot open the database (GATEWAY_DATABASE_URL)" in result.output


def test_two_heads_are_refused_with_a_message(monkeypatch):
    class TwoHeads:
        def get_heads(self):
            return ("0003", "0003b")

    monkeypatch.setattr(migrations, "scripts", lambda: TwoHeads())
    with pytest.raises(RuntimeError, match="2 heads \\(0003, 0003b\\).*must follow the newest one"):
        migrations.head()

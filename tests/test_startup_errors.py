"""A start that cannot work says why in one line, and a start before the database is up waits for it.

- A database URL that cannot be used (``postgres://`` is read as PostgreSQL; a misspelt driver, no
  scheme, another database) is refused naming ``GATEWAY_DATABASE_URL`` and the accepted forms.
- A wrong setting (no such database, no such role) is told apart from a server that is down.
- ``serve`` and ``worker`` wait ``GATEWAY_DATABASE_WAIT_SECONDS`` for a database that is not up yet;
  other commands answer at once.
- Only ``serve`` warns about unsigned webhooks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy.exc import OperationalError

from gateway.runtime.outage.startup import DatabaseNotReady, DatabaseSettingsWrong, when_database_ready
from gateway.settings import DATABASE_URL_FORMS, SettingError, parse_database_url

from .test_database_outage_processes import require
from .throwaway_postgres import ThrowawayPostgres, availability


def run_cli(tmp_path, *args, env=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "GATEWAY_INSTANCE_PATH": str(tmp_path / "instance"), **(env or {})})


# --- the URL -------------------------------------------------------------------------------------

@pytest.mark.parametrize("given, read", [
    ("postgres://gw:pw@db.internal:5432/gateway", "postgresql+psycopg://gw:pw@db.internal:5432/gateway"),
    ("postgresql://gw@db.internal/gateway", "postgresql+psycopg://gw@db.internal/gateway"),
    ("POSTGRES://gw@db/gateway", "postgresql+psycopg://gw@db/gateway"),
    ("postgresql+psycopg://gw@db/gateway", "postgresql+psycopg://gw@db/gateway"),
    ("sqlite:////var/lib/gateway/gateway.db", "sqlite:////var/lib/gateway/gateway.db"),
])
def test_accepted_database_urls(given, read):
    assert parse_database_url(given) == read


@pytest.mark.parametrize("given, says", [
    ("postgresql+pyscopg://gw:hunter2@db/gateway", "no database driver 'postgresql+pyscopg' (a misspelling?)"),
    ("db.internal/gateway", "is not a database URL"),
    ("mysql://gw@db/gateway", "the gateway runs on SQLite or PostgreSQL, not 'mysql'"),
    ("postgresql+psycopg2://gw@db/gateway", "the driver 'psycopg2' is not installed"),
])
def test_unusable_database_urls_are_named_with_the_accepted_forms(given, says):
    with pytest.raises(SettingError) as raised:
        parse_database_url(given)
    message = str(raised.value)
    assert message.startswith("GATEWAY_DATABASE_URL=") and says in message
    assert message.endswith(DATABASE_URL_FORMS)
    assert "hunter2" not in message  # a password in the URL is not repeated


@pytest.mark.end_to_end
@pytest.mark.parametrize("url", ["postgresql+pyscopg://gw@127.0.0.1/gateway", "127.0.0.1/gateway"])
def test_the_command_line_refuses_an_unusable_url_in_one_line(tmp_path, url):
    result = run_cli(tmp_path, "events", "list", env={"GATEWAY_DATABASE_URL": url})
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"event-gateway: not starting: GATEWAY_DATABASE_URL={url!r}")
    assert not (tmp_path / "instance").exists()  # nothing was created


@pytest.mark.end_to_end
def test_a_setting_that_is_not_a_number_is_one_line_too(tmp_path):
    result = run_cli(tmp_path, "events", "list", env={"GATEWAY_WORKERS": "four"})
    assert result.returncode == 1
    assert result.stderr.strip() == "event-gateway: not starting: GATEWAY_WORKERS='four' is not a number"


# --- waiting at start (unit) ---------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def unreachable() -> OperationalError:
    import sqlite3

    return OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open database file"))


def test_an_unavailable_database_is_tried_again_until_it_answers(caplog):
    clock, calls = Clock(), []

    def attempt():
        calls.append(clock.now)
        if len(calls) < 4:
            raise unreachable()
        return "0007"

    with caplog.at_level("INFO", logger="gateway.runtime.outage.startup"):
        assert when_database_ready(attempt, 60, sleep=clock.sleep, clock=clock) == "0007"
    assert len(calls) == 4 and clock.sleeps == [0.25, 0.5, 1.0]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("waiting for the database: it cannot be reached (unable to open database file); "
                                  "60 s left of GATEWAY_DATABASE_WAIT_SECONDS=60")
    assert messages[-1] == "the database is ready; starting" and len(messages) == 2


def test_the_wait_is_bounded_and_says_how_long_it_waited():
    clock = Clock()

    def attempt():
        raise unreachable()

    with pytest.raises(DatabaseNotReady) as raised:
        when_database_ready(attempt, 12, sleep=clock.sleep, clock=clock)
    assert str(raised.value) == ("the database is unavailable: it cannot be reached (unable to open database file) "
                                 "after waiting 12 s (GATEWAY_DATABASE_WAIT_SECONDS)")
    assert sum(clock.sleeps) == pytest.approx(12) and max(clock.sleeps) <= 5


def test_no_wait_fails_at_once_with_the_error_itself():
    clock = Clock()
    with pytest.raises(OperationalError):
        when_database_ready(lambda: (_ for _ in ()).throw(unreachable()), 0, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == []


def test_an_error_that_is_not_an_outage_is_not_waited_for():
    clock = Clock()
    with pytest.raises(ZeroDivisionError):
        when_database_ready(lambda: 1 / 0, 60, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == []


# --- PostgreSQL: wrong settings, and a server that comes up late ---------------------------------

@pytest.fixture(scope="module")
def cluster():
    require(availability(), "the PostgreSQL start-up tests")
    server = ThrowawayPostgres().init()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def running(cluster):
    cluster.start()
    yield cluster
    cluster.stop("fast")


@pytest.mark.end_to_end
def test_no_such_database_is_a_setting_to_fix_not_an_outage(running, tmp_path):
    url = f"postgresql://postgres@127.0.0.1:{running.port}/no_such_gateway_db"
    result = run_cli(tmp_path, "events", "list", env={"GATEWAY_DATABASE_URL": url})
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip()
    assert line.startswith("event-gateway: not starting: the database named in GATEWAY_DATABASE_URL does not "
                           "exist on that server: create it (createdb -O ROLE NAME) or correct the URL")
    assert 'database "no_such_gateway_db" does not exist' in line and "try again" not in line


@pytest.mark.end_to_end
def test_no_such_role_is_a_setting_to_fix(running, tmp_path):
    url = f"postgresql://nobody_here@127.0.0.1:{running.port}/postgres"
    result = run_cli(tmp_path, "worker", env={"GATEWAY_DATABASE_URL": url, "GATEWAY_DATABASE_WAIT_SECONDS": "30"})
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("event-gateway: not starting: the user (role) named in GATEWAY_DATABASE_URL does not "
                           "exist on that server")
    assert "waiting for the database" not in result.stderr  # a wrong setting is not waited for


@pytest.mark.end_to_end
def test_worker_started_before_the_database_waits_for_it(cluster, tmp_path):
    url = f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "worker", "--threads", "1"], stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "GATEWAY_INSTANCE_PATH": str(tmp_path / "instance"), "GATEWAY_DATABASE_URL": url,
                 "GATEWAY_DATABASE_WAIT_SECONDS": "90"})
    try:
        deadline = time.monotonic() + 60
        while "waiting for the database" not in log_path.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.2)
        assert process.poll() is None, log_path.read_text()  # still waiting, not gone
        cluster.start()
        deadline = time.monotonic() + 60
        while "running 1 delivery worker" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        text = log_path.read_text()
        assert "waiting for the database: it cannot be reached" in text
        assert "the database is ready; starting" in text and "running 1 delivery worker" in text
    finally:
        process.terminate()
        process.wait(timeout=60)
        if cluster_running(cluster):
            cluster.stop("fast")


def cluster_running(cluster) -> bool:
    return os.path.exists(os.path.join(cluster.data_dir, "postmaster.pid"))


@pytest.mark.end_to_end
def test_other_commands_do_not_wait(cluster, tmp_path):
    url = f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"  # the cluster is stopped
    result = run_cli(tmp_path, "events", "list", env={"GATEWAY_DATABASE_URL": url,
                                                      "GATEWAY_DATABASE_WAIT_SECONDS": "600"}, timeout=30)
    assert result.returncode == 1
    assert "waiting for the database" not in result.stderr
    assert result.stderr.strip().startswith("Error: database unavailable: it cannot be reached")


# --- warnings ------------------------------------------------------------------------------------

@pytest.mark.end_to_end
def test_read_only_commands_do_not_warn_about_unsigned_webhooks(tmp_path):
    result = run_cli(tmp_path, "events", "list", env={"GATEWAY_LAUNCHDARKLY_SECRET": ""})
    assert result.returncode == 0, result.stderr
    assert "accepted unsigned" not in result.stderr
    result = run_cli(tmp_path, "plugins", env={"GATEWAY_LAUNCHDARKLY_SECRET": ""})
    assert result.returncode == 0 and "accepted unsigned" not in result.stderr


# --- settings every process shares ---------------------------------------------------------------

def test_a_node_with_another_signing_secret_says_so_in_healthz_and_the_log(tmp_path, caplog):
    from gateway import create_app

    shared = {"GATEWAY_INSTANCE_PATH": str(tmp_path / "instance"), "GATEWAY_LAUNCHDARKLY_SECRET": "first-secret-value",
              "GATEWAY_WORKERS": "0"}
    first = create_app(shared, role="serve", entry_points=False)
    assert not [w for w in first.test_client().get("/healthz").get_json()["warnings"] if "differs" in w]
    with caplog.at_level("WARNING", logger="gateway.extension"):
        second = create_app({**shared, "GATEWAY_LAUNCHDARKLY_SECRET": "another-secret-value"}, role="serve",
                            entry_points=False)
    warnings = [w for w in second.test_client().get("/healthz").get_json()["warnings"] if "differs" in w]
    assert len(warnings) == 1
    assert warnings[0].startswith("GATEWAY_LAUNCHDARKLY_SECRET differs from the one the last process to start "
                                  "before this serve used (a serve, at ")
    assert warnings[0].endswith("every process of one gateway must share it — a node with another signing secret "
                                "answers every signed webhook 401")
    assert "secret-value" not in warnings[0]  # neither value is shown
    assert any(r.getMessage() == warnings[0] for r in caplog.records)
    # the same settings again: nothing to say
    third = create_app({**shared, "GATEWAY_LAUNCHDARKLY_SECRET": "another-secret-value"}, role="serve",
                       entry_points=False)
    assert not [w for w in third.test_client().get("/healthz").get_json()["warnings"] if "differs" in w]


@pytest.mark.end_to_end
def test_a_worker_without_private_targets_says_what_it_breaks(tmp_path):
    instance = str(tmp_path / "instance")
    from gateway import create_app

    create_app({"GATEWAY_INSTANCE_PATH": instance, "GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_WORKERS": "0"},
               role="serve", entry_points=False)
    # The worker runs until stopped: start it, read its first lines, stop it.
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "worker", "--threads", "1"], stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "GATEWAY_INSTANCE_PATH": instance, "GATEWAY_ALLOW_PRIVATE_TARGETS": "0"})
    try:
        deadline = time.monotonic() + 60
        while "delivery worker" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=60)
    text = log_path.read_text()
    assert ("GATEWAY_ALLOW_PRIVATE_TARGETS differs from the one the last process to start before this worker used "
            "(a serve, at ") in text
    assert "(this worker: '0'; the other: '1'): every process of one gateway must share it — a process without it " \
           "fails the deliveries to private or http:// targets that another accepted" in text

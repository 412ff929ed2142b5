"""Every test on a fresh database: SQLite in the test's instance folder (the default), or, when
``GATEWAY_TEST_DATABASE_URL`` names a PostgreSQL database, a schema of its own in that database,
created before the test and dropped after it. ``GATEWAY_DATABASE_URL`` is set for the test, so apps,
CLI commands and gateway subprocesses started by it all use that schema.

``make test`` runs the suite once on SQLite, then again on PostgreSQL (``tests/run_on_postgres.py``).
Tests marked ``postgresql`` are about PostgreSQL alone: the SQLite run leaves them out (deselected).
"""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import HealthCheck, settings

# HYPOTHESIS_PROFILE=mutation (set by tools/mutation.py): the same examples every run, no time
# limit per example and no health checks (which fail a test whose examples are slow to generate),
# so whether a test fails depends on the code, not on the machine's load.
settings.register_profile("mutation", derandomize=True, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TEST_DATABASE_URL = os.environ.get("GATEWAY_TEST_DATABASE_URL") or None


def on_postgres() -> bool:
    """Whether this run puts the tests' databases on PostgreSQL."""
    return TEST_DATABASE_URL is not None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: about PostgreSQL alone; left out (deselected, not skipped) of the run on "
                   "SQLite, run by the run on PostgreSQL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if on_postgres():
        return
    left_out = [item for item in items if item.get_closest_marker("postgresql") is not None]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item.get_closest_marker("postgresql") is None]


class PostgresSchemas:
    """Fresh schemas in the test database: :meth:`create` one, :meth:`drop` it."""

    def __init__(self, base_url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.base = make_url(base_url)
        self.engine = create_engine(self.base, isolation_level="AUTOCOMMIT", pool_size=1)

    def create(self) -> str:
        from sqlalchemy import text

        name = f"t_{uuid.uuid4().hex[:16]}"
        with self.engine.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
        return name

    def url(self, schema: str) -> str:
        query = dict(self.base.query)
        query["options"] = f"-csearch_path={schema}"
        return self.base.set(query=query).render_as_string(hide_password=False)

    def drop(self, schema: str) -> None:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            connection.execute(text("SET lock_timeout = '10s'"))
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def postgres_schemas():
    if not on_postgres():
        yield None
        return
    schemas = PostgresSchemas(TEST_DATABASE_URL)
    yield schemas
    schemas.engine.dispose()


@pytest.fixture
def fresh_database_url(postgres_schemas, tmp_path_factory):
    """A URL of a new, empty database (a new schema on PostgreSQL, a new file on SQLite); several
    calls give several databases."""
    made = []

    def make() -> str:
        if postgres_schemas is None:
            return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "gateway.db")
        schema = postgres_schemas.create()
        made.append(schema)
        return postgres_schemas.url(schema)

    yield make
    for schema in made:
        postgres_schemas.drop(schema)


@pytest.fixture(autouse=True)
def gateway_test_database(postgres_schemas, monkeypatch):
    """On PostgreSQL, the test's own schema, as ``GATEWAY_DATABASE_URL``; on SQLite nothing (each app
    has the database of its instance folder)."""
    if postgres_schemas is None:
        yield None
        return
    schema = postgres_schemas.create()
    url = postgres_schemas.url(schema)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    yield url
    postgres_schemas.drop(schema)


def pytest_report_header(config):
    if on_postgres():
        from sqlalchemy.engine import make_url

        return f"databases: PostgreSQL, a schema per test in {make_url(TEST_DATABASE_URL).render_as_string()}"
    return "databases: SQLite, a file per test"

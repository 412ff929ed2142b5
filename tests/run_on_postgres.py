"""Run the test suite again on PostgreSQL (``make test`` calls it after the SQLite run).

The server is ``GATEWAY_TEST_DATABASE_URL`` (default: ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).
When it can be reached, a scratch database is created on it for this run (each test then gets a
schema of its own there, see the root ``conftest.py``), pytest runs with the given arguments, and the
scratch database is dropped. When the role may not create databases, the tests' schemas go into the
given database itself.

When PostgreSQL cannot be reached: with ``CI`` set (``CI=true``, as CI services set it) or
``GATEWAY_TEST_DATABASE_URL`` given, that is a failure; otherwise the run is skipped with a message.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def main(argv: list[str]) -> int:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    explicit = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    required = bool(explicit) or os.environ.get("CI", "").lower() in ("1", "true", "yes")
    url = make_url(explicit or DEFAULT_URL)
    shown = url.render_as_string()
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # no driver, no server, refused
        message = f"PostgreSQL at {shown} cannot be reached ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        if required:
            print(f"run_on_postgres: FAILED: {message}; the PostgreSQL run is required "
                  "(CI or GATEWAY_TEST_DATABASE_URL is set)", file=sys.stderr)
            return 2
        print(f"run_on_postgres: SKIPPED the PostgreSQL run: {message}. "
              "Set GATEWAY_TEST_DATABASE_URL to a PostgreSQL database to run it.", file=sys.stderr)
        return 0

    scratch = f"event_gateway_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{scratch}"'))
        target = url.set(database=scratch)
    except Exception as exc:
        print(f"run_on_postgres: cannot create a scratch database ({str(exc).splitlines()[0]}); "
              f"the tests' schemas go into {url.database}", file=sys.stderr)
        scratch, target = None, url
    print(f"run_on_postgres: running the tests on PostgreSQL ({target.render_as_string()})", file=sys.stderr, flush=True)
    env = {**os.environ, "GATEWAY_TEST_DATABASE_URL": target.render_as_string(hide_password=False)}
    try:
        return subprocess.call([sys.executable, "-m", "pytest", *argv], env=env)
    finally:
        if scratch is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

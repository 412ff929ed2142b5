"""The bare durable queue of ``bench_postgres.py``: the least a durable delivery queue on PostgreSQL
does, as a baseline for the gateway's workers.

    python bench/bare_durable_queue.py <database URL> <target URL> [<start time>]

One process, one connection, one ``requests.Session``, which waits for the start time (seconds
since the epoch; it fails if it is ready only after it) and then loops: claim one due row with
``SELECT ... FOR UPDATE SKIP LOCKED``, POST its body to the target, write the outcome and commit
(one transaction per delivery, the row locked while it is sent); it exits when no due row is left,
printing the CPU seconds its loop used (``cpu <seconds>``).
:func:`create_queue` makes the table and fills it; :func:`delivered` counts the rows sent.
"""

from __future__ import annotations

import sys
import time

import psycopg
import requests
from sqlalchemy.engine import make_url


def conninfo(url: str) -> str:
    """A libpq URI from a SQLAlchemy URL (its ``options``, such as the search path, kept)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_queue(url: str, count: int) -> None:
    """The queue table with ``count`` rows due now, each with a body like the gateway's bench events."""
    body = '{"source":"bench","kind":"flag","title":"flag bench-flag turned on","flag_key":"bench-flag"}'
    stamp = time.time()
    with psycopg.connect(conninfo(url)) as connection:
        connection.execute("CREATE TABLE bare_queue (id bigserial PRIMARY KEY, body text NOT NULL, "
                           "status varchar(20) NOT NULL, attempts integer NOT NULL DEFAULT 0, "
                           "next_attempt_at double precision, outcome text, updated_at double precision)")
        connection.execute("CREATE INDEX bare_queue_due ON bare_queue (status, next_attempt_at)")
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO bare_queue (body, status, next_attempt_at) VALUES (%s, 'pending', %s)",
                               [(body, stamp) for _ in range(count)])


def delivered(url: str) -> int:
    with psycopg.connect(conninfo(url)) as connection:
        return connection.execute("SELECT count(*) FROM bare_queue WHERE status = 'delivered'").fetchone()[0]


def run(url: str, target: str, start_at: float | None = None) -> None:
    with psycopg.connect(conninfo(url)) as connection, requests.Session() as session:
        if start_at is not None:
            if time.time() > start_at:
                raise SystemExit("not ready by the start time")
            time.sleep(start_at - time.time())
        cpu = time.process_time()
        try:
            loop(connection, session, target)
        finally:
            print(f"cpu {time.process_time() - cpu:.4f}", flush=True)


def loop(connection, session: requests.Session, target: str) -> None:
    while True:
        with connection.transaction():
            row = connection.execute(
                "SELECT id, body FROM bare_queue WHERE status = 'pending' AND next_attempt_at <= %s "
                "ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED", (time.time(),)).fetchone()
            if row is None:
                return
            response = session.post(target, data=row[1], headers={"Content-Type": "application/json"},
                                    timeout=15)
            status = "delivered" if response.ok else "retrying"
            connection.execute("UPDATE bare_queue SET status = %s, attempts = attempts + 1, outcome = %s, "
                               "updated_at = %s WHERE id = %s",
                               (status, str(response.status_code), time.time(), row[0]))


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else None)

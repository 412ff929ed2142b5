"""One small real write, to tell whether the database can be written again.

Reading is not enough: a SQLite file that cannot be written, a full disk or a PostgreSQL standby
(after a failover) all answer ``SELECT 1``. The probe commits a write that changes nothing:
SQLite rewrites the header's ``user_version`` with its own value (a page written to the log and
synced, like any commit); PostgreSQL creates a temporary table dropped at commit (catalog rows and
log records, refused by a standby or a full disk). Other databases get ``SELECT 1``.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

from gateway.store.base import writing


def probe_write(engine: Engine) -> None:
    """Raise unless ``engine``'s database takes a write now."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with writing(engine) as connection:
            version = int(connection.exec_driver_sql("PRAGMA user_version").scalar() or 0)
            connection.exec_driver_sql(f"PRAGMA user_version = {version}")
    elif dialect == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TEMPORARY TABLE gateway_write_probe (x integer) ON COMMIT DROP")
    else:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

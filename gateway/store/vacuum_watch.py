"""Whether PostgreSQL keeps the queue's tables vacuumed.

Every delivery is updated three times (queued, in flight, finished), and PostgreSQL keeps each old
row version, with its index entries, until a vacuum removes it. Without autovacuum (turned off on
the server, or not keeping up) the ``deliveries`` table fills with dead versions, and every claim and
every look for the next due delivery reads past more of them: delivery slows down as the gateway
runs. ``/healthz`` warns once a table holds more dead versions than live ones, and at least
:data:`DEAD_ROWS_WARNING`. SQLite reuses the space of deleted rows itself and keeps no old versions,
so there is nothing to watch there."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from gateway.store.base import reading

DEAD_ROWS_WARNING = 200_000
WATCHED_TABLES = ("deliveries", "attempts", "events")
READ_EVERY_SECONDS = 60.0

_DEAD_ROWS = text(
    "SELECT relname, n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE schemaname = current_schema()"
    f" AND relname IN ({', '.join(repr(name) for name in WATCHED_TABLES)}) ORDER BY relname")


def vacuum_warnings(engine, dead_rows: int = DEAD_ROWS_WARNING) -> list[str]:
    """A warning for each watched table that holds at least ``dead_rows`` dead row versions, and more
    of them than live rows (PostgreSQL; nothing on other databases)."""
    if engine.dialect.name != "postgresql":
        return []
    with reading(engine) as connection:
        rows = connection.execute(_DEAD_ROWS).all()
        autovacuum = connection.execute(text("SELECT current_setting('autovacuum')")).scalar()
    why = ("PostgreSQL's autovacuum is off (the server setting autovacuum)" if autovacuum == "off"
           else "autovacuum has not kept up with it")
    return [f"the {name} table holds {dead:,} dead row versions beside {live:,} live rows ({why}); claims of "
            f"deliveries read past them, so delivery slows down as they grow: turn autovacuum on, or run "
            f"VACUUM ANALYZE {name}"
            for name, live, dead in rows if dead >= dead_rows and dead > live]


class VacuumWatch:
    """:func:`vacuum_warnings`, read at most every :data:`READ_EVERY_SECONDS` (``/healthz`` may be
    asked often; the statistics it reads change slowly)."""

    def __init__(self, engine, clock=time.monotonic):
        self.engine = engine
        self.clock = clock
        self._lock = threading.Lock()
        self._read: tuple[float, list[str]] | None = None

    def warnings(self) -> list[str]:
        with self._lock:
            read = self._read
        if read is not None and self.clock() - read[0] < READ_EVERY_SECONDS:
            return read[1]
        found = vacuum_warnings(self.engine)
        with self._lock:
            self._read = (self.clock(), found)
        return found

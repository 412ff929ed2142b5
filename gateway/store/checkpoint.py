"""SQLite WAL checkpoints off the request path.

Left to itself, SQLite checkpoints (copies the write-ahead log into the database file and syncs it)
inside whichever commit crosses 1,000 pages of log, so that commit, and the webhook waiting on it,
pays for it. Here a background thread checkpoints (PASSIVE: it never blocks a writer) about once a
second while there are new writes, and each connection's automatic checkpoint only starts at
:data:`AUTOCHECKPOINT_PAGES` pages, a safety net for processes that stop before the thread runs.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import text
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

AUTOCHECKPOINT_PAGES = 20000  # about 80 MB of log
INTERVAL_SECONDS = 1.0


class Checkpointer:
    """Checkpoints one SQLite database's log from a daemon thread, while :meth:`wrote` says there is
    something new; :meth:`stop` ends it with a last checkpoint."""

    def __init__(self, engine: Engine, interval: float = INTERVAL_SECONDS):
        self.engine = engine
        self.interval = interval
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wrote(self) -> None:
        """A write transaction committed; start the thread on first use."""
        self._dirty.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopping.is_set():
                    self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                    self._thread.start()

    def checkpoint(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            if self._dirty.is_set():
                self._dirty.clear()
                try:
                    self.checkpoint()
                except Exception:  # a busy or vanished database: the next round, or SQLite's own, will do
                    log.debug("WAL checkpoint failed", exc_info=True)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            if self._dirty.is_set():
                try:
                    self.checkpoint()
                except Exception:
                    log.debug("final WAL checkpoint failed", exc_info=True)

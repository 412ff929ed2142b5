"""A background thread that loops until stopped: the base of the background checks and the catch-up.

A subclass gives :meth:`BackgroundLoop._loop` (it waits on ``_wake`` between rounds and returns when
``_stopping`` is set) and its thread's name; :meth:`poke` wakes it early, :meth:`stop` ends it.
"""

from __future__ import annotations

import threading


class BackgroundLoop:
    thread_name = "background"

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """Something changed: run a round now."""
        self._wake.set()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:  # pragma: no cover - each subclass has its own
        raise NotImplementedError

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

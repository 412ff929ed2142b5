"""A count of changes shared by the processes of one pre-fork server, so that a change made through
one process (an integration, the flag-platform connection) is read again by every other before it
next uses what changed."""

from __future__ import annotations

import multiprocessing
from typing import Any


class SharedChanges:
    """0 and unchanging until :meth:`share` is called (by the pre-fork server, before it forks);
    from then on the count lives in memory the children share."""

    def __init__(self) -> None:
        self._counter: Any = None

    def share(self) -> None:
        """Keep the count in shared memory from now on (call before forking)."""
        self._counter = multiprocessing.RawValue("Q", 0)

    @property
    def generation(self) -> int:
        """Changes made by any process of this server (0 outside a pre-fork server)."""
        return self._counter.value if self._counter is not None else 0

    def bump(self) -> None:
        """Count a change made here."""
        if self._counter is not None:
            self._counter.value += 1  # racing bumps may merge into one: it changes all the same

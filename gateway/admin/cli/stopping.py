"""Stopping on SIGTERM or SIGINT, the way both long-running commands do it."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def on_stop_signal(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Call ``handler`` on the first SIGTERM or SIGINT; a second one gets the default action (stop
    at once). The previous handlers are restored afterwards."""
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def first(signum: int, frame: Any) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        handler(signum, frame)

    for sig in STOP_SIGNALS:
        signal.signal(sig, first)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)

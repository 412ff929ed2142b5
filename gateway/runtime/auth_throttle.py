"""Throttling of failed authentication, per client address.

The admin API's bearer token, the web UI's sign-in and a protected ``/metrics`` count their failures
(a wrong token; a request that carries none is no guess) together for each client address (the
socket peer: ``request.remote_addr``). After ``GATEWAY_AUTH_FAILURES_ALLOWED`` (default
:data:`FAILURES_ALLOWED`; 0 turns the throttle off) failures within :data:`WINDOW_SECONDS`, that address is answered ``429``
with ``Retry-After`` for :data:`BLOCK_SECONDS` — the right token included, so guessing gains nothing
— and the episode is logged once (``gateway.runtime.auth_throttle``). Other addresses are not affected.

The counts live in a fixed table of :data:`SLOTS` entries keyed by a salted hash of the address, so
no number of addresses can grow it; when the table is full, the oldest count of an address that is
not blocked is forgotten first. Under a pre-fork ``serve``, :meth:`AuthThrottle.share` puts the table
in memory the processes share (with a lock they share), so the limit holds for the server as a
whole; separate servers (nodes, ``worker`` processes) each count their own.
"""

from __future__ import annotations

import array
import hashlib
import logging
import multiprocessing
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

FAILURES_ALLOWED = 10
WINDOW_SECONDS = 60.0
BLOCK_SECONDS = 60
SLOTS = 4096
PROBES = 8
_FIELDS = 4  # key, window start, failures, blocked until
_KEY, _START, _FAILURES, _UNTIL = range(_FIELDS)
_NO_ADDRESS = "(no address)"


class AuthThrottle:
    """The failure counts of one server (see the module's doc). ``metrics``: a
    :class:`gateway.runtime.metrics.Metrics` whose auth counters are kept (None: none)."""

    def __init__(self, metrics: Any = None, clock: Callable[[], float] = time.monotonic, *,
                 failures_allowed: int = FAILURES_ALLOWED):
        self.metrics = metrics
        self.failures_allowed = failures_allowed
        self.clock = clock
        self._salt = secrets.token_bytes(16)
        self._table: Any = array.array("d", bytes(8 * SLOTS * _FIELDS))
        self._lock: Any = threading.Lock()

    def share(self) -> None:
        """Keep the counts in shared memory from now on (call before forking); counts so far are
        dropped."""
        self._table = multiprocessing.RawArray("d", SLOTS * _FIELDS)
        self._lock = multiprocessing.Lock()

    # the table ---------------------------------------------------------------------------------

    def _key(self, address: str | None) -> float:
        digest = hashlib.blake2b((address or _NO_ADDRESS).encode(), key=self._salt, digest_size=6).digest()
        return float(int.from_bytes(digest, "big") + 1)  # 48 bits: exact as a float; 0 is "empty"

    def _find(self, key: float, now: float, claim: bool) -> int | None:
        """The slot of ``key``; with ``claim``, a free one when it has none (an empty or outdated
        slot, else the oldest that is not blocked, else the one whose block ends first)."""
        table = self._table
        first = int(key) % SLOTS
        candidates = [(first + step) % SLOTS * _FIELDS for step in range(PROBES)]
        for base in candidates:
            if table[base + _KEY] == key:
                return base
        if not claim:
            return None

        def cost(base: int) -> tuple[int, float]:
            if table[base + _KEY] == 0.0:
                return (0, 0.0)
            blocked = table[base + _UNTIL] > now
            outdated = not blocked and now - table[base + _START] >= WINDOW_SECONDS
            if outdated:
                return (0, 0.0)
            return (2, table[base + _UNTIL]) if blocked else (1, table[base + _START])

        base = min(candidates, key=cost)
        table[base + _KEY], table[base + _START] = key, now
        table[base + _FAILURES], table[base + _UNTIL] = 0.0, 0.0
        return base

    # what the doors call -------------------------------------------------------------------------

    def wait(self, door: str, address: str | None) -> int | None:
        """Seconds ``address`` must wait before trying again (counted as a throttled request of
        ``door``: ``api``, ``ui`` or ``metrics``), or None when it may try now."""
        now = self.clock()
        with self._lock:
            base = self._find(self._key(address), now, claim=False)
            until = self._table[base + _UNTIL] if base is not None else 0.0
        if until <= now:
            return None
        if self.metrics is not None:
            self.metrics.child(self.metrics.auth_throttled, door).inc()
        return max(1, int(-(-(until - now) // 1)))  # whole seconds, rounded up

    def failed(self, door: str, address: str | None) -> None:
        """A failed authentication from ``address`` at ``door``; the one that reaches the limit
        blocks the address and logs the episode."""
        now = self.clock()
        with self._lock:
            table = self._table
            base = self._find(self._key(address), now, claim=True)
            assert base is not None
            if now - table[base + _START] >= WINDOW_SECONDS:  # a new window
                table[base + _START], table[base + _FAILURES] = now, 0.0
            table[base + _FAILURES] += 1
            starts = (0 < self.failures_allowed <= table[base + _FAILURES]) and table[base + _UNTIL] <= now
            if starts:
                table[base + _UNTIL] = now + BLOCK_SECONDS
                table[base + _START], table[base + _FAILURES] = now + BLOCK_SECONDS, 0.0  # counted anew after
        if self.metrics is not None:
            self.metrics.child(self.metrics.auth_failures, door).inc()
            if starts:
                self.metrics.auth_episodes.inc()
        if starts:
            log.warning("client %s: %d failed authentications (admin token, UI sign-in or metrics token) "
                        "within %g s; its requests are refused (429) for %d s", address or _NO_ADDRESS,
                        self.failures_allowed, WINDOW_SECONDS, BLOCK_SECONDS)


def throttled_answer(seconds: int):
    """The JSON ``429`` of a throttled address, with ``Retry-After``."""
    from gateway.responses import error_response

    response = error_response(429, f"too many failed authentications from your address: try again in "
                                   f"{seconds} s")
    response.headers["Retry-After"] = str(seconds)
    return response

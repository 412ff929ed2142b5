"""Compiled policies, kept by content: a policy is compiled when it is saved (or when the gateway
starts), and intake only looks it up.

The key is the policy's canonical JSON, so integrations sharing a policy share its compiled form,
and a policy saved by one integration and read back by another process's row is found again.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from gateway.policy import CompiledPolicy, PolicyError, compile_policy
from gateway.policy.limits import limit_errors

DEFAULT_SIZE = 512


def policy_key(raw: Any) -> str:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class PolicyCache:
    """A bounded, thread-safe map from a policy's content to its compiled form (least recently used
    ones are dropped first). Invalid or oversized policies are not kept: :class:`PolicyError`."""

    def __init__(self, size: int = DEFAULT_SIZE):
        self._size = size
        self._compiled: OrderedDict[str, CompiledPolicy] = OrderedDict()
        self._lock = threading.Lock()
        self.compiled_count = 0
        """How many times a policy was compiled (not found here), for tests and metrics."""

    def get(self, raw: Any) -> CompiledPolicy:
        """The compiled policy, compiling it (and keeping it) when it is not here yet. A policy over
        the caps of :mod:`gateway.policy.limits` is refused (:class:`PolicyError`) before compiling."""
        too_large = limit_errors(raw)
        if too_large:
            raise PolicyError(too_large)
        try:
            key = policy_key(raw)
        except (TypeError, ValueError):  # not JSON data: compile_policy says what is wrong
            return compile_policy(raw)
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is not None:
                self._compiled.move_to_end(key)
                return compiled
        compiled = compile_policy(raw)
        with self._lock:
            self.compiled_count += 1
            self._compiled[key] = compiled
            self._compiled.move_to_end(key)
            while len(self._compiled) > self._size:
                self._compiled.popitem(last=False)
        return compiled

    def __contains__(self, raw: Any) -> bool:
        try:
            key = policy_key(raw)
        except (TypeError, ValueError):
            return False
        with self._lock:
            return key in self._compiled

"""Prometheus metrics, one registry per app (so that two apps in one process never collide)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from gateway.store.unavailable import unavailable

if TYPE_CHECKING:
    from gateway.store.deliveries import QueueStats

log = logging.getLogger(__name__)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.events_received = Counter(
            "gateway_events_received", "Events accepted, by source (duplicates not counted)",
            ["source"], registry=self.registry,
        )
        self.duplicates = Counter(
            "gateway_events_duplicate", "Webhooks recognised as duplicates of a stored event",
            ["source"], registry=self.registry,
        )
        self.rejected = Counter(
            "gateway_webhooks_rejected", "Webhooks refused, by source and HTTP status",
            ["source", "status"], registry=self.registry,
        )
        self.decisions = Counter(
            "gateway_decisions", "Decisions recorded, by plugin and outcome (queued or skipped)",
            ["plugin", "outcome"], registry=self.registry,
        )
        self.attempts = Counter(
            "gateway_delivery_attempts", "Delivery attempts, by plugin and result",
            ["plugin", "result"], registry=self.registry,
        )
        self.auth_failures = Counter(
            "gateway_auth_failures", "Failed authentications (wrong or missing token), by door: api, ui "
            "(sign-in) or metrics", ["door"], registry=self.registry,
        )
        self.auth_throttled = Counter(
            "gateway_auth_throttled", "Requests answered 429 because their address failed authentication "
            "too often, by door", ["door"], registry=self.registry,
        )
        self.auth_episodes = Counter(
            "gateway_auth_throttle_episodes", "Times a client address was blocked for failing authentication "
            "too often", registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "gateway_delivery_attempt_seconds", "Duration of delivery attempts, by plugin",
            ["plugin"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )

    def child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """``metric.labels(*labels)``, kept per label values: prometheus_client's own look-up takes
        a lock and builds its key on every call, a cost paid per webhook. For label values from a
        bounded set only (sources, plugins, outcomes)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def watch_checks(self, gauges: Callable[[], list[CheckGauge]]) -> None:
        """Publish the stored check results, read through ``gauges`` at each scrape."""
        self.registry.register(ChecksCollector(gauges))

    def watch_queue(self, stats: Callable[[], QueueStats]) -> None:
        """Publish the delivery queue's gauges, read through ``stats`` at each scrape."""
        self.registry.register(QueueCollector(stats))

    def watch_catchup(self, stats: Callable[[], tuple[int, float | None]]) -> None:
        """Publish the catch-up's count and lag, read through ``stats`` at each scrape."""
        self.registry.register(CatchUpCollector(stats))


STATE_VALUES = {"ok": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class CheckGauge:
    """One stored check: whose (an integration's id, name and plugin; ``connection:launchdarkly`` for
    the flag-platform connection), which, its state, and when it ran."""

    integration_id: str
    integration: str
    plugin: str
    check: str
    state: str
    checked_at: float


class ChecksCollector:
    """The stored results of the background checks, read from the database when scraped."""

    def __init__(self, gauges: Callable[[], list[CheckGauge]]):
        self._gauges = gauges

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        labels = ["integration_id", "integration", "plugin", "check"]
        return (
            GaugeMetricFamily("gateway_check_state",
                              "State of each stored check: 0 ok, 1 warning, 2 error", labels=labels),
            GaugeMetricFamily("gateway_check_timestamp_seconds",
                              "When each stored check last ran, seconds since the epoch", labels=labels),
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            gauges = self._gauges()
        except Exception as exc:  # as for the queue gauges: an outage is logged once, by the watch
            level = logging.DEBUG if unavailable(exc) is not None else logging.WARNING
            log.log(level, "check metrics unavailable: %s: %s", type(exc).__name__, exc)
            return
        state, stamp = self._families()
        for gauge in gauges:
            labels = [gauge.integration_id, gauge.integration, gauge.plugin, gauge.check]
            state.add_metric(labels, STATE_VALUES.get(gauge.state, 2))
            stamp.add_metric(labels, gauge.checked_at)
        yield from (state, stamp)


class QueueCollector:
    """Gauges of the delivery queue, computed from the database when scraped (so they are right
    whichever process made the attempts)."""

    def __init__(self, stats: Callable[[], QueueStats]):
        self._stats = stats

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("gateway_deliveries", "Deliveries by status", labels=["status"]),
            GaugeMetricFamily("gateway_delivery_queue_depth",
                              "Deliveries waiting for an attempt or in one (pending, retrying, in_flight)"),
            GaugeMetricFamily("gateway_delivery_queue_held",
                              "Waiting deliveries held because their integration is disabled"),
            GaugeMetricFamily("gateway_delivery_oldest_pending_seconds",
                              "Age of the oldest waiting delivery, seconds (0 when none waits)"),
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            stats = self._stats()
        except Exception as exc:  # an unreachable database must not break the other metrics
            # (an outage is logged once, by the database watch: not at every scrape)
            level = logging.DEBUG if unavailable(exc) is not None else logging.WARNING
            log.log(level, "delivery queue metrics unavailable: %s: %s", type(exc).__name__, exc)
            return
        by_status, depth, held, oldest = self._families()
        for status, count in stats.by_status.items():
            by_status.add_metric([status], count)
        depth.add_metric([], stats.depth)
        held.add_metric([], stats.held)
        oldest.add_metric([], stats.oldest_age or 0.0)
        yield from (by_status, depth, held, oldest)


class CatchUpCollector:
    """Catch-up from the audit log, read from the database when scraped (whichever process or node
    reconciled): events it took in, and how far behind now the reconciled window ends."""

    def __init__(self, stats: Callable[[], tuple[int, float | None]]):
        self._stats = stats

    @staticmethod
    def _families() -> tuple[CounterMetricFamily, GaugeMetricFamily]:
        return (
            CounterMetricFamily("gateway_catchup_events", "Flag changes taken in by catch-up from the audit "
                                "log because their webhook did not arrive"),
            GaugeMetricFamily("gateway_catchup_lag_seconds", "Seconds since the end of the last window "
                              "reconciled from the audit log (absent without a connection)"),
        )

    def describe(self) -> Iterator[Any]:
        yield from self._families()

    def collect(self) -> Iterator[Any]:
        try:
            caught, lag = self._stats()
        except Exception as exc:  # as for the queue gauges
            level = logging.DEBUG if unavailable(exc) is not None else logging.WARNING
            log.log(level, "catch-up metrics unavailable: %s: %s", type(exc).__name__, exc)
            return
        events, lag_gauge = self._families()
        events.add_metric([], caught)
        yield events
        if lag is not None:
            lag_gauge.add_metric([], lag)
            yield lag_gauge

"""One delivery attempt: hand a claimed delivery to its plugin, read the answer, record it.

Whatever happens — the plugin answers, raises, the target refuses or never answers, the integration
or its plugin is gone — the attempt is recorded with its outcome, reason, duration and HTTP exchanges,
and the delivery moves on: ``delivered``, ``retrying`` (on schedule) or ``dead``. Nothing a plugin
does stops the worker.

If the database is unavailable when the attempt is to be recorded, a worker (one given ``stopping``)
holds the record and writes it once the database is back; only if the worker is stopped first does
the record go unwritten, and then the delivery's lease runs out and it is attempted again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from gateway.host.event_scope import for_integration
from gateway.host.declarations import DeliveryRef
from gateway.flagplatform.flag_actions import FlagPlatform
from gateway.outbound.http import HttpClient, TransportError, make_session
from gateway.redaction import redact
from gateway.flagplatform.names import names_of
from gateway.host.integrations import ActiveIntegration
from gateway.store.unavailable import unavailable
from gateway.outcomes import Delivered, Failed, RetryLater
from gateway.host.state import GatewayState
from gateway.store.deliveries import DeliveryRow, NewAttempt
from gateway.outbound.targets import TargetNotAllowed
from gateway.delivery.schedule import RetrySchedule

log = logging.getLogger(__name__)

MAX_TEXT = 2000


def default_worker_prefix() -> str:
    """``host:pid``, the prefix of this process's worker ids."""
    return f"{socket.gethostname()}:{os.getpid()}"


_RETRY_PROMISE = re.compile(r"[;,]?\s*\bwill (?:be )?retr(?:y|ied)\b", re.IGNORECASE)


def without_retry_promise(reason: str) -> str:
    """A plugin's ``RetryLater`` reason for a delivery that will not be retried (its attempts ran
    out): without the "will retry" it may say."""
    return _RETRY_PROMISE.sub("", reason).strip() or reason


@dataclass(frozen=True)
class Verdict:
    """What an attempt came to: ``delivered``, ``retry`` (optionally not before ``after`` seconds)
    or ``failed``."""

    outcome: str
    reason: str
    summary: str | None = None
    details: dict[str, Any] | None = None
    after: float | None = None


@dataclass(frozen=True)
class AttemptReport:
    """One attempt as it was recorded. ``status`` is the delivery's status afterwards; ``applied`` is
    False when the worker had lost its lease meanwhile (the attempt is recorded, the delivery is
    another worker's)."""

    delivery_id: str
    number: int
    outcome: str
    status: str
    reason: str
    summary: str | None
    next_attempt_at: float | None
    duration_ms: float
    applied: bool
    http: list[dict[str, Any]] = field(default_factory=list)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def verdict_of(result: Any, key: str) -> Verdict:
    """What a plugin's answer (``Delivered``, ``RetryLater``, ``Failed``, or anything else) comes to."""
    if isinstance(result, Delivered):
        details = dict(result.details or {})
        warnings = [str(w) for w in (result.warnings or ())]
        reason = result.summary or "delivered"
        if warnings:
            details["warnings"] = warnings
            reason = f"{reason} (warning: {'; '.join(warnings)})"
        return Verdict("delivered", reason, summary=result.summary or "delivered", details=details)
    if isinstance(result, RetryLater):
        return Verdict("retry", result.reason, after=result.after)
    if isinstance(result, Failed):
        return Verdict("failed", result.reason)
    return Verdict("retry", f"plugin {key!r} returned {type(result).__name__}, "
                            "not Delivered, RetryLater or Failed")


def cleaned(verdict: Verdict, secrets: list[str]) -> Verdict:
    """``verdict`` with every secret removed from its texts, and its texts clipped."""
    verdict = dataclasses.replace(verdict, reason=_clip(redact(verdict.reason, secrets)),
                                  summary=_clip(redact(verdict.summary, secrets)) if verdict.summary else None)
    if verdict.details and verdict.details.get("warnings"):
        verdict.details["warnings"] = [_clip(redact(w, secrets)) for w in verdict.details["warnings"]]
    return verdict


class Deliverer:
    """Makes the attempts of one worker, through one pooled HTTP session."""

    def __init__(self, state: GatewayState, worker_id: str, *, session: requests.Session | None = None,
                 schedule: RetrySchedule | None = None, clock: Callable[[], float] = time.time,
                 stopping: threading.Event | None = None):
        self.state = state
        self.stopping = stopping  # given: hold records through a database outage until it is set
        self.worker_id = worker_id
        self.session = session or make_session()
        self.schedule = schedule or RetrySchedule(state.settings.retry_schedule)
        self.clock = clock
        self._names_to_store: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def attempt(self, delivery: DeliveryRow) -> AttemptReport:
        """Make the attempt of ``delivery`` — as claimed by this worker: ``attempts`` is its number,
        its event and integration are loaded — and record it."""
        started_at = self.clock()
        started = time.perf_counter()
        client: HttpClient | None = None
        secrets: list[str] = []
        try:
            active = self._active(delivery)
            if isinstance(active, Verdict):
                verdict = active
            else:
                secrets = active.secret_values()
                client = self.state.http_client(self.session, secrets)
                connection = self.state.connection.current() if self.state.connection else None
                if connection is not None:
                    secrets = secrets + connection.secret_values()
                verdict = self._call_plugin(delivery, active, client, self.flag_platform(client, connection))
        except Exception as exc:  # a stored event or config that cannot be read: keep the worker alive
            if unavailable(exc) is None:  # (an outage is logged once, by the database watch)
                log.exception("delivery %s: attempt %d failed before reaching the plugin", delivery.id, delivery.attempts)
            verdict = Verdict("retry", f"the gateway could not prepare the attempt: {type(exc).__name__}: {exc}")
        self.store_names()
        seconds = time.perf_counter() - started
        verdict = cleaned(verdict, secrets)
        exchanges = client.exchanges_for(delivery.id) if client else []
        return self._record(delivery, verdict, started_at, seconds, exchanges)

    def _active(self, delivery: DeliveryRow) -> ActiveIntegration | Verdict:
        active = self.state.integrations.active(delivery.integration)
        if active.plugin is None:
            return Verdict("retry", f"{active.error} in worker {self.worker_id}; "
                                    "install or enable the plugin (GATEWAY_PLUGINS) and it will be retried")
        if active.error:
            return Verdict("failed", f"the integration cannot be used: {active.error}; fix it, then replay")
        return active

    def event_for(self, delivery: DeliveryRow, active: ActiveIntegration):
        """The delivery's event as its plugin gets it: with the names, and with the environments the
        integration's policy allowed (:func:`gateway.host.event_scope.for_integration`)."""
        return for_integration(self._with_names(delivery), active)

    def _with_names(self, delivery: DeliveryRow):
        """The event with the flag platform's names (or why there are none); names not stored with
        the event yet are kept for :meth:`store_names`."""
        event = delivery.event.to_event()
        names = self.state.names
        if names is None or event.source != "launchdarkly":
            return event
        try:
            named = names.resolve(event)
        except Exception as exc:  # names are a nicety: never a reason not to deliver
            log.warning("delivery %s: names not resolved: %s: %s", delivery.id, type(exc).__name__, exc)
            return dataclasses.replace(event, names_unavailable=f"the gateway could not read the names: "
                                                                f"{type(exc).__name__}")
        fields = names_of(named)
        if any(delivery.event.body.get(k) != v for k, v in fields.items()):
            self._names_to_store.append((delivery.event_id, fields, delivery.event.body))
        return named

    def store_names(self) -> None:
        """Store with their events the names read for the attempts just made: after the plugin's
        call, so that the write is not in the way of the delivery."""
        pending, self._names_to_store = self._names_to_store, []
        for event_id, fields, body in pending:
            try:
                self.state.db.events.set_fields(event_id, fields, body)
            except Exception as exc:
                log.warning("event %s: names not stored: %s", event_id, exc)

    def flag_platform(self, client: HttpClient, connection) -> FlagPlatform | None:
        """The flag platform's API for an attempt sending through ``client``, when connected."""
        if connection is None or self.state.connection is None:
            return None
        return self.state.connection.flag_platform(client, connection)

    def _call_plugin(self, delivery: DeliveryRow, active: ActiveIntegration, client: HttpClient,
                     flag_platform: FlagPlatform | None = None) -> Verdict:
        event = self.event_for(delivery, active)
        key = active.plugin.key
        ref = DeliveryRef(id=delivery.id, attempt=delivery.attempts, integration=active.ref,
                          flag_platform=flag_platform)
        try:
            result = self.state.host.call(key, "deliver_event", event=event, config=active.config,
                                          http=client, delivery=ref)
        except TargetNotAllowed as exc:
            return Verdict("failed", f"target refused: {exc}")
        except TransportError as exc:
            return Verdict("retry", str(exc))
        except Exception as exc:
            log.warning("plugin %r raised in deliver_event for delivery %s: %s: %s", key, delivery.id,
                        type(exc).__name__, redact(str(exc), active.secret_values()))
            return Verdict("retry", f"plugin {key!r} raised {type(exc).__name__}: {exc}")
        return verdict_of(result, key)

    def status_after(self, delivery: DeliveryRow, verdict: Verdict, finished_at: float,
                     delay: float | None = None) -> tuple[str, str, float | None]:
        """The delivery's status, reason and next attempt time after an attempt that came to
        ``verdict``. ``delay``: the schedule's wait to use (a batch retried together shares one)."""
        number = delivery.attempts
        next_attempt_at = None
        if verdict.outcome == "delivered":
            status, reason = "delivered", verdict.reason
        elif verdict.outcome == "failed":
            status, reason = "dead", verdict.reason
        elif self.schedule.exhausted(number - delivery.schedule_start):
            status, reason = "dead", (f"gave up after {number - delivery.schedule_start} attempts: "
                                      f"{without_retry_promise(verdict.reason)}")
        else:
            status, reason = "retrying", verdict.reason
            if delay is None:
                delay = self.schedule.delay_after(number - delivery.schedule_start)
            next_attempt_at = finished_at + max(verdict.after or 0.0, delay)
        return status, reason, next_attempt_at

    def _record(self, delivery: DeliveryRow, verdict: Verdict, started_at: float, seconds: float,
                exchanges: list[dict[str, Any]]) -> AttemptReport:
        number = delivery.attempts
        finished_at = self.clock()
        status, reason, next_attempt_at = self.status_after(delivery, verdict, finished_at)
        duration_ms = round(seconds * 1000, 3)
        attempt = NewAttempt(number=number, worker=self.worker_id, started_at=started_at, duration_ms=duration_ms,
                             outcome=verdict.outcome, http=exchanges,
                             reason=without_retry_promise(verdict.reason) if status == "dead" else verdict.reason)

        def write() -> bool:
            return self.state.db.deliveries.finish(
                delivery.id, self.worker_id, attempt, status=status, reason=reason,
                next_attempt_at=next_attempt_at, summary=verdict.summary, details=verdict.details, now=finished_at,
            )

        applied = self._write_record(delivery.id, attempt, write)
        metrics = self.state.metrics
        metrics.attempts.labels(delivery.plugin, verdict.outcome).inc()
        metrics.attempt_seconds.labels(delivery.plugin).observe(seconds)
        if not applied:
            log.warning("delivery %s: worker %s lost its lease during attempt %d; the attempt is recorded, "
                        "the delivery is another worker's", delivery.id, self.worker_id, number)
        return AttemptReport(delivery_id=delivery.id, number=number, outcome=verdict.outcome, status=status,
                             reason=reason, summary=verdict.summary, next_attempt_at=next_attempt_at,
                             duration_ms=duration_ms, applied=applied, http=exchanges)

    def _write_record(self, delivery_id: str, attempt: NewAttempt, write: Callable[[], bool]) -> bool:
        """Run ``write``; while the database is unavailable (and this is a worker that is not
        stopping), wait for it to come back and write then. A write that failed as its commit was
        under way may have been committed after all: the attempt is looked for before writing again."""
        try:
            return write()
        except Exception as exc:
            if self.stopping is None or unavailable(exc) is None:
                raise
            last_error = exc
        log.info("delivery %s: attempt %d finished (%s) while the database is unavailable; it is recorded when "
                 "the database is back", delivery_id, attempt.number, attempt.outcome)
        watch = self.state.db_watch
        while True:
            while not watch.wait_until_back(1.0):
                if self.stopping.is_set():
                    raise last_error
            try:
                recorded = self._recorded(delivery_id, attempt)
                if recorded is not None:
                    return recorded
                applied = write()
            except Exception as exc:
                if unavailable(exc) is None:
                    raise
                if self.stopping.is_set():
                    raise
                last_error = exc
                if watch.current() is None:  # back and gone again at once: not in a tight loop
                    self.stopping.wait(1.0)
                continue
            log.info("delivery %s: attempt %d recorded now that the database is back", delivery_id, attempt.number)
            return applied

    def _recorded(self, delivery_id: str, attempt: NewAttempt) -> bool | None:
        """True if ``attempt`` is in the database already (its record and the delivery's move are one
        transaction), None if not."""
        delivery = self.state.db.deliveries.get(delivery_id)
        if delivery is None:
            return None
        for logged in delivery.attempt_log:
            if (logged.number, logged.worker, logged.started_at) == (attempt.number, attempt.worker, attempt.started_at):
                return True
        return None

"""Batch delivery: several due deliveries of one integration handed to the plugin's ``deliver_batch``.

A worker that claims a delivery of an integration whose plugin batches (``batch_limits`` answers a
:class:`gateway.Batching`) gathers more due deliveries of that integration — up to ``max_size``,
for at most ``max_delay`` after the first fell due — and hands them to the plugin in one call. The
plugin answers one outcome per delivery, and each delivery is recorded on its own: its attempt (with
the HTTP exchanges made for it), its status, its retry time. Deliveries the plugin asks to retry are
given one retry time and one batch id, and come back together, alone, in one later call: a plugin
can send them under the same payload id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.host.declarations import Batching, BatchItem, DeliveryRef
from gateway.outbound.http import TransportError
from gateway.redaction import redact
from gateway.host.integrations import ActiveIntegration
from gateway.host.state import GatewayState
from gateway.store.base import new_id, now
from gateway.store.deliveries import DeliveryRow, Finished, NewAttempt
from gateway.outbound.targets import TargetNotAllowed
from gateway.delivery.attempt import AttemptReport, Deliverer, Verdict, cleaned, verdict_of, without_retry_promise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchPlan:
    """An integration that delivers in batches: ready to use, and how its batches are gathered."""

    active: ActiveIntegration
    limits: Batching


def batch_plan(state: GatewayState, delivery: DeliveryRow) -> BatchPlan | None:
    """How ``delivery``'s integration gathers batches; None when it delivers one at a time (or
    cannot be used, which the single attempt records)."""
    active = state.integrations.active(delivery.integration)
    plugin = active.plugin
    if plugin is None or active.error or not plugin.has_hook("deliver_batch"):
        return None
    try:
        limits = state.host.call(plugin.key, "batch_limits", config=active.config, integration=active.ref)
    except Exception as exc:
        log.warning("plugin %r raised in batch_limits for integration %s: %s: %s; delivering one at a time",
                    plugin.key, active.ref.id, type(exc).__name__, redact(str(exc), active.secret_values()))
        return None
    if limits is None:
        return None
    if not isinstance(limits, Batching):
        log.warning("plugin %r: batch_limits returned %s, not gateway.Batching or None; delivering one at a time",
                    plugin.key, type(limits).__name__)
        return None
    return BatchPlan(active, limits)


class BatchDeliverer:
    """Makes the batch attempts of one worker (through its :class:`Deliverer`'s session and schedule)."""

    def __init__(self, deliverer: Deliverer, clock: Callable[[], float] = time.time):
        self.deliverer = deliverer
        self.state: GatewayState = deliverer.state
        self.clock = clock

    def attempt(self, batch: list[DeliveryRow], plan: BatchPlan) -> list[AttemptReport]:
        """Hand ``batch`` (claimed by this worker, all of ``plan``'s integration) to the plugin and
        record each delivery's attempt."""
        active = plan.active
        key = active.plugin.key
        started_at = self.clock()
        started = time.perf_counter()
        secrets = active.secret_values()
        client = self.state.http_client(self.deliverer.session, secrets)
        connection = self.state.connection.current() if self.state.connection else None
        if connection is not None:
            secrets = secrets + connection.secret_values()
        flag_platform = self.deliverer.flag_platform(client, connection)
        verdicts: dict[str, Verdict] = {}
        items: list[BatchItem] = []
        for delivery in batch:
            try:
                event = self.deliverer.event_for(delivery, active)
            except Exception as exc:  # a stored event that cannot be read: that delivery alone
                log.exception("delivery %s: its event could not be read", delivery.id)
                verdicts[delivery.id] = Verdict("retry", f"the gateway could not prepare the attempt: "
                                                         f"{type(exc).__name__}: {exc}")
                continue
            items.append(BatchItem(event=event, delivery=DeliveryRef(
                id=delivery.id, attempt=delivery.attempts, integration=active.ref, flag_platform=flag_platform)))
        if items:
            verdicts.update(self._call_plugin(key, items, active, client))
        self.deliverer.store_names()
        seconds = time.perf_counter() - started
        return self._record(batch, {i: cleaned(v, secrets) for i, v in verdicts.items()}, client,
                            started_at, seconds)

    def _call_plugin(self, key: str, items: list[BatchItem], active: ActiveIntegration, client) -> dict[str, Verdict]:
        ids = [item.delivery.id for item in items]
        try:
            results = self.state.host.call(key, "deliver_batch", items=items, config=active.config,
                                           http=client, integration=active.ref)
        except TargetNotAllowed as exc:
            return dict.fromkeys(ids, Verdict("failed", f"target refused: {exc}"))
        except TransportError as exc:
            return dict.fromkeys(ids, Verdict("retry", str(exc)))
        except Exception as exc:
            log.warning("plugin %r raised in deliver_batch for %d deliveries: %s: %s", key, len(ids),
                        type(exc).__name__, redact(str(exc), active.secret_values()))
            return dict.fromkeys(ids, Verdict("retry", f"plugin {key!r} raised {type(exc).__name__}: {exc}"))
        if not isinstance(results, dict):
            return dict.fromkeys(ids, Verdict(
                "retry", f"plugin {key!r} returned {type(results).__name__} from deliver_batch, not a dict "
                         "of outcomes by delivery id"))
        return {
            delivery_id: verdict_of(results[delivery_id], key) if delivery_id in results else Verdict(
                "retry", f"plugin {key!r} gave no outcome for this delivery in its batch of {len(ids)}")
            for delivery_id in ids
        }

    def _record(self, batch: list[DeliveryRow], verdicts: dict[str, Verdict], client, started_at: float,
                seconds: float) -> list[AttemptReport]:
        finished_at = self.clock()
        duration_ms = round(seconds * 1000, 3)
        retried = [d for d in batch if verdicts[d.id].outcome == "retry"]
        # Deliveries retried together share one wait and one batch id, so that they come back together.
        delay = None
        if retried:
            first = retried[0]
            delay = self.deliverer.schedule.delay_after(first.attempts - first.schedule_start)
        batch_id = new_id() if len(retried) > 1 else None
        finished: list[Finished] = []
        reports: list[tuple[DeliveryRow, Verdict, str, str, float | None, list]] = []
        for delivery in batch:
            verdict = verdicts[delivery.id]
            status, reason, next_attempt_at = self.deliverer.status_after(delivery, verdict, finished_at, delay)
            exchanges = client.exchanges_for(delivery.id)
            finished.append(Finished(
                delivery_id=delivery.id,
                attempt=NewAttempt(number=delivery.attempts, worker=self.deliverer.worker_id,
                                   started_at=started_at, duration_ms=duration_ms, outcome=verdict.outcome,
                                   reason=without_retry_promise(verdict.reason) if status == "dead" else verdict.reason,
                                   http=exchanges),
                status=status, reason=reason, next_attempt_at=next_attempt_at, summary=verdict.summary,
                details=verdict.details, batch_id=batch_id if status == "retrying" else None))
            reports.append((delivery, verdict, status, reason, next_attempt_at, exchanges))
        applied = self.state.db.deliveries.finish_many(self.deliverer.worker_id, finished, finished_at)
        metrics = self.state.metrics
        out = []
        for (delivery, verdict, status, reason, next_attempt_at, exchanges), was_applied in zip(reports, applied):
            metrics.attempts.labels(delivery.plugin, verdict.outcome).inc()
            metrics.attempt_seconds.labels(delivery.plugin).observe(seconds)
            if not was_applied:
                log.warning("delivery %s: worker %s lost its lease during attempt %d; the attempt is recorded, "
                            "the delivery is another worker's", delivery.id, self.deliverer.worker_id,
                            delivery.attempts)
            out.append(AttemptReport(delivery_id=delivery.id, number=delivery.attempts, outcome=verdict.outcome,
                                     status=status, reason=reason, summary=verdict.summary,
                                     next_attempt_at=next_attempt_at, duration_ms=duration_ms,
                                     applied=was_applied, http=exchanges))
        return out


class BatchGatherer:
    """Gathers the batches of one worker: for the deliveries of a batching integration it holds, it
    claims more due ones of that integration until the batch is full or its delay is up, and the
    rest of any batch that is being retried."""

    def __init__(self, state: GatewayState, worker_id: str, *, max_attempts: int,
                 stopping: Callable[[], bool], clock: Callable[[], float] = now):
        self.state = state
        self.worker_id = worker_id
        self.max_attempts = max_attempts
        self.stopping = stopping
        self.clock = clock

    def retried_batches(self, held: list[DeliveryRow]) -> list[list[DeliveryRow]]:
        """Each retried batch among ``held``, completed with its members this worker does not hold yet."""
        by_batch: dict[str, list[DeliveryRow]] = {}
        for delivery in held:
            if delivery.batch_id:
                by_batch.setdefault(delivery.batch_id, []).append(delivery)
        lease = self.state.settings.lease_seconds
        out = []
        for batch_id, members in by_batch.items():
            more = self.state.db.deliveries.claim_batch(batch_id, self.worker_id, lease, self.clock(),
                                                        exclude=[d.id for d in members])
            out.append(members + more)
        return out

    def fill(self, fresh: list[DeliveryRow], plan: BatchPlan) -> tuple[list[DeliveryRow], list[DeliveryRow]]:
        """Claim more due deliveries of ``plan``'s integration until there are ``max_size`` or
        ``max_delay`` has passed since the earliest of ``fresh`` fell due. Returns the batch and the
        members of retried batches claimed on the way (attempted with their own batch)."""
        limits = plan.limits
        integration_id = plan.active.ref.id
        deliveries = self.state.db.deliveries
        lease = self.state.settings.lease_seconds
        batch = list(fresh)
        retried: list[DeliveryRow] = []
        due = min((d.next_attempt_at for d in fresh if d.next_attempt_at is not None), default=self.clock())
        deadline = due + limits.max_delay
        while len(batch) < limits.max_size and not self.stopping():
            more = deliveries.claim_many(self.worker_id, lease, self.clock(), limits.max_size - len(batch),
                                         integration_id, max_attempts=self.max_attempts)
            for delivery in more:
                (retried if delivery.batch_id else batch).append(delivery)
            if more:
                continue
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            with self.state.batch_work:
                if not self.stopping():
                    self.state.batch_work.wait(remaining)
        return batch, retried

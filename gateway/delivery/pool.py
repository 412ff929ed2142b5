"""The worker pool: threads that claim due deliveries and make their attempts.

Each worker loops: claim due deliveries (under a lease), attempt them, repeat. It claims one at a
time while work is sparse, so that a burst spreads over the workers; while more is due than each
claim takes (a backlog) it claims up to 8 at once, which costs less per delivery. A claim looks at
one due delivery more than it takes, so it tells whether more are due (``Claimed.more``): a worker
whose claim took all that was due waits after its attempts instead of claiming again to find
nothing, unless work was announced since it claimed (``GatewayState.work_announced``); so does one
whose claim left more due when a later claim of the pool (the worker it woke) has left nothing due
since. Waiting, it
sleeps on the app's ``new_work`` condition until the next delivery falls due, at most
``poll_seconds`` (1 s): an event accepted in this process wakes one idle worker at once; on
PostgreSQL so does work queued by another process or node (``LISTEN``/``NOTIFY``,
``gateway/store/wakeups.py``); a worker whose claim left more due wakes the next idle one, so a
burst still spreads over the workers while a single delivery wakes a single worker; what nothing
announces (a lease that ran out, work queued by a process on another database kind) is seen within
that second. When the next delivery falls due is read from the database at most every
``DUE_CACHE_SECONDS`` (0.25 s) by the pool's workers together.

The deliveries of an integration whose plugin delivers in batches are gathered and handed over
together (``gateway/delivery/batch.py``); the others are attempted one at a time.

A heartbeat thread renews the leases the pool's workers hold every third of
``GATEWAY_LEASE_SECONDS``, so a lease can be short (a dead process's deliveries are taken again soon
after it stops beating) while an attempt that runs long, but runs, keeps its lease. A housekeeping
thread prunes old records.

While the database is unavailable (an outage, see :mod:`gateway.runtime.outage.watch`) the workers pause:
they claim nothing and wait until the database watch finds it back, then resume by themselves. An
attempt that finishes meanwhile is held by its worker and recorded when the database is back.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from gateway.outbound.http import make_session
from gateway.store.unavailable import unavailable
from gateway.host.state import GatewayState
from gateway.store.base import now
from gateway.store.deliveries import DeliveryRow
from gateway.delivery.attempt import Deliverer, default_worker_prefix
from gateway.delivery.batch import BatchDeliverer, BatchGatherer, BatchPlan, batch_plan
from gateway.delivery.schedule import RetrySchedule

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
MAX_BATCH = 8
PRUNE_INTERVAL_SECONDS = 3600.0
ERROR_PAUSE_SECONDS = 1.0
DUE_CACHE_SECONDS = 0.25
"""How long the pool's workers share one reading of when the next delivery falls due (a time in the
future, or nothing due: a time already past is read again)."""
DAY = 86400.0


@dataclass
class WorkerSlot:
    """One worker thread and what it is doing."""

    worker_id: str
    thread: threading.Thread | None = None
    heartbeat: float = 0.0
    current: str | None = None  # the delivery being attempted (or next, of those it holds)
    paused: bool = False  # waiting for the database to come back


class WorkerPool:
    """``count`` delivery workers of one app. Worker ids are ``<prefix>:<n>``, the prefix being
    ``host:pid`` unless given. :meth:`start` it, :meth:`stop` it; :meth:`health` tells how it fares."""

    def __init__(self, state: GatewayState, count: int, *, prefix: str | None = None,
                 poll_seconds: float = POLL_SECONDS, prune_interval: float = PRUNE_INTERVAL_SECONDS):
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.state = state
        self.poll_seconds = poll_seconds
        self.prune_interval = prune_interval
        self.schedule = RetrySchedule(state.settings.retry_schedule)
        prefix = prefix or default_worker_prefix()
        self.slots = [WorkerSlot(f"{prefix}:{n}") for n in range(1, count + 1)]
        self._stopping = threading.Event()
        self._housekeeper: threading.Thread | None = None
        self._heart: threading.Thread | None = None
        self._heart_stop = threading.Event()
        self.listener = None  # on PostgreSQL: wakes the workers when another process queues work
        self.last_heartbeat: float | None = None  # when the leases were last renewed
        self.started_at: float | None = None
        self._shared_lock = threading.Lock()  # guards what the workers share: _due_read, _drained
        self._due_read: tuple[float, float | None] | None = None  # (monotonic time read, next due)
        self._claim_numbers = itertools.count(1)  # the pool's claims, in the order they start
        self._drained = (0, -1)  # the latest claim that left nothing due: (its number, work_announced before it)

    @property
    def worker_ids(self) -> list[str]:
        return [slot.worker_id for slot in self.slots]

    def start(self) -> None:
        """Start the worker threads and the housekeeping thread; the pool joins ``state.workers``."""
        self.started_at = time.time()
        for n, slot in enumerate(self.slots, start=1):
            slot.heartbeat = time.time()
            slot.thread = threading.Thread(target=self._work, args=(slot,), name=f"delivery-worker-{n}", daemon=True)
            slot.thread.start()
        self.listener = self.state.db.listen_for_work(self.state.notify_new_work)
        self._heart = threading.Thread(target=self._heartbeat, name="delivery-lease-heartbeat", daemon=True)
        self._heart.start()
        self._housekeeper = threading.Thread(target=self._housekeeping, name="delivery-housekeeping", daemon=True)
        self._housekeeper.start()
        self.state.workers.append(self)
        log.info("%d delivery worker(s) started (%s)", len(self.slots), ", ".join(self.worker_ids))

    def stop(self, grace: float | None = None) -> int:
        """Stop claiming; let running attempts finish for up to ``grace`` seconds (default
        ``GATEWAY_SHUTDOWN_GRACE_SECONDS``); put the deliveries of attempts still running back in
        the queue. Returns how many were put back."""
        if grace is None:
            grace = self.state.settings.shutdown_grace_seconds
        self._stopping.set()
        self.state.wake_all_workers()
        self.state.db_watch.wake()
        deadline = time.monotonic() + grace
        for slot in self.slots:
            if slot.thread is not None:
                slot.thread.join(max(0.0, deadline - time.monotonic()))
        if self._housekeeper is not None:
            self._housekeeper.join(max(0.0, deadline - time.monotonic()))
        unfinished = [slot.worker_id for slot in self.slots if slot.thread is not None and slot.thread.is_alive()]
        released = 0
        if unfinished:
            try:
                released = self.state.db.deliveries.release(unfinished, now())
            except Exception as exc:
                if unavailable(exc) is None:
                    log.exception("could not put back the deliveries of workers still running; their leases will run out")
                else:
                    log.warning("could not put back the deliveries of workers still running (the database is "
                                "unavailable); their leases will run out and they will be taken again")
            log.warning("%d attempt(s) still running after %gs; %d delivery(ies) put back in the queue",
                        len(unfinished), grace, released)
        self._heart_stop.set()
        if self._heart is not None:
            self._heart.join(5)
        if self.listener is not None:
            self.listener.stop()
        if self in self.state.workers:
            self.state.workers.remove(self)
        log.info("delivery workers stopped")
        return released

    def health(self) -> dict[str, Any]:
        """Liveness for ``/healthz``: threads alive, busy, and the age of the oldest heartbeat."""
        stamp = time.time()
        alive = [slot for slot in self.slots if slot.thread is not None and slot.thread.is_alive()]
        return {
            "threads": len(self.slots),
            "alive": len(alive),
            "busy": sum(1 for slot in alive if slot.current),
            "paused": sum(1 for slot in alive if slot.paused),
            "oldest_heartbeat_seconds": round(max((stamp - s.heartbeat for s in alive), default=0.0), 3),
            "stopping": self._stopping.is_set(),
        }

    # the threads -------------------------------------------------------------------------------

    def _work(self, slot: WorkerSlot) -> None:
        deliveries = self.state.db.deliveries
        lease = self.state.settings.lease_seconds
        deliverer = Deliverer(self.state, slot.worker_id, session=make_session(), schedule=self.schedule,
                              stopping=self._stopping)
        batches = BatchDeliverer(deliverer)
        gatherer = BatchGatherer(self.state, slot.worker_id, max_attempts=self.schedule.max_attempts,
                                 stopping=self._stopping.is_set)
        batch_size = 1
        while not self._stopping.is_set():
            slot.heartbeat = time.time()
            if self.state.db_watch.current() is not None:
                self._pause(slot)
                continue
            announced = self.state.work_announced
            number = next(self._claim_numbers)
            try:
                batch = deliveries.claim_many(slot.worker_id, lease, now(), batch_size,
                                              max_attempts=self.schedule.max_attempts)
            except Exception as exc:
                if unavailable(exc) is not None:
                    self._pause(slot)
                else:
                    log.exception("worker %s could not claim deliveries", slot.worker_id)
                    self._stopping.wait(ERROR_PAUSE_SECONDS)
                continue
            if not batch.more:
                self._note_drained(number, announced)
            if not batch:
                batch_size = 1
                self._wait_for_work(announced)
                continue
            if batch.more:  # more are due: another idle worker looks
                self.state.pass_on_work()
                batch_size = min(batch_size * 2, MAX_BATCH)
            singles = self._attempt_batches(slot, batches, gatherer, batch)
            self._attempt_all(slot, deliverer, singles)
            if self._claim_or_wait(number, announced, batch.more):  # always, when it took all that was due
                batch_size = 1

    def _note_drained(self, number: int, announced: int) -> None:
        """Claim ``number``, made when ``work_announced`` was ``announced``, left nothing due."""
        with self._shared_lock:
            if number > self._drained[0]:
                self._drained = (number, announced)

    def _claim_or_wait(self, number: int, announced: int, more: bool) -> bool:
        """After the attempts of claim ``number``: return to claim again at once (False), or wait
        first (True). A claim that took all that was due waits for work announced since it began;
        one that left more due claims again, unless a later claim of the pool (the worker it woke,
        say) has left nothing due since, in which case it waits for work announced since that one
        began."""
        if more:
            with self._shared_lock:
                drained, drained_announced = self._drained
            if drained <= number:
                return False
            announced = drained_announced
        self._wait_for_work(announced)
        return True

    def _attempt_batches(self, slot: WorkerSlot, batches: BatchDeliverer, gatherer: BatchGatherer,
                         claimed: list[DeliveryRow]) -> list[DeliveryRow]:
        """Attempt the deliveries of integrations that deliver in batches, gathering more of each;
        returns the others, to be attempted one at a time."""
        singles: list[DeliveryRow] = []
        plans: dict[str, BatchPlan | None] = {}
        held: dict[str, list[DeliveryRow]] = {}
        for delivery in claimed:
            try:
                if delivery.integration_id not in plans:
                    plans[delivery.integration_id] = batch_plan(self.state, delivery)
            except Exception:
                log.exception("worker %s could not tell whether delivery %s is delivered in a batch",
                              slot.worker_id, delivery.id)
                plans[delivery.integration_id] = None
            if plans[delivery.integration_id] is None:
                singles.append(delivery)
            else:
                held.setdefault(delivery.integration_id, []).append(delivery)
        for integration_id, deliveries in held.items():
            plan = plans[integration_id]
            try:
                retried = [d for d in deliveries if d.batch_id]
                fresh = [d for d in deliveries if not d.batch_id]
                if fresh:
                    slot.current = fresh[0].id  # held while the batch gathers
                    fresh, more_retried = gatherer.fill(fresh, plan)
                    retried += more_retried
                todo = gatherer.retried_batches(retried) + self._chunks(fresh, plan.limits.max_size)
            except Exception:
                log.exception("worker %s could not gather a batch; the deliveries it holds are put back",
                              slot.worker_id)
                self._release(slot)
                self._stopping.wait(ERROR_PAUSE_SECONDS)
                return []
            for batch in todo:
                if self._stopping.is_set():
                    self._release(slot)
                    return []
                slot.current = batch[0].id
                slot.heartbeat = time.time()
                try:
                    batches.attempt(batch, plan)
                except Exception:
                    log.exception("worker %s could not record its attempt of a batch of %d deliveries; the "
                                  "lease will run out and they be taken again", slot.worker_id, len(batch))
                    self._stopping.wait(ERROR_PAUSE_SECONDS)
        slot.current = None
        return singles

    @staticmethod
    def _chunks(deliveries: list[DeliveryRow], size: int) -> list[list[DeliveryRow]]:
        return [deliveries[i:i + size] for i in range(0, len(deliveries), size)]

    def _release(self, slot: WorkerSlot) -> None:
        try:
            self.state.db.deliveries.release([slot.worker_id], now())
        except Exception:
            log.exception("worker %s could not put back the deliveries it had not attempted; "
                          "their lease will run out", slot.worker_id)

    def _pause(self, slot: WorkerSlot) -> None:
        """Wait while the database is unavailable (or until the pool stops), beating meanwhile."""
        watch = self.state.db_watch
        if watch.current() is None:  # the outage closed already: try again after a breath
            self._stopping.wait(min(ERROR_PAUSE_SECONDS, self.poll_seconds))
            return
        slot.paused = True
        try:
            while not self._stopping.is_set():
                slot.heartbeat = time.time()
                if watch.wait_until_back(self.poll_seconds):
                    break
        finally:
            slot.paused = False

    def _attempt_all(self, slot: WorkerSlot, deliverer: Deliverer, batch: list[DeliveryRow]) -> None:
        watch = self.state.db_watch
        generation = watch.generation
        for delivery in batch:
            if (watch.current() is not None or watch.generation != generation) and not self._stopping.is_set():
                # The database went away meanwhile: wait for it, then put back the ones not
                # attempted rather than attempt them — their leases may have run out and another
                # worker taken them. Those still ours are due again at once.
                self._pause(slot)
                self._release_unattempted(slot)
                break
            if self._stopping.is_set():  # put back the ones not attempted
                self._release_unattempted(slot)
                break
            slot.current = delivery.id
            slot.heartbeat = time.time()
            try:
                deliverer.attempt(delivery)
            except Exception as exc:
                if unavailable(exc) is None:
                    log.exception("worker %s could not record its attempt of delivery %s; the lease will run out "
                                  "and the delivery be taken again", slot.worker_id, delivery.id)
                else:  # only when stopping while the database is unavailable
                    log.warning("worker %s stopped before the database was back: its attempt of delivery %s is not "
                                "recorded; the lease will run out and the delivery be attempted again",
                                slot.worker_id, delivery.id)
                self._stopping.wait(ERROR_PAUSE_SECONDS)
        slot.current = None

    def _release_unattempted(self, slot: WorkerSlot) -> None:
        try:
            self.state.db.deliveries.release([slot.worker_id], now())
        except Exception as exc:
            if unavailable(exc) is None:
                log.exception("worker %s could not put back the deliveries it had not attempted; "
                              "their lease will run out", slot.worker_id)

    def next_due_at(self) -> float | None:
        """When the next delivery falls due, as read by any of the pool's workers in the last
        :data:`DUE_CACHE_SECONDS`, or read now."""
        with self._shared_lock:
            read = self._due_read
        if read is not None and time.monotonic() - read[0] < DUE_CACHE_SECONDS and (read[1] is None or read[1] > now()):
            return read[1]
        due = self.state.db.deliveries.next_due_at()
        with self._shared_lock:
            self._due_read = (time.monotonic(), due)
        return due

    def _wait_for_work(self, announced: int) -> None:
        """Wait until a delivery falls due, at most ``poll_seconds``, unless work was announced
        (:meth:`GatewayState.notify_new_work`) since ``work_announced`` was ``announced``."""
        if self.state.work_announced != announced:
            return
        try:
            due = self.next_due_at()
        except Exception as exc:
            if unavailable(exc) is None:
                log.exception("could not read when the next delivery is due")
            due = None
        timeout = self.poll_seconds if due is None else min(max(due - now(), 0.0), self.poll_seconds)
        if timeout <= 0:
            return
        with self.state.new_work:
            if not self._stopping.is_set() and self.state.work_announced == announced:
                self.state.new_work.wait(timeout)

    def heartbeat_interval(self) -> float:
        return self.state.settings.lease_seconds / 3

    def _heartbeat(self) -> None:
        """Renew the leases of every delivery the pool's workers hold, every third of the lease, until
        :meth:`stop` is done with the attempts (they may still be finishing while it waits)."""
        lease = self.state.settings.lease_seconds
        ids = self.worker_ids
        while not self._heart_stop.wait(self.heartbeat_interval()):
            if not any(slot.current for slot in self.slots):
                continue  # nothing held (a claim made now is renewed by the next beat, well in time)
            try:
                self.state.db.deliveries.renew(ids, now() + lease)
                self.last_heartbeat = time.time()
            except Exception as exc:
                if unavailable(exc) is None:  # an outage is logged once, by the database watch
                    log.exception("could not renew the leases of running attempts; another worker may take "
                                  "them once they run out")

    def _housekeeping(self) -> None:
        next_prune = time.monotonic()
        while not self._stopping.wait(min(self.prune_interval, 10.0)):
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.prune_interval
                self._prune()

    def _prune(self) -> None:
        settings = self.state.settings
        cutoff = now() - settings.retention_days * DAY
        try:
            result = self.state.db.deliveries.prune(cutoff, forget_keys_before=now() - settings.dedupe_retention_days * DAY)
        except Exception as exc:
            if unavailable(exc) is None:
                log.exception("pruning old deliveries failed; it is tried again later")
            return
        if result.deliveries or result.events:
            log.info("retention: removed %d delivered/skipped deliveries and %d events older than %g days",
                     result.deliveries, result.events, self.state.settings.retention_days)
        self._prune_audit_log()

    def _prune_audit_log(self) -> None:
        days = self.state.settings.audit_retention_days
        try:
            removed = self.state.db.audit_log.prune(now() - days * DAY)
        except Exception as exc:
            if unavailable(exc) is None:
                log.exception("pruning the audit log failed; it is tried again later")
            return
        if removed:
            log.info("retention: removed %d audit log entries older than %g days", removed, days)

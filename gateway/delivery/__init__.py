"""The way out: delivery workers that take queued deliveries and hand them to their plugins.

:mod:`.schedule` says when to try again, :mod:`.attempt` makes one attempt and records it,
:mod:`.pool` runs the worker threads, :mod:`.sample` sends an integration's test event.
``docs/delivery.md`` describes the whole life of a delivery.
"""

from gateway.delivery.attempt import AttemptReport, Deliverer
from gateway.delivery.pool import WorkerPool
from gateway.delivery.schedule import RetrySchedule

__all__ = ["AttemptReport", "Deliverer", "RetrySchedule", "WorkerPool"]

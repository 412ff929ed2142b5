"""Sending an integration's test event on request, through the normal delivery path."""

from __future__ import annotations

import dataclasses
import uuid

from gateway.events import Event
from gateway.outbound.http import make_session
from gateway.redaction import redact
from gateway.host.plugins import MissingHook
from gateway.host.state import GatewayState
from gateway.store.audit_log import Entry
from gateway.store.base import now
from gateway.store.deliveries import DeliveryRow
from gateway.store.events import NewDecision
from gateway.store.integrations import IntegrationRow
from gateway.delivery.attempt import AttemptReport, Deliverer, default_worker_prefix

TEST_SOURCE = "test"


class CannotSend(Exception):
    """The test event cannot be sent; ``status`` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclasses.dataclass(frozen=True)
class TestSend:
    """A test send: the stored event, the attempt made, and the delivery as it is now."""

    __test__ = False  # not a pytest class

    event_id: str
    report: AttemptReport
    delivery: DeliveryRow


def send_test_event(state: GatewayState, row: IntegrationRow, audit: Entry | None = None) -> TestSend:
    """Ask the plugin for its test event, store it (source ``test``) with one delivery for this
    integration only, and make the first attempt here and now, as a worker would. Later attempts,
    if it needs them, follow the retry schedule like any delivery. Works on a disabled integration
    too. Raises :class:`gateway.host.plugins.MissingHook` when the plugin has no ``test_event`` hook.
    ``audit``: the action's audit log entry (given the event's id), written with the stored event."""
    active = state.integrations.active(row)
    if active.plugin is None or active.error:
        raise CannotSend(409, f"integration cannot be used: {active.error}")
    if not active.plugin.has_hook("test_event"):
        raise MissingHook(f"plugin {row.plugin!r} does not implement 'test_event'")
    try:
        event = state.host.call(active.plugin.key, "test_event", config=active.config, integration=active.ref)
    except Exception as exc:
        raise CannotSend(500, redact(f"plugin {row.plugin!r} test_event raised {type(exc).__name__}: {exc}",
                                     active.secret_values())) from None
    if not isinstance(event, Event):
        raise CannotSend(500, f"plugin {row.plugin!r} test_event returned {type(event).__name__}, not an Event")
    event = dataclasses.replace(event, source=TEST_SOURCE, source_id=f"test-{uuid.uuid4()}")
    # Due only after a lease's time: no worker picks it up before this request takes it, and should
    # this process die in between, a worker sends it then.
    recorded = state.db.events.record(
        event, [NewDecision(row.id, row.plugin, "pending", "test event, sent on request",
                            next_attempt_at=now() + state.settings.lease_seconds)],
        integration_id=row.id, audit=audit,
    )
    delivery_id = state.db.deliveries.for_event(recorded.event_id)[0].id
    worker_id = f"{default_worker_prefix()}:test"
    claimed = state.db.deliveries.take(delivery_id, worker_id, state.settings.lease_seconds, now())
    if claimed is None:  # only if someone retried it by hand in between
        raise CannotSend(409, f"delivery {delivery_id} was taken by someone else before the test could send it")
    with make_session() as session:
        report = Deliverer(state, worker_id, session=session).attempt(claimed)
    return TestSend(event_id=recorded.event_id, report=report, delivery=state.db.deliveries.get(delivery_id))

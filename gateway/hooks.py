"""Typed hook markers: ``@hooks.deliver_event`` marks a hook implementation as ``@hookimpl`` does,
and lets a type checker (mypy, pyright) check it against the hook's specification.

Each marker takes a function with every argument of its hook, by name and in any order, typed as
the specification says (or wider: ``Mapping[str, Any]`` for ``config`` is fine) and returning what
the specification returns (or a narrower type: ``Take``). ``@hookimpl`` remains for hooks that take
only some of the arguments; those are checked by name when the plugin loads, not by type. The
protocols (``DeliverEventHook``...) are the specifications' signatures as types, for annotations.
A test keeps them equal to :mod:`gateway.host.hookspecs`.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from gateway.host.declarations import Batching, BatchItem, DeliveryRef, EventSource, IntegrationRef, IntegrationType, StatusCheck
from gateway.events import Event
from gateway.outbound.http import HttpClient
from gateway.host.inbound_request import InboundRequest, Received
from gateway.host.markers import hookimpl
from gateway.outcomes import DeliveryResult, Verdict


class IntegrationTypeHook(Protocol):
    def __call__(self) -> IntegrationType: ...


class EventSourceHook(Protocol):
    def __call__(self) -> EventSource: ...


class CheckEventHook(Protocol):
    def __call__(self, *, event: Event, config: dict[str, Any], integration: IntegrationRef) -> Verdict: ...


class DeliverEventHook(Protocol):
    def __call__(self, *, event: Event, config: dict[str, Any], http: HttpClient,
                 delivery: DeliveryRef) -> DeliveryResult: ...


class BatchLimitsHook(Protocol):
    def __call__(self, *, config: dict[str, Any], integration: IntegrationRef) -> Batching | None: ...


class DeliverBatchHook(Protocol):
    def __call__(self, *, items: list[BatchItem], config: dict[str, Any], http: HttpClient,
                 integration: IntegrationRef) -> dict[str, DeliveryResult]: ...


class ReceiveWebhookHook(Protocol):
    def __call__(self, *, request: InboundRequest, config: dict[str, Any],
                 integration: IntegrationRef) -> Received: ...


class IntegrationStatusHook(Protocol):
    def __call__(self, *, config: dict[str, Any], http: HttpClient,
                 integration: IntegrationRef) -> list[StatusCheck]: ...


class IntegrationActionHook(Protocol):
    def __call__(self, *, action: str, params: dict[str, Any], config: dict[str, Any], http: HttpClient,
                 integration: IntegrationRef) -> str: ...


class TestEventHook(Protocol):
    def __call__(self, *, config: dict[str, Any], integration: IntegrationRef) -> Event: ...


_IntegrationType = TypeVar("_IntegrationType", bound=IntegrationTypeHook)
_EventSource = TypeVar("_EventSource", bound=EventSourceHook)
_CheckEvent = TypeVar("_CheckEvent", bound=CheckEventHook)
_DeliverEvent = TypeVar("_DeliverEvent", bound=DeliverEventHook)
_BatchLimits = TypeVar("_BatchLimits", bound=BatchLimitsHook)
_DeliverBatch = TypeVar("_DeliverBatch", bound=DeliverBatchHook)
_ReceiveWebhook = TypeVar("_ReceiveWebhook", bound=ReceiveWebhookHook)
_IntegrationStatus = TypeVar("_IntegrationStatus", bound=IntegrationStatusHook)
_IntegrationAction = TypeVar("_IntegrationAction", bound=IntegrationActionHook)
_TestEvent = TypeVar("_TestEvent", bound=TestEventHook)


def integration_type(function: _IntegrationType) -> _IntegrationType:
    """Mark the ``integration_type`` hook (``() -> IntegrationType``)."""
    return hookimpl(specname="integration_type")(function)


def event_source(function: _EventSource) -> _EventSource:
    """Mark the ``event_source`` hook (``() -> EventSource``)."""
    return hookimpl(specname="event_source")(function)


def check_event(function: _CheckEvent) -> _CheckEvent:
    """Mark the ``check_event`` hook (``(event, config, integration) -> Take | Skip``)."""
    return hookimpl(specname="check_event")(function)


def deliver_event(function: _DeliverEvent) -> _DeliverEvent:
    """Mark the ``deliver_event`` hook (``(event, config, http, delivery) -> Delivered | RetryLater | Failed``)."""
    return hookimpl(specname="deliver_event")(function)


def batch_limits(function: _BatchLimits) -> _BatchLimits:
    """Mark the ``batch_limits`` hook (``(config, integration) -> Batching | None``)."""
    return hookimpl(specname="batch_limits")(function)


def deliver_batch(function: _DeliverBatch) -> _DeliverBatch:
    """Mark the ``deliver_batch`` hook (``(items, config, http, integration) -> {delivery id: outcome}``)."""
    return hookimpl(specname="deliver_batch")(function)


def receive_webhook(function: _ReceiveWebhook) -> _ReceiveWebhook:
    """Mark the ``receive_webhook`` hook (``(request, config, integration) -> Received``)."""
    return hookimpl(specname="receive_webhook")(function)


def integration_status(function: _IntegrationStatus) -> _IntegrationStatus:
    """Mark the ``integration_status`` hook (``(config, http, integration) -> list[StatusCheck]``)."""
    return hookimpl(specname="integration_status")(function)


def integration_action(function: _IntegrationAction) -> _IntegrationAction:
    """Mark the ``integration_action`` hook (``(action, params, config, http, integration) -> str``)."""
    return hookimpl(specname="integration_action")(function)


def test_event(function: _TestEvent) -> _TestEvent:
    """Mark the ``test_event`` hook (``(config, integration) -> Event``)."""
    return hookimpl(specname="test_event")(function)


test_event.__test__ = False  # type: ignore[attr-defined]  # not a pytest test

PROTOCOLS: dict[str, type] = {
    "integration_type": IntegrationTypeHook,
    "event_source": EventSourceHook,
    "check_event": CheckEventHook,
    "deliver_event": DeliverEventHook,
    "batch_limits": BatchLimitsHook,
    "deliver_batch": DeliverBatchHook,
    "receive_webhook": ReceiveWebhookHook,
    "integration_status": IntegrationStatusHook,
    "integration_action": IntegrationActionHook,
    "test_event": TestEventHook,
}
"""Each hook's protocol, by hook name."""

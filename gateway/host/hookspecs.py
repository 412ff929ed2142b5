"""Every hook of the gateway.

A plugin is a module (or object) published under the ``event_gateway`` entry-point group. It offers
one integration (``integration_type``) or one webhook source (``event_source``). The gateway calls a
plugin's other hooks only for that plugin's own integrations, one plugin at a time: what one plugin
raises never reaches another's work, and every answer is recorded against the plugin that gave it.
``docs/writing-plugins.md`` documents each hook; a test checks that it does.
"""

from __future__ import annotations

from typing import Any

from gateway.host.declarations import (
    Batching, BatchItem, DeliveryRef, EventSource, IntegrationRef, IntegrationType, StatusCheck,
)
from gateway.events import Event
from gateway.outbound.http import HttpClient
from gateway.host.inbound_request import InboundRequest, Received
from gateway.host.markers import hookspec
from gateway.outcomes import DeliveryResult, Verdict


@hookspec
def integration_type() -> IntegrationType:
    """Declare the integration this plugin offers: key, name, description, config schema, default policy.

    Called once when the plugin is loaded. Returns an :class:`gateway.IntegrationType`.
    """


@hookspec
def event_source() -> EventSource:
    """Declare a webhook source served at ``POST /webhooks/<key>``.

    Called once when the plugin is loaded. Returns an :class:`gateway.EventSource`.
    """


@hookspec
def check_event(event: Event, config: dict[str, Any], integration: IntegrationRef) -> Verdict:
    """The plugin's policy: does this integration take ``event``?

    Called when an event arrives, for each enabled integration of the plugin whose policy allowed it,
    with the integration's validated config (secrets decrypted). Returns :class:`gateway.Take` or
    :class:`gateway.Skip` with a reason a person can act on. Must not make network calls.
    """


@hookspec
def deliver_event(
    event: Event, config: dict[str, Any], http: HttpClient, delivery: DeliveryRef
) -> DeliveryResult:
    """Send ``event`` to the tool.

    Called by a delivery worker for each queued delivery of the plugin's integrations, with the
    core's HTTP client (which records every attempt). Returns :class:`gateway.Delivered`,
    :class:`gateway.RetryLater` or :class:`gateway.Failed`. An exception counts as a retryable
    failure recorded with its message.
    """


@hookspec
def batch_limits(config: dict[str, Any], integration: IntegrationRef) -> Batching | None:
    """Whether this integration's deliveries go to ``deliver_batch``, and how they are gathered.

    Returns :class:`gateway.Batching` (``max_size``, ``max_delay``) or None to deliver one at a time
    through ``deliver_event``. Called by delivery workers with the integration's config; must not
    make network calls. A plugin implements this and ``deliver_batch`` together, or neither.
    """


@hookspec
def deliver_batch(
    items: list[BatchItem], config: dict[str, Any], http: HttpClient, integration: IntegrationRef
) -> dict[str, DeliveryResult]:
    """Send several due deliveries of one integration at once.

    ``items`` (at most ``batch_limits(...).max_size``) each carry an event and its delivery. Returns
    an outcome per delivery, keyed by delivery id: :class:`gateway.Delivered`,
    :class:`gateway.RetryLater` or :class:`gateway.Failed`. Each delivery keeps its own status and
    attempt log; a delivery given no outcome is retried, an exception retries the whole batch.
    Deliveries that are retried together come back together, alone, in one later call.
    """


@hookspec
def receive_webhook(
    request: InboundRequest, config: dict[str, Any], integration: IntegrationRef
) -> Received:
    """Read an inbound webhook sent to ``POST /webhooks/integrations/<id>`` of one of the plugin's
    integrations.

    Gets the raw request (headers, body bytes). Verifies it (raise :class:`gateway.Rejected` to refuse
    it: nothing is stored) and returns :class:`gateway.Received` with the events it carries, which the
    core stores and decides for that integration only. Must answer quickly and make no network calls.
    """


@hookspec
def integration_status(
    config: dict[str, Any], http: HttpClient, integration: IntegrationRef
) -> list[StatusCheck]:
    """Check a configured integration (``GET /api/v1/integrations/<id>/status``).

    Returns a list of :class:`gateway.StatusCheck`, each ``ok``, ``warning`` or ``error`` with a message
    a person can act on, and optionally the name of an action that fixes it.
    """


@hookspec
def integration_action(
    action: str,
    params: dict[str, Any],
    config: dict[str, Any],
    http: HttpClient,
    integration: IntegrationRef,
) -> str:
    """Run an action offered by ``integration_status`` (``POST /api/v1/integrations/<id>/actions/<action>``).

    Returns a message saying what was done; raise :class:`gateway.Rejected` when it cannot be done.
    """


@hookspec
def test_event(config: dict[str, Any], integration: IntegrationRef) -> Event:
    """A clearly labelled sample event, sent on demand through the normal delivery path
    (``POST /api/v1/integrations/<id>/test``)."""

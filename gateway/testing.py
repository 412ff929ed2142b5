"""Test helpers for the gateway and its plugins: public, documented in docs/writing-plugins.md
("Testing a plugin"), and listed in ``__all__``.

For unit tests: :func:`make_event` and friends build events and references; :func:`parse_flag_webhook`
reads a flag-platform webhook body as the gateway does; :func:`http_client` is the core's HTTP client
set up to work under ``requests_mock`` with no DNS and no network. :class:`PluginHarness` (and the
``plugin_harness`` pytest fixture) loads a plugin in-process through the gateway's plugin host and
calls its hooks with the gateway's own validation and outcome handling. :func:`check_plugin` is the
conformance check.

For end-to-end tests: :class:`FakeService` is a real HTTP server on loopback that records what it
receives and answers as told; :class:`GatewayProcess` runs ``event-gateway serve`` in a subprocess
with its own instance folder. Both talk over real HTTP on 127.0.0.1 only.
"""

from __future__ import annotations

# The kit (gateway.kit) holds the helpers; this module is their public face.
from gateway.kit.loopback import (
    LOOPBACK,
    FakeService,
    GatewayProcess,
    RecordedRequest,
    Reply,
    free_port,
    wait_until,
)
from gateway.kit.conformance import ConformanceReport, Finding, check_plugin
from gateway.kit.factories import (
    flag_webhook_body,
    make_delivery_ref,
    make_event,
    make_flag_platform,
    make_integration_ref,
    make_member,
    parse_flag_webhook,
)
from gateway.kit.harness import (
    ActionFailed,
    Attempt,
    Decision,
    InvalidConfig,
    PluginHarness,
    PluginRefused,
    Stage,
)
from gateway.kit.http import http_client

__all__ = [
    # unit tests: events, references, webhook bodies, an offline HTTP client
    "make_event",
    "make_member",
    "make_integration_ref",
    "make_delivery_ref",
    "make_flag_platform",
    "flag_webhook_body",
    "parse_flag_webhook",
    "http_client",
    # in-process: the plugin loaded through the gateway's plugin host
    "PluginHarness",
    "Decision",
    "Stage",
    "Attempt",
    "PluginRefused",
    "InvalidConfig",
    "ActionFailed",
    # conformance
    "check_plugin",
    "ConformanceReport",
    "Finding",
    # end to end: real HTTP on loopback
    "FakeService",
    "Reply",
    "RecordedRequest",
    "GatewayProcess",
    "free_port",
    "wait_until",
]

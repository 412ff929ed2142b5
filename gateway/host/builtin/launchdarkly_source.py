"""The flag-platform webhook source, served at ``POST /webhooks/launchdarkly``."""

from __future__ import annotations

from gateway.host.builtin import launchdarkly
from gateway.host.declarations import EventSource
from gateway.host.markers import hookimpl


@hookimpl(trylast=True)
def event_source() -> EventSource:
    return EventSource(
        key=launchdarkly.SOURCE,
        name="LaunchDarkly flag changes (audit-log webhooks)",
        parse=launchdarkly.parse_request,
        verify=launchdarkly.verify_signature,
        secret_setting="GATEWAY_LAUNCHDARKLY_SECRET",
    )

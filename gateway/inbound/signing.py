"""Whether webhook sources are signed: the warning when one is not, and the refusal when
``GATEWAY_REQUIRE_SIGNED_WEBHOOKS`` asks for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.host.plugins import PluginHost
from gateway.secret_rules import weakness

WEAK_BELOW = 16
"""A source's signing secret shorter than this (or blank, or of one kind of character) is warned about:
not refused, as the sender's user chose it and the webhook already uses it."""


def unsigned_sources(host: PluginHost, config: Mapping[str, Any]) -> dict[str, str]:
    """Sources that can check a signature but have no secret configured: source key -> setting."""
    unsigned = {}
    for key, plugin in sorted(host.sources().items()):
        declaration = plugin.declaration
        if declaration.secret_setting and declaration.verify is not None and not config.get(declaration.secret_setting):
            unsigned[key] = declaration.secret_setting
    return unsigned


def signing_warnings(host: PluginHost, config: Mapping[str, Any], require_signed: bool) -> list[str]:
    """What an operator should know about unsigned webhooks, for the log and ``/healthz``."""
    warnings = []
    for key, setting in unsigned_sources(host, config).items():
        if require_signed:
            warnings.append(f"{setting} is not set and GATEWAY_REQUIRE_SIGNED_WEBHOOKS is on: every webhook "
                            f"to /webhooks/{key} is refused (401)")
        else:
            warnings.append(f"{setting} is not set: webhooks to /webhooks/{key} are accepted unsigned, so anyone "
                            f"who can reach that URL can add events; set {setting} (the webhook's signing secret), "
                            "or GATEWAY_REQUIRE_SIGNED_WEBHOOKS=1 to refuse unsigned ones")
    for key, plugin in sorted(host.sources().items()):
        setting = plugin.declaration.secret_setting
        value = config.get(setting) if setting else None
        why = weakness(str(value), WEAK_BELOW) if value else None
        if why:
            warnings.append(f"{setting} {why}: anyone who guesses it can add events to /webhooks/{key}; give the "
                            "webhook a random secret and set it here (the flag platform lets you choose it)")
    return warnings

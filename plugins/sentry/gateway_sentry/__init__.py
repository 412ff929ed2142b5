"""Sentry plugin of the Flag Event Gateway.

Receives Sentry integration-platform webhooks (``error`` and ``event_alert``), keeps the error events
that carry a LaunchDarkly context, and imports each one into the mapped LaunchDarkly environment as a
custom metric event, so experiments and guarded rollouts can count errors per flag variation.
The hooks are in :mod:`gateway_sentry.plugin`.
"""

__version__ = "0.1.0"

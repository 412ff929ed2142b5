"""Hosting plugins: the plugin manager, hook specs, declarations, fields, integrations, app state."""

EXTENSION_KEY = "event_gateway"
"""Where an app keeps the gateway's state: ``app.extensions[EXTENSION_KEY]`` (:mod:`gateway.host.state`)."""

"""Hosting plugins: the plugin manager, hook specs, declarations, fields, integrations, app state."""

"""The pluggy markers of the gateway: one project name everywhere."""

import pluggy

PROJECT_NAME = "event_gateway"
"""Pluggy project name, and the entry-point group plugins are published under."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

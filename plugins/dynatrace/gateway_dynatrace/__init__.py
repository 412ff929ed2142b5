"""Dynatrace integration for Flag Event Gateway: flag changes as Dynatrace events.

The hooks live in :mod:`gateway_dynatrace.plugin`, published under the ``event_gateway`` entry-point
group as ``dynatrace``.
"""

__version__ = "0.1.0"

"""The admin API under ``/api/v1``: JSON, with ``Authorization: Bearer <GATEWAY_ADMIN_TOKEN>``."""

from __future__ import annotations

from gateway.admin.api.blueprint import bp, json_body
from gateway.admin.api import audit_log, connection, deliveries, events, integrations, openapi, plugins, policy, tokens  # noqa: F401  (routes)

__all__ = ["bp", "json_body"]

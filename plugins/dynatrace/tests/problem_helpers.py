"""Shared material of the dynatrace-problems tests: notifications as Dynatrace posts them, and configs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from gateway import InboundRequest, IntegrationRef

DATA = Path(__file__).resolve().parent / "data"
SECRET = "dt-problems-shared-secret-0123456789"
INTEGRATION = IntegrationRef(id="int_problems_01", name="Checkout kill switch", plugin="dynatrace-problems")
TRIGGER_URL = "https://app.launchdarkly.com/webhook/triggers/65a1b2c3d4e5f60718293a4b/aa0f5e1c-9a7b-4d1e-8f3c-2b6d0e9a1c7f"


def notification(name: str = "problem-open", **changes: Any) -> dict[str, Any]:
    """``data/<name>.json`` with ``changes`` applied (a value of None removes the field)."""
    body = json.loads((DATA / f"{name}.json").read_text())
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def rule(**changes: Any) -> dict[str, Any]:
    """A rule as the schema loads it (defaults filled in)."""
    base = {"name": "checkout errors", "severities": ["ERROR"], "title_pattern": None,
            "title_pattern_syntax": "glob", "tags": ["team:checkout"], "management_zones": [],
            "project_key": "shop", "environment_key": "production", "flag_key": "new-checkout-flow",
            "turn_on_when_resolved": False, "trigger": None, "resolve_trigger": None}
    return {**base, **changes}


def config(*rules: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A config as the gateway hands it to the hooks."""
    base = {"shared_secret": SECRET, "trigger_urls": None, "dry_run": False, "cooldown_seconds": 600,
            "rules": [copy.deepcopy(r) for r in rules] or [rule()]}
    return {**base, **changes}


def request(body: Any, secret: str | None = SECRET, content_type: str = "application/json") -> InboundRequest:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers["X-Flag-Gateway-Secret"] = secret
    return InboundRequest("POST", f"/webhooks/integrations/{INTEGRATION.id}", headers, data, content_type)

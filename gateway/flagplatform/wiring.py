"""The webhook the gateway wires in the flag platform: created, or found and updated, idempotently.

The gateway looks for its webhook by the id it stored, then by URL (``<public URL>/webhooks/launchdarkly``),
and creates one only when neither finds it. A found webhook is changed only where it differs from
what it should be, so wiring twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.flagplatform.client import FlagPlatformClient

WEBHOOK_PATH = "/webhooks/launchdarkly"
PATCHED_FIELDS = ("url", "on", "name", "tags", "statements")


@dataclass(frozen=True)
class Desired:
    """The webhook as it should be."""

    url: str
    secret: str
    name: str
    tags: tuple[str, ...]
    statements: list[dict[str, Any]] | None  # None: leave whatever the webhook has

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"url": self.url, "sign": True, "secret": self.secret, "on": True,
                                "name": self.name, "tags": list(self.tags)}
        if self.statements is not None:
            body["statements"] = self.statements
        return body


@dataclass(frozen=True)
class Wired:
    """What wiring did: ``created``, ``updated`` (with the fields changed) or ``unchanged``."""

    action: str
    webhook_id: str
    changed: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.action == "updated":
            return f"updated webhook {self.webhook_id} ({', '.join(self.changed)})"
        return f"{self.action} webhook {self.webhook_id}"


def _same_url(a: Any, b: str) -> bool:
    return isinstance(a, str) and a.rstrip("/") == b.rstrip("/")


def find_webhook(client: FlagPlatformClient, url: str, webhook_id: str | None) -> dict[str, Any] | None:
    """The gateway's webhook: the one with the stored id, else the first whose URL is ``url``."""
    if webhook_id:
        found = client.get_webhook(webhook_id)
        if found is not None:
            return found
    return next((item for item in client.list_webhooks() if _same_url(item.get("url"), url)), None)


def operations(webhook: dict[str, Any], desired: Desired, secret_set: bool = False) -> list[dict[str, Any]]:
    """The JSON Patch operations that make ``webhook`` what ``desired`` says. ``secret_set``: the
    gateway already set this secret on this webhook (for a platform that does not show secrets)."""
    wanted = desired.body()
    ops = []
    for name in PATCHED_FIELDS:
        if name not in wanted:
            continue
        current = webhook.get(name)
        if name == "url":
            same = _same_url(current, wanted[name])
        elif name == "tags":
            same = sorted(current or []) == sorted(wanted[name])
        else:
            same = current == wanted[name]
        if not same:
            ops.append({"op": "replace", "path": f"/{name}", "value": wanted[name]})
    if webhook.get("sign") is False:
        ops.append({"op": "replace", "path": "/sign", "value": True})
    # The platform may not show the secret; when it does not, set it unless the gateway already did.
    if ("secret" in webhook and webhook["secret"] != desired.secret) or ("secret" not in webhook and not secret_set):
        ops.append({"op": "replace", "path": "/secret", "value": desired.secret})
    return ops


def wire(client: FlagPlatformClient, desired: Desired, webhook_id: str | None, secret_set: bool = False) -> Wired:
    """Create the webhook, or find it and bring it up to date. ``secret_set``: the gateway already
    set ``desired.secret`` on the webhook ``webhook_id``."""
    webhook = find_webhook(client, desired.url, webhook_id)
    if webhook is None:
        created = client.create_webhook(desired.body())
        return Wired("created", str(created.get("_id") or ""))
    found_id = str(webhook.get("_id") or webhook_id or "")
    ops = operations(webhook, desired, secret_set=secret_set and found_id == webhook_id)
    if not ops:
        return Wired("unchanged", found_id)
    client.patch_webhook(found_id, ops)
    return Wired("updated", found_id, tuple(op["path"].lstrip("/") for op in ops))

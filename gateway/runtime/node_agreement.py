"""What every node (process) of one database must share, checked at start-up.

Several ``serve`` and ``worker`` processes, on one machine or many, may share a database. They must
share the secret key (a node with another key cannot open the secrets the others sealed, and seals
what they cannot open) and the admin token (or the API would take different tokens on different
nodes). The database keeps a fingerprint of the key (an HMAC, which tells nothing about the key) and
the admin token's SHA-256 hash in ``gateway_meta``; the first node records them, and every node
compares its own at start-up, under the start-up lock:

- a different secret key: the node refuses to start (:class:`NodeMismatch`), naming
  ``GATEWAY_SECRET_KEY``;
- no admin token of its own (no ``GATEWAY_ADMIN_TOKEN``, no hash file in its instance folder) while
  the database has one, or a different one: :attr:`AdminToken.problem` says so; ``serve`` refuses to
  start and the admin API answers 503 with it. Workers and the CLI need no admin token.

A database made before fingerprints adopts the first node's key, after checking that the key opens
a stored secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select

from gateway.runtime.admin_token import ensure_admin_token, local_token_hash
from gateway.crypto import SecretBox
from gateway.host import audit
from gateway.store import audit_log, meta
from gateway.store.tables import audit_log as audit_log_table
from gateway.store.tables import integrations

SECRET_KEY_FINGERPRINT = "secret_key_fingerprint"
ADMIN_TOKEN_HASH = "admin_token_sha256"
FINGERPRINT_LABEL = b"event-gateway secret key fingerprint v1"


class NodeMismatch(RuntimeError):
    """This node's settings differ from those the database's other nodes use; the message says which."""


def key_fingerprint(key: bytes) -> str:
    """An HMAC-SHA256 of a fixed label under the key: equal keys, equal fingerprints; nothing about the key."""
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def check_secret_key(connection: Connection, box: SecretBox) -> None:
    mine = key_fingerprint(box.key)
    stored = meta.read(connection, SECRET_KEY_FINGERPRINT)
    if stored == mine:
        return
    if stored is not None:
        raise NodeMismatch(
            "this node's secret key is not the one the other nodes of this database use (its fingerprint "
            "differs): give every node the same GATEWAY_SECRET_KEY (or the same secret.key file in its "
            "instance folder); a node with another key could not open the integrations' secrets")
    sealed = connection.execute(
        select(integrations.c.secrets).where(integrations.c.secrets.is_not(None)).limit(1)).scalar()
    if sealed is not None and not box.can_open(sealed):
        raise NodeMismatch(
            "this node's secret key cannot open the secrets stored in this database: start it with the "
            "GATEWAY_SECRET_KEY (or the instance folder's secret.key) that sealed them")
    meta.write(connection, SECRET_KEY_FINGERPRINT, mine)


@dataclass(frozen=True)
class AdminToken:
    """The admin token's hash this node checks requests against, or the problem that keeps it from
    serving the admin API."""

    hash: str | None
    problem: str | None = None


def agree_on_admin_token(connection: Connection, configured: str | None, instance_path: str) -> AdminToken:
    mine = local_token_hash(configured, instance_path)
    stored = meta.read(connection, ADMIN_TOKEN_HASH)
    if stored is None:
        if mine is None:  # the first node of a new database, without a token: make one (printed once)
            mine = ensure_admin_token(None, instance_path)
        meta.write(connection, ADMIN_TOKEN_HASH, mine)
        if connection.execute(select(audit_log_table.c.id).limit(1)).first() is not None:
            # not a new database: a replaced admin token (``db forget-admin-token``) is recorded
            entry = audit.prepared("admin_token.record", "automatic", token="admin")
            audit_log.insert(connection, **entry)
            audit.log_line(entry)
        return AdminToken(mine)
    if mine is None:
        return AdminToken(None, (
            "this node has no admin token, but the other nodes of this database have one: set "
            "GATEWAY_ADMIN_TOKEN to the token they use (to replace the token everywhere, stop every node "
            "and run 'event-gateway db forget-admin-token')"))
    if mine != stored:
        return AdminToken(None, (
            "this node's admin token differs from the one the other nodes of this database use: give "
            "every node the same GATEWAY_ADMIN_TOKEN (to replace the token everywhere, stop every node "
            "and run 'event-gateway db forget-admin-token')"))
    return AdminToken(mine)


def forget_admin_token(connection: Connection, origin: str | None = None) -> bool:
    """Drop the recorded admin token hash: the next node to start records its own. ``origin``: who
    asked, for the audit log (``admin_token.forget``, written in the same transaction)."""
    forgotten = meta.forget(connection, ADMIN_TOKEN_HASH)
    if forgotten and origin is not None:
        entry = audit.prepared("admin_token.forget", origin, token="admin")
        audit_log.insert(connection, **entry)
        audit.log_line(entry)
    return forgotten


# Settings every process of one gateway must share, beyond the key and the admin token: a process
# that differs is not refused (a rolling change of one of them passes through a mixed state), but
# says so in the log and, on a `serve` node, in /healthz. The database keeps the last value each was
# started with: in the clear for plain settings, as an HMAC under the (shared, checked) secret key
# for secrets. Workers take no webhooks, so only `serve` compares the webhook settings.
SHARED_BY_EVERY_PROCESS: dict[str, str] = {
    "GATEWAY_ALLOW_PRIVATE_TARGETS": "a process without it fails the deliveries to private or http:// targets "
                                     "that another accepted",
    "GATEWAY_PLUGINS": "a worker can deliver only for the plugins it loaded (the others wait for another worker)",
    "GATEWAY_RETRY_SCHEDULE": "workers would retry the same delivery on different schedules",
    "GATEWAY_LEASE_SECONDS": "a worker with a shorter lease takes deliveries another is still attempting",
    "GATEWAY_RETENTION_DAYS": "each process prunes records by its own retention",
}
SHARED_BY_SERVING_NODES: dict[str, str] = {
    "GATEWAY_LAUNCHDARKLY_SECRET": "a node with another signing secret answers every signed webhook 401",
    "GATEWAY_REQUIRE_SIGNED_WEBHOOKS": "nodes would accept different webhooks",
    "GATEWAY_PUBLIC_URL": "nodes would show different webhook URLs",
    "GATEWAY_MAX_BODY_BYTES": "nodes would accept different webhooks",
}
SECRET_SETTINGS = frozenset({"GATEWAY_LAUNCHDARKLY_SECRET"})
SHARED_SETTING_KEY = "shared_setting:"
SETTING_FINGERPRINT_LABEL = b"event-gateway shared setting fingerprint v1\0"


def _shared_setting_text(name: str, settings: Any) -> str:
    """One setting's value as this process reads it, in a form equal settings share."""
    value = {
        "GATEWAY_ALLOW_PRIVATE_TARGETS": lambda: "1" if settings.allow_private_targets else "0",
        "GATEWAY_PLUGINS": lambda: "(all)" if settings.plugins is None else ",".join(sorted(settings.plugins)),
        "GATEWAY_RETRY_SCHEDULE": lambda: ",".join(f"{s:g}" for s in settings.retry_schedule),
        "GATEWAY_LEASE_SECONDS": lambda: f"{settings.lease_seconds:g}",
        "GATEWAY_RETENTION_DAYS": lambda: f"{settings.retention_days:g}",
        "GATEWAY_LAUNCHDARKLY_SECRET": lambda: settings.launchdarkly_secret or "",
        "GATEWAY_REQUIRE_SIGNED_WEBHOOKS": lambda: "1" if settings.require_signed_webhooks else "0",
        "GATEWAY_PUBLIC_URL": lambda: settings.public_url or "(unset)",
        "GATEWAY_MAX_BODY_BYTES": lambda: str(settings.max_body_bytes),
    }[name]()
    return value


def agree_on_shared_settings(connection: Connection, settings: Any, box: SecretBox, role: str) -> list[str]:
    """Compare this process's shared settings with those the last process to start recorded, then
    record its own (in the start-up transaction, under its lock). ``role``: ``serve`` or ``worker``.
    Returns a warning per setting that differs, naming it and what goes wrong; no secret is shown."""
    names = dict(SHARED_BY_EVERY_PROCESS)
    if role == "serve":
        names.update(SHARED_BY_SERVING_NODES)
    warnings = []
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for name, consequence in names.items():
        mine = _shared_setting_text(name, settings)
        if name in SECRET_SETTINGS:
            mine = hmac.new(box.key, SETTING_FINGERPRINT_LABEL + mine.encode(), hashlib.sha256).hexdigest()
        key = SHARED_SETTING_KEY + name
        stored_text = meta.read(connection, key)
        stored = json.loads(stored_text) if stored_text else None
        if stored is not None and stored.get("value") != mine:
            values = ("" if name in SECRET_SETTINGS
                      else f" (this {role}: {mine!r}; the other: {stored.get('value')!r})")
            warnings.append(
                f"{name} differs from the one the last process to start before this {role} used (a "
                f"{stored.get('role', 'process')}, at {stored.get('at', '?')}){values}: every process of one gateway "
                f"must share it — {consequence}")
        meta.write(connection, key, json.dumps({"value": mine, "role": role, "at": started}))
    return warnings

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
from dataclasses import dataclass

from sqlalchemy import Connection, select

from .admin_token import ensure_admin_token, local_token_hash
from .crypto import SecretBox
from .store import meta
from .store.tables import integrations

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


def forget_admin_token(connection: Connection) -> bool:
    """Drop the recorded admin token hash: the next node to start records its own."""
    return meta.forget(connection, ADMIN_TOKEN_HASH)

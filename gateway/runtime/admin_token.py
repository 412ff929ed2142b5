"""The admin API's bearer token: from ``GATEWAY_ADMIN_TOKEN``, or generated once and kept only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys

from gateway.crypto import write_private_file

HASH_FILE = "admin-token.sha256"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def local_token_hash(configured: str | None, instance_path: str) -> str | None:
    """This node's admin token hash: of ``GATEWAY_ADMIN_TOKEN``, else the instance folder's hash file,
    else None."""
    if configured:
        return token_hash(configured)
    try:
        with open(os.path.join(instance_path, HASH_FILE), encoding="ascii") as handle:
            return handle.read().strip() or None
    except FileNotFoundError:
        return None


def ensure_admin_token(configured: str | None, instance_path: str) -> str:
    """The hash of the admin token. Without a configured one, the first start generates a token,
    prints it once on stderr, and keeps only its hash in the instance folder (mode 0600)."""
    if configured:
        return token_hash(configured)
    path = os.path.join(instance_path, HASH_FILE)
    token = secrets.token_urlsafe(32)
    # Written in full under a temporary name, then linked into place: a process starting at the
    # same moment finds either no file or a complete one, never an empty one.
    staging = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
    write_private_file(staging, token_hash(token).encode())
    try:
        os.link(staging, path)
    except FileExistsError:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    finally:
        os.unlink(staging)
    print(
        "event-gateway: generated the admin API token (shown only this once; keep it safe):\n"
        f"  {token}\n"
        f"Send it as 'Authorization: Bearer <token>'. To replace it, stop the gateway, delete {path}, run "
        "'event-gateway db forget-admin-token' and start again (or set GATEWAY_ADMIN_TOKEN on every node).",
        file=sys.stderr,
        flush=True,
    )
    return token_hash(token)


def check_bearer(header: str | None, expected_hash: str | None) -> bool:
    """Whether an ``Authorization`` header carries the admin token (compared in constant time); never
    on a node that has no admin token (``expected_hash`` None)."""
    if not header or expected_hash is None:
        return False
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return hmac.compare_digest(token_hash(token.strip()), expected_hash)

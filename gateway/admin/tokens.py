"""Named API tokens with one of three fixed roles, and who a request comes from.

``viewer`` reads everything the API and UI show and changes nothing; ``operator`` also retries,
replays, tests, enables and disables integrations and runs checks and their actions; ``admin`` also
creates, edits and deletes integrations, the flag-platform connection and tokens. The admin token
(``GATEWAY_ADMIN_TOKEN`` or the generated one, :mod:`gateway.admin_token`) is the ``admin`` token;
named tokens are stored as SHA-256 hashes only (:mod:`gateway.store.api_tokens`), their secret shown
once at creation.

Every request looks its token up in the database (one indexed read), so a revoked token is refused
at once by every node and process. The last use (time and origin) is written at most once per
:data:`USE_RECORD_SECONDS` per token and process, not once per request.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from gateway.host import audit
from gateway.runtime.admin_token import token_hash
from gateway.responses import ApiError
from gateway.store.api_tokens import NameTaken, TokenRow
from gateway.store.base import now

ROLES = ("viewer", "operator", "admin")
RANK = {role: rank for rank, role in enumerate(ROLES)}
ADMIN_NAME = "admin"
RESERVED_NAMES = frozenset({ADMIN_NAME, audit.GATEWAY_ACTOR, audit.ANONYMOUS})
TOKEN_PREFIX = "egw_"
USE_RECORD_SECONDS = 60.0
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a token's name and role (``token_id`` None for the admin token)."""

    name: str
    role: str
    token_id: str | None = None

    def may(self, needed: str) -> bool:
        """Whether this role includes ``needed``."""
        return RANK[self.role] >= RANK[needed]


ADMIN = Principal(ADMIN_NAME, "admin")


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class UseRecorder:
    """Writes a token's last use at most once per :data:`USE_RECORD_SECONDS` (per process)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, token_id: str) -> bool:
        at = self._clock()
        with self._lock:
            last = self._last.get(token_id)
            if last is not None and at - last < USE_RECORD_SECONDS:
                return False
            if len(self._last) > 10_000:
                self._last.clear()
            self._last[token_id] = at
            return True


def identify(state: Any, token: str | None, origin: str) -> Principal | None:
    """The principal of ``token`` (the admin token, or a live named token), or None. Records the use
    of a named token (``origin``: api or ui), at most once a minute."""
    if not token:
        return None
    digest = token_hash(token)
    if state.admin_token_hash is not None and hmac.compare_digest(digest, state.admin_token_hash):
        return ADMIN
    row = state.db.api_tokens.find_live(digest)
    if row is None:
        return None
    if state.token_uses.due(row.id):
        try:
            state.db.api_tokens.used(row.id, now(), origin)
        except Exception:  # the record of a use is worth less than the request it came with
            pass
    return Principal(row.name, row.role, row.id)


# the admin actions on tokens --------------------------------------------------------------------

def _check(name: Any, role: Any) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        errors["name"] = ["1 to 100 letters, digits and . _ @ -, starting with a letter or digit"]
    elif name in RESERVED_NAMES:
        errors["name"] = [f"{name!r} is reserved"]
    if role not in ROLES:
        errors["role"] = [f"one of {', '.join(ROLES)}"]
    if errors:
        raise ApiError(400, "invalid token", errors)
    return name, role


def create_token(state: Any, body: Any, origin: str) -> tuple[TokenRow, str]:
    """A new named token (``{"name", "role"}``) and its secret, which is shown only this once."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    unknown = sorted(set(body) - {"name", "role"})
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}", {k: ["unknown field"] for k in unknown})
    name, role = _check(body.get("name"), body.get("role"))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    entry = audit.prepared("token.create", origin, token=name, role=role)
    try:
        row = state.db.api_tokens.create(name=name, role=role, token_hash=token_hash(secret),
                                         created_by=audit.current_actor(origin)[0], at=now(), audit=entry)
    except NameTaken:
        raise ApiError(409, f"a token named {name!r} exists: revoke it first or choose another name",
                       {"name": ["taken"]}) from None
    audit.log_line(entry)
    return row, secret


def revoke_token(state: Any, id_or_name: str, origin: str) -> TokenRow:
    """Revoke a live token (by id or name): refused from the next request on, on every node."""
    if id_or_name == ADMIN_NAME:
        raise ApiError(409, "the admin token cannot be revoked here: replace GATEWAY_ADMIN_TOKEN (see "
                            "'event-gateway db forget-admin-token')")
    row = state.db.api_tokens.get(id_or_name)
    if row is None:
        raise ApiError(404, f"no live token {id_or_name!r}")
    entry = audit.prepared("token.revoke", origin, token=row.name, role=row.role)
    if not state.db.api_tokens.revoke(row.id, now(), audit=entry):  # revoked meanwhile
        raise ApiError(404, f"no live token {id_or_name!r}")
    audit.log_line(entry)
    return row


def shown(row: TokenRow) -> dict[str, Any]:
    """A token as the API and CLI show it (never its secret or hash)."""
    return {"id": row.id, "name": row.name, "role": row.role, "created_at": row.created_at,
            "created_by": row.created_by, "revoked_at": row.revoked_at, "last_used_at": row.last_used_at,
            "last_used_origin": row.last_used_origin}

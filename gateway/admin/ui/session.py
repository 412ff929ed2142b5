"""The web UI's session: a signed cookie that says whether the browser signed in (with the admin
token or a named token, :mod:`gateway.admin.tokens`), carries the CSRF token of its forms, and a few
one-off messages for the next page.

A signed-in cookie also carries a random session id, and the session is live only while the database
holds it (:mod:`gateway.store.ui_sessions`, the id's SHA-256 only, with the name and role of the
token signed in with): signing out ends it on the server, so a copy of the cookie taken before is
refused too, and revoking the token ends its sessions.

The cookie is signed (itsdangerous, with a key derived from the instance's secret key and the admin
token's hash, so replacing either signs everyone out), ``HttpOnly``, ``SameSite=Lax``, limited to
``/ui/``, ``Secure`` when ``GATEWAY_PUBLIC_URL`` is https or the request itself came over https
(forwarded headers such as ``X-Forwarded-Proto`` are not trusted: any client can send them), and expires after
``GATEWAY_UI_SESSION_HOURS``. It holds no token and no secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from gateway.host.state import GatewayState
from gateway.admin.tokens import Principal

COOKIE = "gateway_ui_session"
COOKIE_PATH = "/ui/"
CSRF_FIELD = "csrf_token"
MAX_NOTICES = 3
MAX_NOTICE_CHARS = 400


@dataclass
class UiSession:
    signed_in: bool = False
    sid: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    started: float = field(default_factory=time.time)
    notices: list[dict[str, str]] = field(default_factory=list)
    changed: bool = False
    principal: Principal | None = None  # who signed in (read from the database on each request)

    def notice(self, text: str, kind: str = "ok", link: str | None = None, link_text: str | None = None) -> None:
        """A message for the next page shown (``kind``: ok, error, info)."""
        item = {"kind": kind, "text": text[:MAX_NOTICE_CHARS]}
        if link:
            item["link"] = link
            item["link_text"] = (link_text or link)[:100]
        self.notices = (self.notices + [item])[-MAX_NOTICES:]
        self.changed = True

    def take_notices(self) -> list[dict[str, str]]:
        taken, self.notices = self.notices, []
        if taken:
            self.changed = True
        return taken

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(submitted.encode(), self.csrf.encode())

    def to_dict(self) -> dict[str, Any]:
        data = {"in": self.signed_in, "csrf": self.csrf, "t": self.started, "n": self.notices}
        if self.sid is not None:
            data["sid"] = self.sid
        return data


def _serializer(state: GatewayState) -> URLSafeTimedSerializer:
    # A node without the admin token (see gateway.runtime.node_agreement) signs with a key no browser holds:
    # every session is refused, and sign-in fails as the API's token check does.
    key = state.box.derive_key("ui-session:" + (state.admin_token_hash or "no-admin-token:" + secrets.token_hex(16)))
    return URLSafeTimedSerializer(key, salt="gateway-ui-session")


def max_age(state: GatewayState) -> int:
    return max(1, int(state.settings.ui_session_hours * 3600))


def load(state: GatewayState, request: Request) -> UiSession:
    """The request's session; a fresh signed-out one when there is none, or it is forged or expired."""
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(state).loads(raw, max_age=max_age(state))
        except BadSignature:  # SignatureExpired is one too
            data = None
        if isinstance(data, dict) and isinstance(data.get("csrf"), str):
            started = data.get("t") if isinstance(data.get("t"), (int, float)) else 0
            if time.time() - started <= max_age(state):  # the sign-in's age, not the last re-issue's
                notices = [n for n in data.get("n") or [] if isinstance(n, dict)]
                sid = data.get("sid") if isinstance(data.get("sid"), str) else None
                who = _who(state, sid) if data.get("in") is True and sid is not None else None
                signed_in = who is not None
                principal = Principal(who[1], who[2], who[0]) if who is not None else None
                return UiSession(signed_in=signed_in, sid=sid if signed_in else None, csrf=data["csrf"],
                                 started=started, notices=notices, changed=not signed_in and sid is not None,
                                 principal=principal)
    return UiSession(changed=True)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _who(state: GatewayState, sid: str) -> tuple[str | None, str, str] | None:
    return state.db.ui_sessions.who(_hash(sid), time.time())


def sign_in(state: GatewayState, session: UiSession, principal: Principal) -> UiSession:
    """A new session signed in as ``principal``, recorded on the server (new CSRF token: one fixed
    before sign-in is not carried over)."""
    fresh = UiSession(signed_in=True, sid=secrets.token_urlsafe(32), notices=session.notices, changed=True,
                      principal=principal)
    state.db.ui_sessions.start(_hash(fresh.sid), started_at=fresh.started, expires_at=fresh.started + max_age(state),
                               token_id=principal.token_id, token_name=principal.name, role=principal.role)
    return fresh


def sign_out(state: GatewayState, session: UiSession) -> None:
    """End the session on the server: its cookie, and every copy of it, no longer signs anyone in."""
    if session.sid is not None:
        state.db.ui_sessions.end(_hash(session.sid))


def is_https(state: GatewayState, request: Request) -> bool:
    """Whether the cookie is ``Secure``: the gateway's public address is https (behind a proxy that
    ends TLS), or this request came over https. Never from a forwarded header, which any client can send."""
    return (state.settings.public_url or "").startswith("https://") or request.is_secure


def save(state: GatewayState, session: UiSession, request: Request, response: Response) -> None:
    """Write the session cookie when it changed."""
    if not session.changed:
        return
    response.set_cookie(
        COOKIE, _serializer(state).dumps(session.to_dict()), max_age=max_age(state), path=COOKIE_PATH,
        httponly=True, samesite="Lax", secure=is_https(state, request),
    )


def clear(state: GatewayState, request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="Lax",
                           secure=is_https(state, request))

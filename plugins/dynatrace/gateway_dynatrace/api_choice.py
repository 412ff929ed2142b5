"""``api_version: auto``: which Events API a token can send to, from what Dynatrace says of it.

The token lookup (``POST /api/v2/apiTokens/lookup``, see :mod:`gateway_dynatrace.checks`) lists the
token's scopes. Events API v2 takes ``events.ingest``; v1 takes ``DataExport`` ("Access problem and
event feed, metrics, and topology", the scope the hosted integration's set-up page asks for). With
``events.ingest`` the events go to v2; with ``DataExport`` only, to v1. When the lookup cannot tell
(Dynatrace unreachable, an answer that is not a token's metadata), v2 is tried.

The scopes are kept per environment URL and token for :data:`SCOPES_SECONDS`, so that a delivery
does not look the token up each time; a ``403`` looks it up again (the token may have changed).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from gateway import HttpClient

from .checks import SCOPE_NAMES, V1_SCOPE, V2_SCOPE, token_check
from .schema import Settings

AUTO = "auto"
SCOPES_SECONDS = 300.0

_scopes: dict[str, tuple[float, list[str]]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Choice:
    """The API version to send with, and why (shown in the attempt and the status)."""

    version: str
    why: str


def _key(settings: Settings) -> str:
    return hashlib.sha256(f"{settings.url}\x00{settings.api_token}".encode()).hexdigest()


def token_scopes(http: HttpClient, settings: Settings, *, fresh: bool = False,
                 clock=time.monotonic) -> tuple[list[str] | None, str]:
    """The token's scopes (None when the lookup could not tell) and the lookup's message."""
    key = _key(settings)
    if not fresh:
        with _lock:
            kept = _scopes.get(key)
        if kept is not None and clock() - kept[0] < SCOPES_SECONDS:
            return kept[1], "token scopes looked up lately"
    check, scopes = token_check(http, settings, datetime.now(timezone.utc))
    if scopes is not None:
        with _lock:
            _scopes[key] = (clock(), scopes)
    return scopes, check.message


def choose(scopes: list[str] | None, lookup: str = "") -> Choice:
    """The version for a token with ``scopes`` (None: the lookup did not tell)."""
    if scopes is None:
        return Choice("v2", f"the token lookup did not tell the token's scopes ({lookup}); trying Events API v2")
    if V2_SCOPE in scopes:
        return Choice("v2", f"the token has {V2_SCOPE}")
    if V1_SCOPE in scopes:
        return Choice("v1", f"the token has {SCOPE_NAMES[V1_SCOPE]} and not {V2_SCOPE}")
    return Choice("v2", f"the token has neither {V2_SCOPE} nor {V1_SCOPE}; trying Events API v2")


def other_version(version: str, scopes: list[str] | None) -> Choice | None:
    """After a 403 on ``version``: the other version, when the token holds its scope."""
    if scopes is None:
        return None
    if version == "v2" and V1_SCOPE in scopes:
        return Choice("v1", f"Events API v2 refused the token (403) and the token has {V1_SCOPE}")
    if version == "v1" and V2_SCOPE in scopes:
        return Choice("v2", f"Events API v1 refused the token (403) and the token has {V2_SCOPE}")
    return None


def forget() -> None:
    """Drop every kept token's scopes (for tests)."""
    with _lock:
        _scopes.clear()

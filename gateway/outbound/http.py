"""The HTTP client the core hands to plugins.

It pools connections, applies connect and read timeouts, never follows redirects, refuses targets
the guard forbids (:mod:`gateway.outbound.targets`) and connects only to the addresses it checked
(:mod:`gateway.outbound.pinning`), and records every exchange — method, URL and a
bounded excerpt of the answer, with every secret of the integration removed — for the attempt log.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import requests

from gateway.outbound.pinning import mount_pinned, pin_request
from gateway.redaction import REDACTED, clean_url, redact  # noqa: F401 (redact and REDACTED: used from here)
from gateway.outbound.targets import TargetNotAllowed, pin_target

EXCERPT_CHARS = 2000
MAX_RESPONSE_BYTES = 1024 * 1024
RETRY_AFTER_MIN = 1.0
RETRY_AFTER_MAX = 6 * 3600.0


class TransportError(Exception):
    """The request did not get an answer (time-out, refused connection, DNS failure): worth retrying."""


@dataclass
class Exchange:
    """One request and its outcome, as recorded for the attempt log (secrets already removed)."""

    method: str
    url: str
    status: int | None
    duration_ms: float
    excerpt: str | None = None
    error: str | None = None
    deliveries: tuple[str, ...] | None = None  # in a batch: the deliveries the request carried (None: all)


class HttpResponse:
    """An answer from the target: status, headers and body, with helpers for retry decisions."""

    def __init__(self, response: requests.Response):
        self._response = response
        self.status_code: int = response.status_code
        self.headers = response.headers
        self.content: bytes = response.content

    @property
    def text(self) -> str:
        return self._response.text

    def json(self) -> Any:
        """The body decoded as JSON; ``ValueError`` when it is not JSON."""
        return self._response.json()

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_retryable(self) -> bool:
        """429 and 5xx answers are worth retrying."""
        return self.status_code == 429 or self.status_code >= 500

    @property
    def retry_after(self) -> float | None:
        """``Retry-After`` in seconds (either form), bounded to 1 s .. 6 h; None when absent or unreadable."""
        value = self.headers.get("Retry-After")
        if not value:
            return None
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            seconds = (when - datetime.now(timezone.utc)).total_seconds()
        if seconds != seconds:  # NaN
            return None
        return min(max(seconds, RETRY_AFTER_MIN), RETRY_AFTER_MAX)


def _read_bounded(response: requests.Response) -> None:
    """Read at most :data:`MAX_RESPONSE_BYTES` of the body (an endless answer must not fill the
    worker's memory), then give the connection back to the pool or close it."""
    try:
        body = b""
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                body = body[:MAX_RESPONSE_BYTES]
                response.close()  # the rest is not wanted; this connection is not reused
                break
        response._content = body  # what .content, .text and .json() read from
    finally:
        response.close()


def make_session(pool_size: int = 10) -> requests.Session:
    """A pooled session (one connection pool per checked address) for :class:`HttpClient`: it
    connects only to addresses the target guard checked (:mod:`gateway.outbound.pinning`) and ignores
    proxy settings of the environment."""
    session = mount_pinned(requests.Session(), pool_size)
    session.trust_env = False
    return session


class HttpClient:
    """What a plugin's hooks use to talk to their tool. One is made for each attempt; it shares the
    worker's pooled session and keeps the :class:`Exchange` records of that attempt."""

    def __init__(
        self,
        session: requests.Session,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        allow_private: bool = False,
        secrets: Iterable[str] = (),
        user_agent: str = "event-gateway",
    ):
        self._session = mount_pinned(session)
        self._timeout = (connect_timeout, read_timeout)
        self._allow_private = allow_private
        self._secrets = [s for s in secrets if s]
        self._user_agent = user_agent
        self.exchanges: list[Exchange] = []
        self._for: tuple[str, ...] | None = None

    def add_secrets(self, *values: str) -> None:
        """Also remove these values from what is recorded."""
        self._secrets.extend(v for v in values if v)

    def redact(self, text: str) -> str:
        """``text`` (from an answer of this client's requests) without this client's secrets, as the
        attempt log records it: for every text kept or shown from an answer, not only the excerpt."""
        return redact(text, self._secrets)

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        deliveries: Iterable[str] | None = None,
    ) -> HttpResponse:
        """Send a request. Raises :class:`TransportError` when no answer came and
        :class:`gateway.TargetNotAllowed` when the target is forbidden; any answer, 4xx and 5xx
        included, is returned. In ``deliver_batch``, ``deliveries`` names the deliveries the request
        carries: the exchange is then recorded in their attempt logs only (by default, in all)."""
        self._for = tuple(deliveries) if deliveries is not None else None
        all_headers = {"User-Agent": self._user_agent}
        all_headers.update(headers or {})
        prepared = requests.Request(
            method.upper(), url, json=json, data=data, headers=all_headers, params=params
        ).prepare()
        logged_url = clean_url(prepared.url, self._secrets)
        started = time.perf_counter()
        try:
            pinned = pin_target(prepared.url, allow_private=self._allow_private)
        except TargetNotAllowed as exc:
            self._record(method, logged_url, None, started, error=f"refused: {exc}")
            raise
        except OSError as exc:
            self._record(method, logged_url, None, started, error=f"DNS: {exc}")
            raise TransportError(f"cannot resolve {urlsplit(url).hostname}: {exc}") from None
        pin_request(prepared, pinned)  # connect to the addresses just checked, never resolve again
        try:
            response = self._session.send(prepared, timeout=self._timeout, allow_redirects=False, stream=True)
            _read_bounded(response)
        except requests.Timeout as exc:
            message = f"timed out after {self._timeout[0]:g}s connect / {self._timeout[1]:g}s read"
            self._record(method, logged_url, None, started, error=f"{message}: {type(exc).__name__}")
            raise TransportError(f"{method.upper()} {logged_url} {message}") from None
        except requests.RequestException as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", self._secrets)
            self._record(method, logged_url, None, started, error=detail)
            raise TransportError(f"{method.upper()} {logged_url} failed: {detail}") from None
        result = HttpResponse(response)
        text = result.content[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
        excerpt = redact(text, self._secrets)[:EXCERPT_CHARS]  # redact first: no secret cut in two
        self._record(method, logged_url, result.status_code, started, excerpt=excerpt)
        return result

    def get(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.request("POST", url, **kwargs)

    def _record(self, method, url, status, started, *, excerpt=None, error=None) -> None:
        self.exchanges.append(
            Exchange(
                method=method.upper(),
                url=url,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                excerpt=excerpt,
                error=error,
                deliveries=self._for,
            )
        )

    def exchanges_for(self, delivery_id: str) -> list[dict[str, Any]]:
        """The exchanges of ``delivery_id``'s attempt: those made for it, or for no delivery in particular."""
        return [
            {"method": e.method, "url": e.url, "status": e.status, "duration_ms": e.duration_ms,
             "excerpt": e.excerpt, "error": e.error}
            for e in self.exchanges if e.deliveries is None or delivery_id in e.deliveries
        ]

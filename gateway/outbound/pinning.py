"""The transport that connects only to addresses the target guard has checked.

:class:`PinnedAdapter` is a ``requests`` transport adapter. For each request it takes the addresses
:func:`gateway.outbound.targets.pin_target` resolved and checked (attached with :func:`pin_request`, or found
here when a request arrives without them) and connects to those, in order, never resolving the name
again. (With private targets allowed nothing is checked, and the name is resolved as usual.) The name stays what the server sees: the ``Host`` header, the TLS server name (SNI) and the
certificate check all use it, so a pinned HTTPS request is verified exactly as an ordinary one.

Proxies are never used: a proxy would resolve the name itself, after the check. ``HTTP_PROXY``,
``HTTPS_PROXY`` and a session's ``proxies`` are ignored, and a ``Proxy-Authorization`` header is
dropped rather than sent to the target.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from gateway.outbound.targets import PinnedTarget, pin_target

PIN_ATTRIBUTE = "gateway_pinned_target"
ADDRESS_ATTRIBUTE = "gateway_connect_to"


def pin_request(prepared: requests.PreparedRequest, pinned: PinnedTarget) -> None:
    """Attach checked addresses to ``prepared`` (whose URL they were checked for)."""
    setattr(prepared, PIN_ATTRIBUTE, (prepared.url, pinned))


def pinned_target(prepared: requests.PreparedRequest) -> PinnedTarget:
    """The checked addresses for ``prepared``; resolved and checked now when none are attached, or
    when the URL changed since (``TargetNotAllowed`` or ``OSError`` then)."""
    attached = getattr(prepared, PIN_ATTRIBUTE, None)
    if attached is not None and attached[0] == prepared.url:
        return attached[1]
    pinned = pin_target(prepared.url)
    pin_request(prepared, pinned)
    return pinned


def _not_connected(exc: requests.RequestException) -> bool:
    """Whether the request failed while connecting, before anything was sent."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, ConnectTimeoutError)


class PinnedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections go to the pinned addresses of each request."""

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        pinned = pinned_target(request)
        request.headers.pop("Proxy-Authorization", None)
        request.headers["Host"] = pinned.target.host_header
        addresses = pinned.addresses if pinned.addresses is not None else (pinned.target.host,)
        last = len(addresses) - 1
        for index, address in enumerate(addresses):
            setattr(request, ADDRESS_ATTRIBUTE, address)
            try:
                return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=None)
            except (requests.ConnectTimeout, requests.ConnectionError) as exc:
                if index == last or not _not_connected(exc):
                    raise
        raise requests.ConnectionError(f"{pinned.target.host} has no address to connect to", request=request)

    def get_connection_with_tls_context(self, request: requests.PreparedRequest, verify: Any,
                                        proxies: Any = None, cert: Any = None):
        target = pinned_target(request).target
        _, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        if target.scheme == "https" and target.ip is None:
            pool_kwargs["server_hostname"] = target.host  # SNI and certificate check for the name
        return self.poolmanager.connection_from_host(
            scheme=target.scheme, host=getattr(request, ADDRESS_ATTRIBUTE), port=target.port,
            pool_kwargs=pool_kwargs,
        )


def mount_pinned(session: requests.Session, pool_size: int = 10) -> requests.Session:
    """Make ``session`` send http(s) requests through a :class:`PinnedAdapter` (if it does not already)."""
    for prefix in ("https://", "http://"):
        if not isinstance(session.adapters.get(prefix), PinnedAdapter):
            session.mount(prefix, PinnedAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0))
    return session

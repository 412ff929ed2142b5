"""The core's HTTP client, set up for unit tests: no DNS look-up, no network of its own."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.outbound.http import HttpClient, make_session


def http_client(*, secrets: Iterable[str] = (), connect_timeout: float = 5.0,
                read_timeout: float = 15.0) -> HttpClient:
    """A :class:`gateway.HttpClient` for unit tests, as hooks get it but with the target guard's
    private-address rule off (as ``GATEWAY_ALLOW_PRIVATE_TARGETS=1`` does). It resolves no host name
    itself, so under ``requests_mock`` no request needs DNS or the network, and a local fake service
    on 127.0.0.1 can be reached. ``secrets`` are removed from what it records
    (:attr:`~gateway.HttpClient.exchanges`), as in the gateway. It never follows redirects."""
    return HttpClient(make_session(), connect_timeout=connect_timeout, read_timeout=read_timeout,
                      allow_private=True, secrets=secrets, user_agent="event-gateway-tests")

"""Waitress as ``serve`` runs it in one process: the gateway's body and head limits, its own errors
as JSON (:func:`gateway.runtime.server_errors.waitress_channel`), and request deadlines.

Waitress reads every request in its event loop before a thread takes it, so a slow client holds no
request thread; but it would wait for a slow request for ever (its ``channel_timeout`` counts only
silence) and, past ``connection_limit`` connections, it stops accepting. Here a request whose head
takes longer than ``GATEWAY_HEADER_READ_SECONDS``, or whose body takes longer than
``GATEWAY_BODY_READ_SECONDS`` after its head, is answered 408 and closed (checked every second),
and up to :data:`CONNECTION_LIMIT` connections are taken.
"""

from __future__ import annotations

import time

from gateway.runtime.server_errors import MAX_HEADER_BYTES, json_error, waitress_channel
from gateway.settings import Settings

CONNECTION_LIMIT = 1000
"""Most connections open at once (waitress's default is 100)."""


def create_waitress_server(app, host: str, port: int, settings: Settings):
    from waitress import create_server

    server = create_server(app, host=host, port=port, threads=settings.threads, ident="event-gateway",
                           max_request_body_size=max(settings.max_body_bytes, settings.max_api_body_bytes),
                           max_request_header_size=MAX_HEADER_BYTES, connection_limit=CONNECTION_LIMIT,
                           cleanup_interval=1)
    server.channel_class = _timed_channel(waitress_channel())
    checked = server.maintenance

    def maintenance(now: float) -> None:
        checked(now)
        for channel in list(server.active_channels.values()):
            late = _late(channel, now, settings)
            if late and not channel.will_close:
                try:
                    channel.socket.send(json_error(408, late))  # non-blocking: what does not fit is dropped
                except OSError:
                    pass
                channel.will_close = True

    server.maintenance = maintenance
    return server


def _late(channel, now: float, settings: Settings) -> str | None:
    started = getattr(channel, "gateway_started", None)
    if started is None or channel.request is None:
        return None
    body_since = getattr(channel, "gateway_body_since", None)
    if body_since is None:
        if now - started > settings.header_read_seconds:
            return "the request line and headers did not arrive in time (GATEWAY_HEADER_READ_SECONDS)"
    elif now - body_since > settings.body_read_seconds:
        return "the request body did not arrive in time (GATEWAY_BODY_READ_SECONDS)"
    return None


def _timed_channel(base):
    class TimedChannel(base):
        """Notes when the request being read started, and when its head ended."""

        gateway_started: float | None = None
        gateway_body_since: float | None = None

        def received(self, data):
            now = time.time()
            if self.request is None and data:
                self.gateway_started, self.gateway_body_since = now, None
            result = super().received(data)
            if self.request is None:
                self.gateway_started = None
            elif self.request.headers_finished and self.gateway_body_since is None:
                self.gateway_body_since = now
            return result

    return TimedChannel

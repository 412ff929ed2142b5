"""The answers the HTTP servers under ``serve`` write themselves, as JSON like every other answer.

Gunicorn and waitress answer some requests before the app sees them: a request line or header too
long (414, 431), a request they cannot parse (400), a body past waitress's limit (413). Their own
answers are HTML or plain text; these are ``{"error": "..."}`` with ``Connection: close``.
"""

from __future__ import annotations

import json
from http import HTTPStatus

MAX_MESSAGE = 300
"""Longest message kept from the server's own (which may quote the request)."""


def json_error(status: int, message: str, reason: str | None = None) -> bytes:
    """A whole HTTP/1.1 response: ``status``, a JSON body saying ``message``, and ``Connection: close``."""
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
    body = json.dumps({"error": message[:MAX_MESSAGE]}).encode() + b"\n"
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def write_gunicorn_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """Gunicorn's ``util.write_error``, answering JSON instead of an HTML page."""
    from gunicorn import util

    message = f"{reason}: {mesg}" if mesg and mesg != reason else reason
    util.write_nonblock(sock, json_error(status_int, message, reason))


def answer_gunicorn_errors_as_json() -> None:
    """Make this process's gunicorn write its own error answers as JSON (the serve process is all
    gateway, so the change is the process's)."""
    from gunicorn import util

    util.write_error = write_gunicorn_error


MAX_HEADER_BYTES = 65536
"""Largest request head (request line and headers) waitress reads (gunicorn's limits are per line:
4,094 bytes for the request line, 8,190 per header field, 100 fields)."""


def waitress_channel():
    """Waitress's connection class, answering its own errors (400, 413, 431, ...) as JSON; a 413
    names the gateway's setting for the path asked (waitress's limit is the larger of the two)."""
    from waitress.channel import HTTPChannel
    from waitress.task import ErrorTask

    class JsonErrorTask(ErrorTask):
        def execute(self) -> None:
            error = self.request.error
            message = f"{error.reason}: {error.body}"
            if error.code == 413:
                setting = ("GATEWAY_MAX_API_BODY_BYTES" if (getattr(self.request, "path", "") or "").startswith("/api/")
                           else "GATEWAY_MAX_BODY_BYTES")
                message = (f"the body is larger than the limit of {self.channel.adj.max_request_body_size} "
                           f"bytes ({setting})")
            body = json.dumps({"error": message[:MAX_MESSAGE]}).encode() + b"\n"
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):
        error_task_class = JsonErrorTask

    return JsonErrorChannel

"""Inbound webhooks as plugins see them: the raw request, and what a receive hook answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway import strict_json
from gateway.events import Event


class Rejected(Exception):
    """Raised by a receive hook or a source to refuse a request: ``status`` and a message for the sender."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class InboundRequest:
    """An inbound webhook request: headers (case-insensitive look-up), the raw body bytes and the
    request's content type. Verify signatures over ``body``, never over re-serialised JSON."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    content_type: str = ""
    remote_addr: str | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header's value, looked up without regard to case."""
        value = self.headers.get(name)  # case-insensitive already for the server's own headers
        if value is not None:
            return value
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default

    def json(self) -> Any:
        """The body decoded as JSON, strictly (:mod:`gateway.strict_json`: no ``NaN``, no lone
        surrogates, bounded depth and digits); raises :class:`Rejected` (400, or 415 for another
        content type)."""
        mimetype = self.content_type.split(";", 1)[0].strip().lower()
        if mimetype != "application/json" and not mimetype.endswith("+json"):
            raise Rejected(415, f"expected Content-Type application/json, got {mimetype or 'none'!r}")
        try:
            return strict_json.loads(self.body)
        except strict_json.InvalidJson as exc:
            raise Rejected(400, exc.message) from None


@dataclass(frozen=True)
class Received:
    """What a receive hook answers: the events the request carries (possibly none), and a short
    message for the sender. ``ignored`` records why a request carrying no events was not used."""

    events: list[Event] = field(default_factory=list)
    message: str = "accepted"
    ignored: str | None = None

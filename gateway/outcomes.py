"""What a plugin's hooks answer: policy verdicts and delivery results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Take:
    """Policy verdict: the integration takes the event."""


@dataclass(frozen=True)
class Skip:
    """Policy verdict: the integration does not take the event; ``reason`` says why, for a person to act on."""

    reason: str


Verdict = Take | Skip


@dataclass(frozen=True)
class Delivered:
    """Delivery result: the tool accepted the event. ``summary`` is shown to people (for example the
    tool's ids for it); ``details`` is kept as JSON. ``warnings`` are things a person should know
    although the tool took the event (for example that nothing counts it); the delivery is recorded
    as delivered with them, and the API and CLI show them."""

    summary: str = "delivered"
    details: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetryLater:
    """Delivery result: not delivered this time, try again. ``after`` (seconds) asks for a delay;
    without it the retry schedule decides."""

    reason: str
    after: float | None = None


@dataclass(frozen=True)
class Failed:
    """Delivery result: failed for good; retrying will not help until someone fixes ``reason``."""

    reason: str


DeliveryResult = Delivered | RetryLater | Failed

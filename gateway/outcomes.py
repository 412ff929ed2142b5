"""What a plugin's hooks answer: policy verdicts and delivery results."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

COOLDOWN_KEY_CHARS = 400
COOLDOWN_MAX_SECONDS = 366 * 24 * 3600.0


@dataclass(frozen=True)
class Cooldown:
    """A limit on how often an integration acts, carried by a :class:`Take`.

    ``key`` names what is limited, as the plugin chooses (for example
    ``"proj/default:env/production:flag/checkout:off"``); ``seconds`` is how long one event that
    takes it holds it; ``description`` says what it is, for people ("turning flag 'checkout' off in
    production"). Of the events an integration takes with the same key, one is queued per
    ``seconds``; the others are skipped with a reason naming the event that holds the key and when
    it is free again. With ``shared``, the key is held across integrations: of the events any
    integration takes with that key and ``shared``, one is queued per ``seconds`` (one cooldown per
    flag, whichever integration acts on it). A delivery that fails for good (``dead``) gives its
    cooldown back: an action that was not done holds nothing. ``overridable``: whether a person may
    send an event this cooldown holds back anyway (an override; it then takes the key). Raises
    ``ValueError`` for a key that is empty or longer than 400 characters, or seconds not between 0
    (excluded) and 366 days.
    """

    key: str
    seconds: float
    description: str
    shared: bool = False
    overridable: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key or len(self.key) > COOLDOWN_KEY_CHARS:
            raise ValueError(f"Cooldown.key must be a string of 1 to {COOLDOWN_KEY_CHARS} characters, "
                             f"got {self.key!r}")
        if (isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float))
                or not math.isfinite(self.seconds) or not 0 < self.seconds <= COOLDOWN_MAX_SECONDS):
            raise ValueError(f"Cooldown.seconds must be more than 0 and at most {COOLDOWN_MAX_SECONDS:g} "
                             f"(366 days), got {self.seconds!r}")
        if not isinstance(self.description, str):
            raise ValueError(f"Cooldown.description must be a string, got {type(self.description).__name__}")
        if not isinstance(self.shared, bool):
            raise ValueError(f"Cooldown.shared must be a bool, got {type(self.shared).__name__}")


@dataclass(frozen=True)
class Take:
    """Policy verdict: the integration takes the event. With a ``cooldown``, it takes it only if no
    other event holds that cooldown's key for this integration (see :class:`Cooldown`)."""

    cooldown: Cooldown | None = None


@dataclass(frozen=True)
class Skip:
    """Policy verdict: the integration does not take the event; ``reason`` says why, for a person to act on.

    ``overridable``: whether a person may send the event despite this skip (an override, an explicit
    action with a confirmation naming the reason). Set it to False where sending it anyway must never
    happen (a flag action in dry run, an event the plugin cannot act on)."""

    reason: str
    overridable: bool = True


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

"""What plugins declare about themselves, and the references the core hands to their hooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import marshmallow

if TYPE_CHECKING:
    from gateway.events import Event
    from gateway.flagplatform.flag_actions import FlagPlatform
    from gateway.host.flag_holds import FlagHolds
    from gateway.host.inbound_request import InboundRequest


@dataclass(frozen=True)
class IntegrationType:
    """An integration a plugin offers (answer of the ``integration_type`` hook).

    ``key`` is unique across installed plugins and names the plugin in the API (``dynatrace``).
    ``config_schema`` is a marshmallow Schema class; fields made with :func:`gateway.Secret` are
    secret. ``default_policy`` is the policy a new integration gets when none is given.
    ``sources`` lists the webhook sources (see :class:`EventSource`) whose events the integration is
    offered; events a plugin's own ``receive_webhook`` returns always go to that integration alone.
    The policy applies to events that carry flag-platform accesses; others skip that stage.
    ``policy_overridable``: whether a person may send an event the integration's policy denied (an
    override, with a confirmation); False where the policy guards an action no person should force
    through the gateway (the flag actions of ``dynatrace-problems``).
    """

    key: str
    name: str
    description: str
    config_schema: type[marshmallow.Schema]
    default_policy: list[dict[str, Any]] = field(default_factory=list)
    sources: tuple[str, ...] = ("launchdarkly",)
    policy_overridable: bool = True


@dataclass(frozen=True)
class EventSource:
    """A webhook source served at ``POST /webhooks/<key>`` (answer of the ``event_source`` hook).

    ``parse`` turns a verified request into one event, or raises :class:`gateway.Rejected`; the
    event's stored raw payload is the request body as received.
    ``secret_setting`` names the ``GATEWAY_*`` setting holding the signing secret; when that setting is
    set, ``verify`` gets the request and the secret and raises :class:`gateway.Rejected` when it does
    not check out.
    """

    key: str
    name: str
    parse: Callable[[InboundRequest], Event]
    verify: Callable[[InboundRequest, str], None] | None = None
    secret_setting: str | None = None


@dataclass(frozen=True)
class IntegrationRef:
    """The configured integration a hook is called for. ``flag_holds`` is the gateway's memory of
    which flags its integrations turned off and for what (:class:`gateway.FlagHolds`), None where
    there is no store (unit tests)."""

    id: str
    name: str
    plugin: str
    flag_holds: FlagHolds | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DeliveryRef:
    """The delivery a ``deliver_event`` call works on. ``id`` is a UUID fixed for the delivery, the
    same on every retry (use it as an idempotency key); ``attempt`` counts from 1.
    ``flag_platform`` is the flag platform's API (:class:`gateway.FlagPlatform`) when the gateway
    is connected to it, else None."""

    id: str
    attempt: int
    integration: IntegrationRef
    flag_platform: FlagPlatform | None = None


@dataclass(frozen=True)
class Batching:
    """How a plugin that delivers in batches wants them gathered (answer of ``batch_limits``).

    The core hands the plugin at most ``max_size`` due deliveries of one integration at once, and
    holds the first of them at most ``max_delay`` seconds while it gathers more.
    """

    max_size: int
    max_delay: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_size, int) or isinstance(self.max_size, bool) or self.max_size < 1:
            raise ValueError(f"Batching.max_size must be a whole number of at least 1, got {self.max_size!r}")
        if not isinstance(self.max_delay, (int, float)) or not 0 <= self.max_delay <= 60:
            raise ValueError(f"Batching.max_delay must be between 0 and 60 seconds, got {self.max_delay!r}")


@dataclass(frozen=True)
class BatchItem:
    """One delivery of a batch handed to ``deliver_batch``: the event and the delivery."""

    event: Event
    delivery: DeliveryRef


@dataclass(frozen=True)
class StatusCheck:
    """One check of a configured integration a person should see (answer of ``integration_status``).

    ``state`` is ``ok``, ``warning`` or ``error``; ``action`` names an action the plugin offers to fix
    it (see the ``integration_action`` hook), with ``action_params`` to pass back.
    """

    name: str
    state: Literal["ok", "warning", "error"]
    message: str
    action: str | None = None
    action_params: dict[str, Any] = field(default_factory=dict)

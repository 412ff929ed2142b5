"""The in-process harness: a plugin loaded by the gateway's own plugin host, its hooks called through
the same code the gateway runs — the same checks when it loads, the same config validation, the
same decision chain, the same delivery attempt and its recording — without a server or a worker.

Each harness has its own gateway app with an SQLite database in a temporary folder, every setting
at its default whatever the environment says, private targets allowed (so a local fake service can
stand in for the tool) and no delivery workers.
"""

from __future__ import annotations

import dataclasses
import secrets as token_generator
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

from gateway.app import create_app
from gateway.runtime.checks import CheckError, run_action, run_status
from gateway.host.declarations import IntegrationRef
from gateway.inbound.decisions import candidates, decide, preview_cooldown
from gateway.delivery.attempt import Deliverer
from gateway.delivery.sample import send_test_event
from gateway.events import Event
from gateway.outbound.http import make_session
from gateway.host.inbound_request import InboundRequest, Received
from gateway.host.integrations import ActiveIntegration
from gateway.host.plugins import LoadedPlugin, PluginError
from gateway.settings import KEYS
from gateway.host.state import GatewayState, get_state
from gateway.store.base import now
from gateway.store.events import NewDecision
from gateway.store.integrations import IntegrationRow
from gateway.validation import InvalidInput

WORKER_ID = "plugin-harness"


class PluginRefused(PluginError):
    """The gateway refuses the plugin when it loads; the message says why, as the gateway logs it."""


class InvalidConfig(ValueError):
    """The plugin's schema refuses the config (or the policy is invalid): ``errors`` maps
    ``config.<field>`` (or ``policy...``) to messages, as the API answers them."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{path}: {' '.join(messages)}" for path, messages in errors.items()))
        self.errors = errors


class ActionFailed(Exception):
    """``integration_action`` refused or failed: ``status`` is the HTTP status the API would answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of the decision chain: ``config``, ``policy``, ``plugin`` or ``cooldown``; whether it took the event, why."""

    name: str
    took: bool
    reason: str


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the gateway decides for an arriving event. ``offered`` is False when the integration is
    not even asked (the plugin does not take events of the event's source); ``queued`` when it would
    be delivered; ``reason`` is what the event's page shows."""

    offered: bool
    queued: bool
    reason: str
    stages: tuple[Stage, ...] = ()

    @property
    def status(self) -> str:
        """``pending`` (queued) or ``skipped``, as stored."""
        return "pending" if self.queued else "skipped"


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One delivery attempt as the gateway recorded it.

    ``outcome`` is the attempt's (``delivered``, ``retry`` or ``failed``) and ``status`` the
    delivery's afterwards (``delivered``, ``retrying`` or ``dead``); ``reason`` and ``summary`` are
    what people see; ``details`` what :class:`gateway.Delivered` kept; ``retry_in`` the seconds until
    the next attempt (``RetryLater(after=...)`` or the retry schedule, whichever is later); ``http``
    the recorded exchanges (method, URL, status, excerpt, error — secrets removed).
    """

    delivery_id: str
    event_id: str
    number: int
    outcome: str
    status: str
    reason: str
    summary: str | None
    details: dict[str, Any] | None
    retry_in: float | None
    http: list[dict[str, Any]]

    def recorded_text(self) -> str:
        """Everything this attempt left in the gateway's records, as one text (for secret checks)."""
        import json

        return json.dumps({"reason": self.reason, "summary": self.summary, "details": self.details,
                           "http": self.http}, default=str)


def _plugin_name(plugin: Any) -> str:
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    return str(name).rsplit(".", 1)[0] if str(name).endswith(".plugin") else str(name)


class PluginHarness:
    """A plugin loaded in-process through the gateway's plugin host, with one integration of it.

    ``plugin`` is the plugin object (usually its module) or the entry-point name of an installed
    plugin. ``config`` (optional here, else :meth:`configure`) is validated by the plugin's schema as
    the API validates it. ``settings`` adds ``GATEWAY_*`` settings (``GATEWAY_READ_TIMEOUT``,
    ``GATEWAY_RETRY_SCHEDULE``...). Raises :class:`PluginRefused` when the gateway would refuse the
    plugin. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, plugin: Any, *, config: Mapping[str, Any] | None = None,
                 policy: list[dict[str, Any]] | None = None, name: str | None = None,
                 settings: Mapping[str, Any] | None = None, instance_path: str | None = None):
        self._tmp = None if instance_path else tempfile.mkdtemp(prefix="gateway-harness-")
        # every setting at its default: nothing from the environment (a real database, a real key) leaks
        # in; the start-up warnings (unsigned webhooks) concern a real gateway, not this throw-away one
        app_config: dict[str, Any] = {key: default for key, (default, _) in KEYS.items()}
        app_config.update({
            "GATEWAY_INSTANCE_PATH": instance_path or self._tmp,
            "GATEWAY_ADMIN_TOKEN": token_generator.token_urlsafe(24),
            "GATEWAY_ALLOW_PRIVATE_TARGETS": "1",
            "GATEWAY_WORKERS": "0",
        })
        app_config.update(settings or {})
        if isinstance(plugin, str):
            self.name = plugin
            app_config["GATEWAY_PLUGINS"] = plugin
            self.app = create_app(app_config, log_warnings=False)
        else:
            self.name = name or _plugin_name(plugin)
            self.app = create_app(app_config, plugins=((self.name, plugin),), entry_points=False,
                                  log_warnings=False)
        self.state: GatewayState = get_state(self.app)
        try:
            self.plugin = self._loaded()
        except PluginRefused:
            self.close()
            raise
        self._row: IntegrationRow | None = None
        if config is not None:
            self.configure(config, policy=policy)

    def _loaded(self) -> LoadedPlugin:
        for loaded in self.state.host.plugins.values():
            if loaded.name == self.name and not loaded.builtin:
                return loaded
        for refused in self.state.host.refused:
            if refused.name == self.name:
                raise PluginRefused(f"plugin {self.name!r} refused: {refused.error}")
        if any(f.name == self.name for f in self.state.host.filtered):
            raise PluginRefused(f"plugin {self.name!r} was left out by GATEWAY_PLUGINS")
        raise PluginRefused(f"no plugin {self.name!r} is installed (entry point group 'event_gateway')")

    # the integration ---------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """The plugin's key (its ``integration_type`` answer)."""
        return self.plugin.key

    def configure(self, config: Mapping[str, Any], *, policy: list[dict[str, Any]] | None = None,
                  name: str = "Test integration") -> IntegrationRef:
        """Create the integration the hooks are called for (it replaces the previous one), validated
        as ``POST /api/v1/integrations`` validates it. ``policy`` defaults to the plugin's default
        policy. Raises :class:`InvalidConfig`."""
        if self.plugin.kind != "integration":
            raise PluginError(f"plugin {self.name!r} is a webhook source, not an integration")
        body: dict[str, Any] = {"plugin": self.key, "name": name, "config": dict(config)}
        if policy is not None:
            body["policy"] = policy
        try:
            row = self.state.integrations.create(body)
        except InvalidInput as exc:
            raise InvalidConfig(exc.errors) from None
        if self._row is not None:
            self.state.integrations.update(self._row, {"enabled": False})
        self._row = row
        return self.integration

    def _active(self) -> ActiveIntegration:
        if self._row is None:
            raise RuntimeError("no integration yet: call configure(config) first")
        self._row = self.state.db.integrations.get(self._row.id) or self._row
        return self.state.integrations.active(self._row)

    @property
    def integration(self) -> IntegrationRef:
        """The integration the hooks are called for."""
        return self._active().ref

    @property
    def config(self) -> dict[str, Any]:
        """The config as the hooks get it: validated, defaults filled in, secrets in the clear."""
        return dict(self._active().config)

    def secret_values(self) -> list[str]:
        """The values of the config's secret fields."""
        return self._active().secret_values()

    def connect_flag_platform(self, api_url: str, api_token: str) -> None:
        """Connect this gateway to the flag platform's API at ``api_url`` (a ``FakeFlagPlatform``'s
        ``url``), without wiring its webhook, so that :meth:`deliver` hands the plugin a
        ``delivery.flag_platform``, as a connected gateway does."""
        self.state.connection.connect({"api_url": api_url, "api_token": api_token,
                                       "public_url": "http://127.0.0.1:9", "wire": False})

    # the hooks ---------------------------------------------------------------------------------

    def decide(self, event: Event, *, inbound: bool = False, offer: bool = False) -> Decision:
        """What the gateway decides when ``event`` arrives: the integration's policy, then the
        plugin's ``check_event`` (exceptions and wrong answers recorded as the gateway records them).
        ``inbound``: the event came from this integration's ``receive_webhook`` (it is offered to this
        integration only). Otherwise an event of a source the plugin does not take is not offered to
        it at all; ``offer=True`` runs the chain all the same (for a test event, source ``test``)."""
        active = self._active()
        if not offer and not candidates(event, [active], active.row.id if inbound else None):
            sources = ", ".join(self.plugin.declaration.sources) or "none: it only takes its own inbound webhooks"
            return Decision(False, False, f"not offered: the plugin takes events of the sources {sources}, "
                                          f"and this event's source is {event.source!r}")
        decision = preview_cooldown(decide(event, active, self.state.host), self.state.db.cooldowns)
        return Decision(True, decision.queued, decision.reason,
                        tuple(Stage(s.name, s.took, s.reason) for s in decision.stages))

    def deliver(self, event: Event) -> Attempt:
        """Store ``event`` with a delivery for the integration (whatever the decision chain says)
        and make its first attempt as a delivery worker does; returns the attempt as recorded. The
        same event again gets a new attempt of the same delivery (its ``delivery.id`` is kept)."""
        active = self._active()
        due = now() + self.state.settings.lease_seconds  # no worker runs here, and none may take it
        recorded = self.state.db.events.record(
            event, [NewDecision(active.row.id, active.row.plugin, "pending", "queued by the plugin harness",
                                next_attempt_at=due)])
        if not recorded.created:
            self.state.db.deliveries.replay(active.row.id, active.row.plugin, now=now(),
                                            event_ids=[recorded.event_id])
        [delivery] = [d for d in self.state.db.deliveries.for_event(recorded.event_id)
                      if d.integration_id == active.row.id]
        return self._attempt(delivery.id)

    def attempt_again(self, attempt: Attempt) -> Attempt:
        """The next attempt of the delivery of ``attempt`` (``delivery.attempt`` one higher), made
        now rather than when the schedule says, whatever its status (a dead or delivered delivery is
        re-queued first, as a replay does)."""
        active = self._active()
        current = self.state.db.deliveries.get(attempt.delivery_id)
        if current is not None and current.status not in ("pending", "retrying"):
            self.state.db.deliveries.replay(active.row.id, active.row.plugin, now=now(),
                                            event_ids=[attempt.event_id])
        return self._attempt(attempt.delivery_id)

    def _attempt(self, delivery_id: str) -> Attempt:
        claimed = self.state.db.deliveries.take(delivery_id, WORKER_ID, self.state.settings.lease_seconds, now())
        if claimed is None:
            current = self.state.db.deliveries.get(delivery_id)
            raise RuntimeError(f"delivery {delivery_id} cannot be attempted: it is "
                               f"{current.status if current else 'gone'}")
        with make_session() as session:
            report = Deliverer(self.state, WORKER_ID, session=session).attempt(claimed)
        return self._as_attempt(report.delivery_id, report.number, report.outcome, report.http)

    def _as_attempt(self, delivery_id: str, number: int, outcome: str, http: list[dict[str, Any]]) -> Attempt:
        row = self.state.db.deliveries.get(delivery_id)
        retry_in = None
        if row.next_attempt_at is not None and row.status == "retrying":
            retry_in = max(0.0, row.next_attempt_at - row.updated_at)
        return Attempt(delivery_id=row.id, event_id=row.event_id, number=number, outcome=outcome,
                       status=row.status, reason=row.reason, summary=row.summary, details=row.details,
                       retry_in=retry_in, http=list(http))

    def test_event(self) -> Event:
        """The plugin's ``test_event`` answer (checked to be a :class:`gateway.Event`)."""
        active = self._active()
        if not self.plugin.has_hook("test_event"):
            raise PluginError(f"plugin {self.name!r} does not implement 'test_event'")
        event = self.state.host.call(self.key, "test_event", config=active.config, integration=active.ref)
        if not isinstance(event, Event):
            raise PluginError(f"test_event returned {type(event).__name__}, not gateway.Event")
        return event

    def send_test_event(self) -> Attempt:
        """What ``POST /api/v1/integrations/<id>/test`` does: ask for the test event and make its first
        attempt now. The test send skips the policy and ``check_event``, as the gateway's does."""
        self._active()
        sent = send_test_event(self.state, self._row)
        return self._as_attempt(sent.report.delivery_id, sent.report.number, sent.report.outcome, sent.report.http)

    def status(self) -> dict[str, Any]:
        """The plugin's status checks as ``GET /api/v1/integrations/<id>/status`` answers them."""
        try:
            return run_status(self.state, self._active())
        except CheckError as exc:
            raise ActionFailed(exc.status, exc.message) from None

    def action(self, action: str, params: Mapping[str, Any] | None = None) -> str:
        """Run an action as ``POST /api/v1/integrations/<id>/actions/<action>`` does; returns the
        plugin's message or raises :class:`ActionFailed` with the API's status."""
        try:
            return run_action(self.state, self._active(), action, dict(params or {}))
        except CheckError as exc:
            raise ActionFailed(exc.status, exc.message) from None

    def receive(self, body: bytes | str, *, headers: Mapping[str, str] | None = None,
                content_type: str = "application/json") -> Received:
        """Call ``receive_webhook`` with an inbound request (``body`` as sent); returns its
        :class:`gateway.Received` or lets :class:`gateway.Rejected` through, as the plugin raised it."""
        active = self._active()
        data = body.encode() if isinstance(body, str) else bytes(body)
        all_headers = {"Content-Type": content_type, **(headers or {})}
        request = InboundRequest(method="POST", path=f"/webhooks/integrations/{active.row.id}",
                                 headers=all_headers, body=data, content_type=content_type)
        received = self.state.host.call(self.key, "receive_webhook", request=request, config=active.config,
                                        integration=active.ref)
        if not isinstance(received, Received):
            raise PluginError(f"receive_webhook returned {type(received).__name__}, not gateway.Received")
        return received

    # life --------------------------------------------------------------------------------------

    def close(self) -> None:
        state = getattr(self, "state", None)
        if state is not None:
            state.db.dispose()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> PluginHarness:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

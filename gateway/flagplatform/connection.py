"""The flag-platform connection: configured once (API, CLI, UI), stored with its secrets sealed.

It holds the API access token (write-only, encrypted), the API base URL (default the public
service), the gateway's public URL, and what the gateway knows of the webhook it wired: its id, the
signing secret the gateway generated (encrypted) and, for a grace period after a rotation, the
previous secret. :class:`ConnectionService` is what the admin API, the CLI and the UI call.
"""

from __future__ import annotations

import logging
import secrets as secrets_module
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import marshmallow
from marshmallow import Schema, ValidationError, fields, validate, validates

from gateway.crypto import SecretBox, is_mask, mask
from gateway.host import audit
from gateway.host.fields import Secret, TargetURL
from gateway.flagplatform.flag_actions import FlagPlatform
from gateway.outbound.http import HttpClient
from gateway.policy import PolicyError, compile_policy
from gateway.shared_changes import SharedChanges
from gateway.store import Database
from gateway.store.base import now
from gateway.outbound.targets import InvalidTargetURL, parse_target, reset_private_targets_allowed, set_private_targets_allowed
from gateway.validation import InvalidInput, flatten_errors
from gateway.flagplatform.client import FlagApiError, FlagPlatformClient
from gateway.flagplatform.wiring import WEBHOOK_PATH, Desired, Wired, wire

log = logging.getLogger(__name__)

PLATFORM = "launchdarkly"
DEFAULT_API_URL = "https://app.launchdarkly.com"
DEFAULT_WEBHOOK_NAME = "Flag Event Gateway"
DEFAULT_WEBHOOK_TAGS = ("event-gateway",)
CACHE_SECONDS = 1.0
LAST_EVENT_WRITE_SECONDS = 60.0
SECRET_FIELDS = ("api_token",)
QUICK_TIMEOUTS = (2.0, 5.0)
"""Connect and read time-outs (seconds) of the name look-ups a delivery waits for (at most the settings')."""


class ConnectionProblem(Exception):
    """The connection cannot be changed as asked; ``status`` is the HTTP status that says why.
    ``recorded``: the refusal's audit log entry is written (with the write that put the connection
    back, or recorded the wiring error)."""

    def __init__(self, status: int, message: str, recorded: bool = False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.recorded = recorded


def _entry(origin: str | None, what: str, **details: Any) -> dict[str, Any] | None:
    """The audit log entry of an action by ``origin`` (None: no entry, for a caller that records
    nothing, as the tests' harness)."""
    return audit.prepared(what, origin, **details) if origin is not None else None


def _logged(entry: dict[str, Any] | None) -> None:
    if entry is not None:
        audit.log_line(entry)


def _check_statements(value: Any) -> None:
    try:
        compile_policy(value)
    except PolicyError as exc:
        raise ValidationError(f"not a valid list of policy statements: {exc}") from None


class PublicURL(fields.Url):
    """The gateway's address as the flag platform reaches it: an absolute http(s) URL, no query."""

    def __init__(self, **kwargs: Any):
        super().__init__(schemes={"http", "https"}, require_tld=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        url = super()._deserialize(value.strip() if isinstance(value, str) else value, attr, data, **kwargs)
        try:
            parse_target(url)  # read as a target URL is: a port of 1-65535 in ASCII digits, a real host
        except InvalidTargetURL as exc:
            raise ValidationError(str(exc)) from None
        if "?" in url or "#" in url:
            raise ValidationError("enter the gateway's base URL without ?query or #fragment")
        url = url.rstrip("/")
        if url.endswith(WEBHOOK_PATH):
            raise ValidationError(f"enter the gateway's base URL; the gateway adds {WEBHOOK_PATH} itself")
        return url


class ConnectionSchema(Schema):
    """What ``connect`` takes."""

    api_token = Secret(required=True, validate=validate.Length(min=1),
                       metadata={"description": "API access token of the flag platform (write-only)"})
    public_url = PublicURL(required=True, validate=validate.Length(min=1), metadata={
        "description": "The gateway's public base URL; the webhook points at <public_url>/webhooks/launchdarkly"})
    api_url = TargetURL(load_default=DEFAULT_API_URL, validate=validate.Length(min=1), metadata={
        "description": "The flag platform's API base URL (another instance, or a test double)"})
    webhook_name = fields.String(load_default=DEFAULT_WEBHOOK_NAME, validate=validate.Length(min=1, max=200))
    webhook_tags = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                               load_default=lambda: list(DEFAULT_WEBHOOK_TAGS))
    webhook_statements = fields.Raw(load_default=None, allow_none=True, metadata={
        "description": "Policy statements restricting the projects and environments the webhook sends"})
    wire = fields.Boolean(load_default=True, metadata={
        "description": "Create or update the webhook now (false: store the connection only)"})

    @validates("webhook_statements")
    def _statements(self, value: Any, **kwargs: Any) -> None:
        if value is not None:
            _check_statements(value)


@dataclass(frozen=True)
class Connection:
    """The connection as the gateway uses it (secrets in the clear, in memory only)."""

    api_url: str
    public_url: str
    api_token: str
    webhook_secret: str | None
    previous_secret: str | None
    webhook_name: str
    webhook_tags: tuple[str, ...]
    webhook_statements: list[dict[str, Any]] | None
    state: dict[str, Any] = field(default_factory=dict)
    updated_at: float = 0.0

    @property
    def webhook_url(self) -> str:
        return self.public_url + WEBHOOK_PATH

    @property
    def webhook_id(self) -> str | None:
        return self.state.get("webhook_id") or None

    def secret_values(self) -> list[str]:
        """Every secret of the connection, so that logs and records can remove them."""
        return [s for s in (self.api_token, self.webhook_secret, self.previous_secret) if s]

    def signing_secrets(self, at: float) -> list[str]:
        """The webhook secrets accepted at ``at``: the current one, and the previous one in its grace
        period. None until the gateway has set a secret on a webhook (a connection stored without
        wiring leaves the way webhooks are checked as it was)."""
        if not self.state.get("secret_set_on"):
            return []
        accepted = [self.webhook_secret] if self.webhook_secret else []
        until = self.state.get("previous_secret_until")
        if self.previous_secret and isinstance(until, (int, float)) and at < until:
            accepted.append(self.previous_secret)
        return accepted

    def desired(self) -> Desired:
        return Desired(url=self.webhook_url, secret=self.webhook_secret or "", name=self.webhook_name,
                       tags=self.webhook_tags, statements=self.webhook_statements)


def new_webhook_secret() -> str:
    return secrets_module.token_urlsafe(32)


class ConnectionService:
    """Connect, disconnect, rotate the webhook secret, show; the read side is cached for a second."""

    def __init__(self, db: Database, box: SecretBox, *, allow_private_targets: bool, grace_seconds: float,
                 http_factory: Callable[[Any, list[str], tuple[float, float] | None], HttpClient],
                 make_session: Callable[[], Any]):
        self.db = db
        self.box = box
        self.allow_private_targets = allow_private_targets
        self.grace_seconds = grace_seconds
        self._http_factory = http_factory
        self._make_session = make_session
        self._cache: tuple[float, int, Connection | None] | None = None
        self.changes = SharedChanges()  # with the sibling processes of a pre-fork server
        self._lock = threading.Lock()
        self._last_event_written = 0.0
        self.listeners: list[Callable[[], None]] = []

    # reading -------------------------------------------------------------------------------------

    def _load(self, row) -> Connection:
        sealed = self.box.open(row.secrets)
        config = row.config
        statements = config.get("webhook_statements")
        return Connection(
            api_url=config["api_url"], public_url=config["public_url"], api_token=sealed.get("api_token", ""),
            webhook_secret=sealed.get("webhook_secret"), previous_secret=sealed.get("previous_webhook_secret"),
            webhook_name=config.get("webhook_name") or DEFAULT_WEBHOOK_NAME,
            webhook_tags=tuple(config.get("webhook_tags") or DEFAULT_WEBHOOK_TAGS),
            webhook_statements=statements if isinstance(statements, list) else None,
            state=dict(row.state), updated_at=row.updated_at,
        )

    def current(self) -> Connection | None:
        """The connection, or None; read again after a change made by this server (any of its
        processes), and at most every :data:`CACHE_SECONDS` otherwise (a change made by another
        program or node)."""
        shared = self.changes.generation
        with self._lock:
            cached = self._cache
        if cached is not None and cached[1] == shared and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[2]
        row = self.db.connections.get(PLATFORM)
        connection = self._load(row) if row else None
        with self._lock:
            self._cache = (time.monotonic(), shared, connection)
        return connection

    def forget_cached(self) -> None:
        """Read the connection again next time (its state changed; its settings did not)."""
        with self._lock:
            self._cache = None

    def _changed(self) -> None:
        with self._lock:
            self._cache = None
        self.changes.bump()
        for listener in self.listeners:
            listener()

    def public(self, connection: Connection | None = None) -> dict[str, Any] | None:
        """The connection as the API shows it: secrets masked, never returned. Read from the database
        (not the copy webhooks use, which may be a second old): what a person reads is what is stored,
        such as the summary another process's catch-up has just written."""
        if connection is None:
            row = self.db.connections.get(PLATFORM)
            connection = self._load(row) if row else None
        if connection is None:
            return None
        state = connection.state
        return {
            "platform": PLATFORM,
            "api_url": connection.api_url,
            "public_url": connection.public_url,
            "api_token": mask(connection.api_token),
            "webhook": {
                "id": connection.webhook_id,
                "url": connection.webhook_url,
                "name": connection.webhook_name,
                "tags": list(connection.webhook_tags),
                "statements": connection.webhook_statements,
                "signed": bool(connection.webhook_secret),
                "wired_at": state.get("wired_at"),
                "last_wiring": state.get("last_wiring"),
                "wiring_error": state.get("wiring_error"),
                "secret_rotated_at": state.get("secret_rotated_at"),
                "previous_secret_valid_until": state.get("previous_secret_until")
                if connection.previous_secret else None,
                "last_event_at": state.get("last_event_at"),
            },
            "catch_up": state.get("catchup"),
        }

    # writing -------------------------------------------------------------------------------------

    def _validate(self, data: Any, existing: Connection | None) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise InvalidInput({"connection": ["must be an object"]})
        data = dict(data)
        if existing is not None and (data.get("api_token") is None or is_mask(data.get("api_token"))):
            data["api_token"] = existing.api_token  # left out or sent back masked: kept
        if existing is not None:  # what is left out stays as it was
            for key, value in (("public_url", existing.public_url), ("api_url", existing.api_url),
                               ("webhook_name", existing.webhook_name),
                               ("webhook_tags", list(existing.webhook_tags)),
                               ("webhook_statements", existing.webhook_statements)):
                data.setdefault(key, value)
        token = set_private_targets_allowed(self.allow_private_targets)
        try:
            return ConnectionSchema().load(data)
        except marshmallow.ValidationError as exc:
            raise InvalidInput(flatten_errors(exc.messages)) from None
        finally:
            reset_private_targets_allowed(token)

    def _store(self, *, config: dict[str, Any], api_token: str, webhook_secret: str | None,
               previous_secret: str | None, state: dict[str, Any], audit_entry: dict[str, Any] | None = None) -> None:
        sealed = {"api_token": api_token}
        if webhook_secret:
            sealed["webhook_secret"] = webhook_secret
        if previous_secret:
            sealed["previous_webhook_secret"] = previous_secret
        self.db.connections.put(PLATFORM, config=config, secrets=self.box.seal(sealed), state=state,
                                audit=audit_entry)
        self._changed()
        _logged(audit_entry)

    @contextmanager
    def client(self, connection: Connection, *, quick: bool = False) -> Iterator[FlagPlatformClient]:
        """A client of the platform's API for ``connection``, its secrets kept out of every record.
        ``quick``: short time-outs (:data:`QUICK_TIMEOUTS`), for calls a delivery waits for."""
        with self._make_session() as session:
            http = self._http_factory(session, connection.secret_values(), QUICK_TIMEOUTS if quick else None)
            yield FlagPlatformClient(http, connection.api_url, connection.api_token)

    def flag_platform(self, http: HttpClient, connection: Connection | None = None) -> FlagPlatform | None:
        """The flag platform's API for a delivery, sending through the delivery's ``http`` (its
        attempt log, time-outs and target guard) with the connection's URL and token; None when the
        gateway is not connected. ``connection``: the one already read for this attempt."""
        connection = connection or self.current()
        if connection is None or not connection.api_token:
            return None
        return FlagPlatform(http, connection.api_url, connection.api_token)

    def connect(self, data: Any, origin: str | None = None) -> dict[str, Any]:
        """Store the connection and (unless ``wire`` is false) wire the webhook. The stored secret is
        accepted before the webhook is told it, so no signed delivery is refused meanwhile. When wiring
        fails, the previous connection is put back (or none kept) and :class:`ConnectionProblem` says why.
        ``origin``: who asked, for the audit log: the entry is written with the record of the wiring
        (with the stored connection when it is not wired), and a refusal's with the write that puts the
        previous connection back; when the record of the wiring cannot be written, the previous
        connection is put back too."""
        previous_row = self.db.connections.get(PLATFORM)
        existing = self._load(previous_row) if previous_row else None
        loaded = self._validate(data, existing)
        config = {key: loaded[key] for key in ("api_url", "public_url", "webhook_name", "webhook_tags",
                                                "webhook_statements")}
        same_account = existing is not None and existing.api_url == loaded["api_url"]
        secret = existing.webhook_secret if same_account and existing.webhook_secret else new_webhook_secret()
        state = dict(existing.state) if same_account else {}
        state.pop("wiring_error", None)
        shown = {"api_url": config["api_url"], "public_url": config["public_url"]}
        self._store(config=config, api_token=loaded["api_token"], webhook_secret=secret,
                    previous_secret=existing.previous_secret if same_account else None, state=state,
                    audit_entry=None if loaded["wire"] else _entry(origin, "connection.connect", **shown,
                                                                    webhook="not wired"))
        connection = self.current()
        if not loaded["wire"]:
            log.info("flag-platform connection to %s stored; webhook not wired (wire=false)", connection.api_url)
            return {"connection": self.public(connection), "webhook": None}
        try:
            wired = self._wire(connection, lambda done: _entry(
                origin, "connection.connect", **shown, webhook=done.action, webhook_id=done.webhook_id))
        except FlagApiError as exc:
            status = 502 if exc.retryable or exc.status is None else 400
            self._restore(previous_row, _entry(origin, "connection.connect", result=f"refused ({status})"))
            raise ConnectionProblem(status, f"not connected: {exc.message}", recorded=origin is not None) from None
        except Exception:
            # the record of the wiring, with the action's audit log entry, could not be written: the
            # connection is not kept either (when the database lets it be put back)
            try:
                self._restore(previous_row)
            except Exception as again:
                log.warning("the previous flag-platform connection could not be put back: %s", again)
            raise
        log.info("flag-platform connection to %s: %s", connection.api_url, wired.describe())
        return {"connection": self.public(), "webhook": {"action": wired.action, "id": wired.webhook_id,
                                                         "changed": list(wired.changed)}}

    def _wire(self, connection: Connection,
              entry_of: Callable[[Wired], dict[str, Any] | None] | None = None) -> Wired:
        """Create or update the webhook and record it; ``entry_of``: the action's audit log entry
        (given what was wired), written with that record."""
        with self.client(connection) as client:
            wired = wire(client, connection.desired(), connection.webhook_id,
                         secret_set=connection.state.get("secret_set_on") == connection.webhook_id)
        entry = entry_of(wired) if entry_of is not None else None
        # touch: the webhook changed, so the stored check results (perhaps from before the wiring)
        # are stale and the background checks run again
        self.db.connections.update_state(PLATFORM, {
            "webhook_id": wired.webhook_id, "wired_at": now(), "secret_set_on": wired.webhook_id,
            "last_wiring": wired.describe(), "wiring_error": None}, touch=True, audit=entry)
        self._changed()
        _logged(entry)
        return wired

    def rewire(self, origin: str | None = None) -> dict[str, Any]:
        """Wire the webhook again with the stored settings (for the check's ``rewire`` action).
        ``origin``: who asked, for the audit log: the entry is written with the wiring's record (or
        with the wiring error)."""
        connection = self._require()
        try:
            wired = self._wire(connection, lambda done: _entry(origin, "connection.rewire", webhook=done.action,
                                                               webhook_id=done.webhook_id))
        except FlagApiError as exc:
            entry = _entry(origin, "connection.rewire", result="refused (502)")
            self.db.connections.update_state(PLATFORM, {"wiring_error": exc.message}, audit=entry)
            self._changed()
            _logged(entry)
            raise ConnectionProblem(502, exc.message, recorded=entry is not None) from None
        return {"action": wired.action, "id": wired.webhook_id, "changed": list(wired.changed)}

    def _restore(self, row, entry: dict[str, Any] | None = None) -> None:
        """Put the connection ``row`` back (None: none), with the audit log ``entry`` saying why."""
        if row is None:
            self.db.connections.delete(PLATFORM, audit=entry)
        else:
            self.db.connections.put(PLATFORM, config=row.config, secrets=row.secrets, state=row.state, audit=entry)
        self._changed()
        _logged(entry)

    def _require(self) -> Connection:
        connection = self.current()
        if connection is None:
            raise ConnectionProblem(404, "the gateway is not connected to the flag platform: "
                                         "event-gateway connect launchdarkly --api-token ... --public-url ...")
        return connection

    def rotate_secret(self, origin: str | None = None) -> dict[str, Any]:
        """A new webhook secret; the old one stays valid for the grace period. Both are accepted
        before the webhook is told the new one. ``origin``: who asked, for the audit log: the entry
        is written with the new secret, and a refusal's with the write that puts the old one back."""
        connection = self._require()
        if not connection.webhook_id:
            raise ConnectionProblem(409, "no webhook is wired yet: connect with wire=true first")
        row = self.db.connections.get(PLATFORM)
        new_secret = new_webhook_secret()
        until = now() + self.grace_seconds
        config = dict(row.config)
        self._store(config=config, api_token=connection.api_token, webhook_secret=new_secret,
                    previous_secret=connection.webhook_secret,
                    state={**connection.state, "previous_secret_until": until, "secret_rotated_at": now()},
                    audit_entry=_entry(origin, "connection.rotate_secret", result="rotated"))
        rotated = self.current()
        try:
            with self.client(rotated) as client:
                client.patch_webhook(rotated.webhook_id, [{"op": "replace", "path": "/secret", "value": new_secret}])
        except FlagApiError as exc:
            self._restore(row, _entry(origin, "connection.rotate_secret", result="refused (502)",
                                      restored="the previous secret"))
            raise ConnectionProblem(502, f"the secret was not rotated: {exc.message}",
                                    recorded=origin is not None) from None
        self.db.connections.update_state(PLATFORM, {"secret_set_on": rotated.webhook_id})
        self._changed()
        log.info("flag-platform webhook secret rotated; the previous one is accepted for %g s", self.grace_seconds)
        return {"connection": self.public(), "previous_secret_valid_until": until}

    def disconnect(self, *, keep_webhook: bool = False, origin: str | None = None) -> dict[str, Any]:
        """Delete the webhook (unless ``keep_webhook``) and forget the connection. When the webhook
        cannot be deleted, nothing changes and :class:`ConnectionProblem` says why. ``origin``: who
        asked, for the audit log: the entry is written with the removal."""
        connection = self._require()
        deleted = None
        if connection.webhook_id and not keep_webhook:
            try:
                with self.client(connection) as client:
                    deleted = client.delete_webhook(connection.webhook_id)
            except FlagApiError as exc:
                raise ConnectionProblem(502, f"still connected: the webhook could not be deleted ({exc.message}); "
                                             "disconnect with keep_webhook to leave it in place") from None
        if keep_webhook or not connection.webhook_id:
            webhook = "kept" if connection.webhook_id else "none was wired"
        else:
            webhook = "deleted" if deleted else "already gone"
        entry = _entry(origin, "connection.disconnect", webhook=webhook, webhook_id=connection.webhook_id)
        self.db.connections.delete(PLATFORM, audit=entry)
        self.db.check_results.delete(f"connection:{PLATFORM}")
        self._changed()
        _logged(entry)
        log.info("flag-platform connection removed")
        return {"disconnected": True, "webhook": webhook, "webhook_id": connection.webhook_id}

    def event_seen(self, at: float) -> None:
        """A webhook signed with the connection's secret arrived; recorded at most once a minute."""
        if at - self._last_event_written < LAST_EVENT_WRITE_SECONDS:
            return
        self._last_event_written = at
        try:
            self.db.connections.update_state(PLATFORM, {"last_event_at": at})
        except Exception as exc:  # a note for the status check: never worth refusing the webhook
            log.warning("could not record the time of the last webhook: %s", exc)

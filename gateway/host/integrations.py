"""Integrations as the gateway uses them: config validated by the plugin's schema, secret fields
sealed at rest and masked on the way out, the policy compiled once."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import marshmallow

from gateway.crypto import SecretBox, is_mask, mask
from gateway.host.declarations import IntegrationRef
from gateway.host.flag_holds import FlagHolds
from gateway.host.fields import is_secret, stored_values, target_names_unresolved
from gateway.store.unavailable import unavailable
from gateway.host.plugins import LoadedPlugin, PluginHost
from gateway.policy import CompiledPolicy, PolicyError
from gateway.host.policy_cache import PolicyCache
from gateway.shared_changes import SharedChanges
from gateway.store import Database
from gateway.store.audit_log import Entry
from gateway.store.flag_holds import FlagHoldStore
from gateway.store.integrations import IntegrationRow
from gateway.outbound.targets import reset_private_targets_allowed, set_private_targets_allowed
from gateway.validation import InvalidInput, flatten_errors


ENABLED_TTL = 1.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActiveIntegration:
    """An integration ready to use: its plugin, validated config (secrets in the clear, in memory
    only), compiled policy. ``error`` is set when its stored config no longer validates."""

    row: IntegrationRow
    plugin: LoadedPlugin | None
    config: dict[str, Any]
    policy: CompiledPolicy | None
    error: str | None = None
    holds: FlagHoldStore | None = field(default=None, compare=False, repr=False)

    @property
    def ref(self) -> IntegrationRef:
        holds = FlagHolds(self.holds, self.row.id) if self.holds is not None else None
        return IntegrationRef(id=self.row.id, name=self.row.name, plugin=self.row.plugin, flag_holds=holds)

    def secret_values(self) -> list[str]:
        """Every secret value of the config, so that logs and attempt records can remove them."""
        if self.plugin is None:
            return []
        return [str(self.config[name]) for name in secret_fields(self.plugin) if self.config.get(name)]


def _same(a: list[ActiveIntegration], b: list[ActiveIntegration]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def secret_fields(plugin: LoadedPlugin) -> dict[str, str]:
    """The plugin's secret fields: attribute name -> input key."""
    return dict(_secret_fields(plugin.declaration.config_schema))


@lru_cache(maxsize=None)
def _secret_fields(schema_class: type[marshmallow.Schema]) -> tuple[tuple[str, str], ...]:
    # asked on every delivery attempt: instantiate each schema once
    schema = schema_class()
    return tuple((name, field.data_key or name) for name, field in schema.fields.items() if is_secret(field))


class IntegrationService:
    def __init__(self, db: Database, host: PluginHost, box: SecretBox, allow_private_targets: bool):
        self.db = db
        self.host = host
        self.box = box
        self.allow_private_targets = allow_private_targets
        self._cache: dict[str, tuple[float, ActiveIntegration]] = {}
        self._enabled: tuple[float, int, tuple, list[ActiveIntegration]] | None = None
        self._lock = threading.Lock()
        self._generation = 0  # counts changes made here, so a slower read never undoes one
        self.changes = SharedChanges()  # with the sibling processes of a pre-fork server
        self.policies = PolicyCache()
        self.listeners: list = []  # called after a change made in this process (background checks)

    # validation --------------------------------------------------------------------------------

    def _plugin(self, key: Any) -> LoadedPlugin:
        plugins = self.host.integration_types()
        if not isinstance(key, str) or key not in plugins:
            installed = ", ".join(sorted(plugins)) or "none"
            raise InvalidInput({"plugin": [f"unknown plugin {key!r}; installed: {installed}"]})
        return plugins[key]

    def load_config(self, plugin: LoadedPlugin, config: Any) -> dict[str, Any]:
        """``config`` validated by the plugin's schema; :class:`InvalidInput` keyed ``config.<field>``."""
        if not isinstance(config, dict):
            raise InvalidInput({"config": ["must be an object"]})
        token = set_private_targets_allowed(self.allow_private_targets)
        try:
            return plugin.declaration.config_schema().load(config)
        except marshmallow.ValidationError as exc:
            raise InvalidInput(flatten_errors(exc.messages, "config")) from None
        finally:
            reset_private_targets_allowed(token)

    def compile(self, policy: Any) -> CompiledPolicy:
        """The compiled policy, from the cache of compiled policies (compiled and kept when new);
        :class:`InvalidInput` keyed by path when it is invalid or too large."""
        try:
            return self.policies.get(policy)
        except PolicyError as exc:
            raise InvalidInput({path: [message] for path, message in exc.errors.items()}) from None

    def _split(self, plugin: LoadedPlugin, config: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        keys = set(secret_fields(plugin).values())
        plain = {k: v for k, v in config.items() if k not in keys}
        secrets = {k: v for k, v in config.items() if k in keys and v is not None}
        return plain, self.box.seal(secrets) if secrets else None

    def stored_input(self, row: IntegrationRow) -> dict[str, Any]:
        """The config as it was given (secrets decrypted)."""
        return {**row.config, **self.box.open(row.secrets)}

    # writing -----------------------------------------------------------------------------------

    def create(self, data: dict[str, Any], *, audit: Entry | None = None) -> IntegrationRow:
        """A new integration; ``audit``: the action's audit log entry, written with it
        (:meth:`gateway.store.integrations.IntegrationStore.create`)."""
        plugin, config, policy = self.check_new(data)
        plain, sealed = self._split(plugin, config)
        row = self.db.integrations.create(
            plugin=plugin.key, name=data["name"], enabled=data.get("enabled", True),
            config=plain, secrets=sealed, policy=list(policy), audit=audit,
        )
        self.changed()
        return row

    def check_new(self, data: dict[str, Any], *, with_config: bool = True) -> tuple[LoadedPlugin, dict[str, Any], Any]:
        """The plugin, config and policy of a new integration, each checked; :class:`InvalidInput`
        with every error of the config and the policy together (``with_config=False`` leaves the
        config out, when it is known to be wrong already)."""
        plugin = self._plugin(data.get("plugin"))
        config = data.get("config") or {}
        errors: dict[str, list[str]] = {}
        try:
            if with_config:
                self.load_config(plugin, config)
        except InvalidInput as exc:
            errors.update(exc.errors)
        policy = data.get("policy")
        if policy is None:
            policy = plugin.declaration.default_policy
        try:
            self.compile(policy)
        except InvalidInput as exc:
            errors.update(exc.errors)
        if errors:
            raise InvalidInput(errors)
        return plugin, config, policy

    def update(self, row: IntegrationRow, data: dict[str, Any], *, check_only: bool = False,
               audit: Entry | None = None) -> IntegrationRow:
        """Apply a partial update. ``config`` keys are merged into the stored config; a secret left
        out, or sent back as the API masks it, keeps its stored value; a key set to null is removed. With
        ``check_only`` nothing is written: only the errors are raised. ``audit``: the action's audit
        log entry, written with the change (none when nothing changes)."""
        changes: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        if "config" in data:
            plugin = self._plugin(row.plugin)
            if not isinstance(data["config"], dict):
                raise InvalidInput({"config": ["must be an object"]})
            merged = self.stored_input(row)
            secret_keys = set(secret_fields(plugin).values())
            for key, value in data["config"].items():
                if key in secret_keys and is_mask(value) and key in merged and value == mask(str(merged[key])):
                    continue  # the stored secret's mask, sent back: kept (another mask is refused)
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            try:
                self.load_config(plugin, merged)
            except InvalidInput as exc:
                errors.update(exc.errors)
            changes["config"], changes["secrets"] = self._split(plugin, merged)
        if "policy" in data:
            try:
                self.compile(data["policy"])
            except InvalidInput as exc:
                errors.update(exc.errors)
            changes["policy"] = list(data["policy"]) if isinstance(data["policy"], list) else data["policy"]
        if errors:
            raise InvalidInput(errors)
        if check_only:
            return row
        for key in ("name", "enabled"):
            if key in data:
                changes[key] = data[key]
        if not changes:
            return row
        updated = self.db.integrations.update(row.id, audit=audit, **changes) or row
        self.changed()
        return updated

    # reading -----------------------------------------------------------------------------------

    def public_config(self, row: IntegrationRow) -> dict[str, Any]:
        """The config as the API shows it: defaults filled in, secrets masked."""
        plugin = self.host.plugins.get(row.plugin)
        if plugin is None:
            return dict(row.config)
        secrets = self.box.open(row.secrets)
        try:
            token = set_private_targets_allowed(True)
            try:
                with stored_values():
                    loaded = plugin.declaration.config_schema().load({**row.config, **secrets})
            finally:
                reset_private_targets_allowed(token)
            shown = plugin.declaration.config_schema().dump(loaded)
        except (marshmallow.ValidationError, TypeError, ValueError, AttributeError):
            shown = dict(row.config)
        for key, value in secrets.items():
            shown[key] = mask(str(value))
        return shown

    def active(self, row: IntegrationRow) -> ActiveIntegration:
        """The integration ready to use, cached until it changes."""
        with self._lock:
            cached = self._cache.get(row.id)
            if cached and cached[0] == row.updated_at:
                return cached[1]
        plugin = self.host.plugins.get(row.plugin)
        if plugin is None or plugin.kind != "integration":
            active = ActiveIntegration(row, None, {}, None,
                                       error=f"plugin {row.plugin!r} is not installed or not loaded")
        else:
            try:
                with stored_values():  # names resolved again before each request; accepted once
                    config = self.load_config(plugin, self.stored_input(row))
                active = ActiveIntegration(row, plugin, config, self.compile(row.policy), holds=self.db.flag_holds)
            except InvalidInput as exc:
                active = ActiveIntegration(row, plugin, {}, None,
                                           error=f"its stored configuration is invalid: {exc}")
            except Exception as exc:  # a secret that no longer decrypts, for one
                active = ActiveIntegration(row, plugin, {}, None, error=str(exc))
        with self._lock:
            self._cache[row.id] = (row.updated_at, active)
        return active

    def remove(self, integration_id: str, *, audit: Entry | None = None) -> None:
        """Remove an integration with its deliveries (its events stay). Refused with
        :class:`InvalidInput` while one of its attempts is running: disable it first. ``audit``: the
        action's audit log entry, written with the removal."""
        if self.db.deliveries.list(integration_id=integration_id, status="in_flight", limit=1):
            raise InvalidInput({"integration": [
                "an attempt of this integration is running; disable the integration, wait for the attempt "
                "to finish (GET /api/v1/deliveries?status=in_flight), then remove it"]})
        self.db.integrations.delete(integration_id, audit=audit)
        self.db.check_results.delete(f"integration:{integration_id}")
        self.forget(integration_id)

    def forget(self, integration_id: str) -> None:
        """Drop a removed integration from the cache."""
        with self._lock:
            self._cache.pop(integration_id, None)
        self.changed()

    def changed(self) -> None:
        """An integration changed in this process: read the enabled ones again now, in the thread that
        made the change (an admin request or a command), so that no webhook has to; the sibling
        processes of a pre-fork server read them again before their next webhook."""
        with self._lock:
            self._enabled = None
            self._generation += 1
        self.changes.bump()
        self._read_enabled()
        for listener in self.listeners:
            listener()

    def enabled(self) -> list[ActiveIntegration]:
        """The enabled integrations, read again after a change made here (or by a sibling process of
        the same server), and checked for changes once they are :data:`ENABLED_TTL` seconds old
        (changes made by another program or node, such as the CLI). The same list object is returned
        while nothing changed.

        A change made here was compiled when it was saved, so reading it again compiles nothing. An
        old list is checked before it is used (one summary row; all of them read again only when it
        changed), never answered as it is: a node idle for a while would otherwise decide its next
        webhooks without an integration added elsewhere meanwhile. Reading compiles only policies
        changed elsewhere since, each at most :data:`gateway.policy.limits.MAX_STATEMENTS` statements.
        """
        shared = self.changes.generation
        with self._lock:
            cached = self._enabled
        if cached is None or cached[1] != shared:
            return self._read_enabled()
        if time.monotonic() - cached[0] >= ENABLED_TTL:
            signature = self.db.integrations.signature()
            if signature != cached[2]:
                return self._read_enabled()
            with self._lock:
                if self._enabled is cached:  # nothing changed: the list stays, as it is
                    self._enabled = (time.monotonic(), cached[1], signature, cached[3])
        return cached[3]

    def _read_enabled(self) -> list[ActiveIntegration]:
        with self._lock:
            generation = self._generation
            cached = self._enabled
        shared = self.changes.generation
        signature = self.db.integrations.signature()
        active = [self.active(row) for row in self.db.integrations.list(enabled_only=True)]
        if cached is not None and _same(active, cached[3]):
            active = cached[3]  # unchanged: keep the list (and what is derived from it) as it was
        with self._lock:
            if generation == self._generation:
                self._enabled = (time.monotonic(), shared, signature, active)
        return active

    def enabled_one(self, integration_id: str) -> ActiveIntegration | None:
        """The enabled integration ``integration_id`` from :meth:`enabled`, or None."""
        return next((a for a in self.enabled() if a.row.id == integration_id), None)

    def warm(self) -> None:
        """Compile every stored policy now (at start), so that no request has to."""
        for row in self.db.integrations.list():
            self.active(row)
        self._read_enabled()

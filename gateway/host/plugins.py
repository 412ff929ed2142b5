"""The plugin host: loads plugins, refuses broken ones, and calls one plugin's hooks at a time."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import marshmallow
import pluggy

from gateway.host import hookspecs
from gateway.host.builtin import launchdarkly_source
from gateway.host.declarations import EventSource, IntegrationType
from gateway.host.markers import PROJECT_NAME

log = logging.getLogger(__name__)

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
SPEC_NAMES = frozenset(
    name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), f"{PROJECT_NAME}_spec")
)
INTEGRATION_HOOKS = frozenset(
    {"check_event", "deliver_event", "receive_webhook", "integration_status", "integration_action", "test_event",
     "batch_limits", "deliver_batch"}
)
OPTIONAL_HOOKS = ("receive_webhook", "integration_status", "integration_action", "test_event",
                  "batch_limits", "deliver_batch")

# Built-in behaviour, registered as ordinary plugins under these names. A plugin that declares a
# source with the same key replaces the built-in one.
BUILTIN_PLUGINS = (("builtin.launchdarkly", launchdarkly_source),)


class PluginError(Exception):
    """A plugin cannot be used; the message names it and says why."""


class MissingHook(PluginError):
    """The plugin does not implement an optional hook that was asked for."""


@dataclass
class LoadedPlugin:
    """A plugin that passed every check."""

    name: str
    key: str
    kind: str  # "integration" or "source"
    declaration: IntegrationType | EventSource
    distribution: str | None
    version: str | None
    builtin: bool
    impls: dict[str, pluggy.HookImpl] = field(default_factory=dict)

    @property
    def hooks(self) -> list[str]:
        return sorted(self.impls)

    def has_hook(self, hook: str) -> bool:
        return hook in self.impls


@dataclass(frozen=True)
class RefusedPlugin:
    """A plugin that was found but not loaded, and why."""

    name: str
    distribution: str | None
    version: str | None
    error: str


@dataclass(frozen=True)
class FilteredPlugin:
    """An installed plugin left out by ``GATEWAY_PLUGINS``."""

    name: str
    distribution: str | None
    version: str | None


def _distribution(entry_point: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class PluginHost:
    """Builds a fresh ``PluginManager``, loads built-in and entry-point plugins, and checks each one.

    ``allowed`` (from ``GATEWAY_PLUGINS``) restricts the entry-point plugins that load (None: all);
    built-in plugins always load. ``extra`` adds ``(name, plugin)`` pairs, as if from entry points.
    """

    def __init__(self, *, allowed: frozenset[str] | None = None, entry_points: bool = True,
                 extra: tuple[tuple[str, Any], ...] = ()):
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, LoadedPlugin] = {}  # by key
        self.refused: list[RefusedPlugin] = []
        self.filtered: list[FilteredPlugin] = []
        for name, plugin in BUILTIN_PLUGINS:
            self._add(name, plugin, None, None, builtin=True)
        candidates: list[tuple[str, Any, str | None, str | None]] = []
        if entry_points:
            for ep in sorted(metadata.entry_points(group=PROJECT_NAME), key=lambda e: e.name):
                dist, version = _distribution(ep)
                if allowed is not None and ep.name not in allowed:
                    self.filtered.append(FilteredPlugin(ep.name, dist, version))
                    continue
                try:
                    plugin = ep.load()
                except Exception as exc:  # an import error must not stop the other plugins
                    self._refuse(ep.name, dist, version, f"cannot be imported ({ep.value}): {_describe(exc)}")
                    continue
                candidates.append((ep.name, plugin, dist, version))
        for name, plugin in extra:
            if allowed is not None and name not in allowed:
                self.filtered.append(FilteredPlugin(name, None, None))
                continue
            candidates.append((name, plugin, None, None))
        for name, plugin, dist, version in candidates:
            self._add(name, plugin, dist, version, builtin=False)
        self.pm.check_pending()

    # loading -----------------------------------------------------------------------------------

    def _refuse(self, name, dist, version, error) -> None:
        message = f"plugin {name!r} refused: {error}"
        log.error(message)
        self.refused.append(RefusedPlugin(name, dist, version, error))

    def _add(self, name, plugin, dist, version, *, builtin: bool) -> None:
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            self._refuse(name, dist, version, f"invalid hook: {exc}")
            return
        try:
            loaded = self._check(name, plugin, dist, version, builtin)
        except PluginError as exc:
            self.pm.unregister(plugin)
            self._refuse(name, dist, version, str(exc))
            return
        existing = self.plugins.get(loaded.key)
        if existing is not None:
            if existing.builtin and not builtin and existing.kind == loaded.kind == "source":
                log.info("plugin %r replaces the built-in source %r", name, loaded.key)
                self.pm.unregister(name=existing.name)
            else:
                self.pm.unregister(plugin)
                self._refuse(name, dist, version,
                             f"duplicate key {loaded.key!r}: already provided by plugin {existing.name!r}"
                             + (f" ({existing.distribution})" if existing.distribution else ""))
                return
        self.plugins[loaded.key] = loaded

    def _check(self, name, plugin, dist, version, builtin) -> LoadedPlugin:
        impls: dict[str, pluggy.HookImpl] = {}
        for caller in self.pm.get_hookcallers(plugin) or []:
            if caller.name not in SPEC_NAMES:
                raise PluginError(f"unknown hook {caller.name!r} (known hooks: {', '.join(sorted(SPEC_NAMES))})")
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    if impl.wrapper or impl.hookwrapper:
                        raise PluginError(f"hook {caller.name!r} may not be a wrapper")
                    impls[caller.name] = impl
        if ("integration_type" in impls) == ("event_source" in impls):
            raise PluginError("a plugin implements exactly one of 'integration_type' or 'event_source'")
        if "event_source" in impls:
            extra = sorted(set(impls) & INTEGRATION_HOOKS)
            if extra:
                raise PluginError(f"a source plugin does not implement integration hooks ({', '.join(extra)})")
            declaration = self._declare(impls["event_source"], EventSource)
            self._check_source(declaration)
            kind = "source"
        else:
            if "deliver_event" not in impls:
                raise PluginError("an integration plugin must implement 'deliver_event'")
            if ("batch_limits" in impls) != ("deliver_batch" in impls):
                raise PluginError("a plugin implements 'batch_limits' and 'deliver_batch' together, or neither")
            declaration = self._declare(impls["integration_type"], IntegrationType)
            self._check_integration(declaration)
            kind = "integration"
        return LoadedPlugin(name=name, key=declaration.key, kind=kind, declaration=declaration,
                            distribution=dist, version=version, builtin=builtin, impls=impls)

    @staticmethod
    def _declare(impl: pluggy.HookImpl, expected: type):
        try:
            declaration = impl.function()
        except Exception as exc:
            raise PluginError(f"{impl.function.__name__}() raised {_describe(exc)}") from None
        if not isinstance(declaration, expected):
            raise PluginError(
                f"{impl.function.__name__}() must return gateway.{expected.__name__}, got {type(declaration).__name__}"
            )
        if not isinstance(declaration.key, str) or not KEY_PATTERN.match(declaration.key):
            raise PluginError(
                f"key {declaration.key!r} is invalid: lowercase letters, digits, '-' and '_', starting with a letter"
            )
        return declaration

    @staticmethod
    def _check_source(declaration: EventSource) -> None:
        if not callable(declaration.parse):
            raise PluginError("EventSource.parse must be callable")
        if declaration.verify is not None and not callable(declaration.verify):
            raise PluginError("EventSource.verify must be callable")

    @staticmethod
    def _check_integration(declaration: IntegrationType) -> None:
        from gateway.policy import PolicyError, compile_policy

        schema = declaration.config_schema
        if not (isinstance(schema, type) and issubclass(schema, marshmallow.Schema)):
            raise PluginError(f"config_schema must be a marshmallow Schema class, got {schema!r}")
        try:
            schema()
        except Exception as exc:
            raise PluginError(f"config_schema {schema.__name__} cannot be instantiated: {_describe(exc)}") from None
        try:
            compile_policy(declaration.default_policy)
        except PolicyError as exc:
            raise PluginError(f"default_policy is invalid: {exc}") from None
        if not isinstance(declaration.sources, tuple) or not all(isinstance(s, str) for s in declaration.sources):
            raise PluginError("sources must be a tuple of source keys")
        if not isinstance(declaration.policy_overridable, bool):
            raise PluginError("policy_overridable must be True or False")

    # using -------------------------------------------------------------------------------------

    def integration_types(self) -> dict[str, LoadedPlugin]:
        return {k: p for k, p in self.plugins.items() if p.kind == "integration"}

    def sources(self) -> dict[str, LoadedPlugin]:
        return {k: p for k, p in self.plugins.items() if p.kind == "source"}

    def get(self, key: str) -> LoadedPlugin:
        plugin = self.plugins.get(key)
        if plugin is None:
            raise PluginError(f"no plugin {key!r} is installed")
        return plugin

    def call(self, key: str, hook: str, **kwargs: Any) -> Any:
        """Call ``hook`` of the plugin ``key`` alone, passing the arguments its implementation takes."""
        impl = self.get(key).impls.get(hook)
        if impl is None:
            raise MissingHook(f"plugin {key!r} does not implement {hook!r}")
        return impl.function(*(kwargs[name] for name in impl.argnames))

"""Project, environment and flag names from the flag platform's API, cached with a time to live.

The webhook carries keys only. Before a flag-platform event is handed to a plugin, the delivery
worker asks :class:`NameResolver` for the names (``GET /api/v2/projects/{key}?expand=environments``,
and the flag when the payload has no name). Answers are cached for ``GATEWAY_NAMES_TTL_SECONDS``; a
project or environment change arriving through the webhook drops that project from the cache. With
no connection, or the API failing, the event goes on without the API's names and says why
(``Event.names_unavailable``), with the environment names the webhook itself carries
(``currentVersion.environments.<key>._environmentName``) where it has them; a failure is remembered
for :data:`FAILURE_SECONDS` so that a platform that is down does not slow every delivery. Every
environment of the change is named (``Event.environment_names``), not only ``environment_key``'s.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from gateway.events import EVERY_ENVIRONMENT, Event
from gateway.flagplatform.client import FlagApiError, environments_of
from gateway.flagplatform.connection import ConnectionService

log = logging.getLogger(__name__)

FAILURE_SECONDS = 60.0
NAME_FIELDS = ("project_name", "environment_name", "environment_names", "name", "names_unavailable")


@dataclass(frozen=True)
class ProjectNames:
    name: str | None
    environments: dict[str, str]


class NameResolver:
    def __init__(self, connections: ConnectionService, ttl_seconds: float, clock=time.monotonic):
        self.connections = connections
        self.ttl = ttl_seconds
        self.clock = clock
        self._projects: dict[tuple[str, str], tuple[float, ProjectNames | None]] = {}
        self._flags: dict[tuple[str, str, str], tuple[float, str | None]] = {}
        self._failure: tuple[float, str] | None = None
        self._lock = threading.Lock()

    def forget(self, project_key: str | None) -> None:
        """Drop a project's cached names (a project or environment change arrived)."""
        with self._lock:
            for key in [k for k in self._projects if k[1] == project_key or project_key is None]:
                del self._projects[key]

    def _fresh(self, entry: tuple[float, Any] | None) -> bool:
        return entry is not None and self.clock() - entry[0] < self.ttl

    def resolve(self, event: Event) -> Event:
        """``event`` with its names filled in, or with ``names_unavailable`` saying why not."""
        if event.source != "launchdarkly" or not event.project_key:
            return event
        connection = self.connections.current()
        if connection is None:
            return from_webhook(event, NO_CONNECTION)
        with self._lock:
            failure = self._failure
        if failure is not None and self.clock() - failure[0] < FAILURE_SECONDS:
            return from_webhook(event, failure[1])
        try:
            return self._resolve(event, connection)
        except FlagApiError as exc:
            reason = f"the flag platform's API did not give the names: {exc.message}"
            with self._lock:
                self._failure = (self.clock(), reason)
            log.warning("names unavailable for event %s: %s", event.id or event.source_id, exc.message)
            return from_webhook(event, reason)

    def as_received(self, event: Event) -> Event:
        """``event`` as the intake stores it: without a flag-platform connection, already with the
        webhook's environment names and why the rest are missing, as :meth:`resolve` would give them
        at its first delivery. That delivery then finds nothing to store, where it used to rewrite the
        stored event to say so: a write per event. A connection made meanwhile still gets the API's
        names, stored by the first delivery that reads them."""
        if event.source != "launchdarkly" or not event.project_key or self.connections.current() is not None:
            return event
        return from_webhook(event, NO_CONNECTION)

    def _resolve(self, event: Event, connection) -> Event:
        api = connection.api_url
        project_key = event.project_key
        with self._lock:
            cached = self._projects.get((api, project_key))
            flag_cached = self._flags.get((api, project_key, event.flag_key or ""))
        need_flag = bool(event.flag_key) and not event.name and not self._fresh(flag_cached)
        if not self._fresh(cached) or need_flag:
            with self.connections.client(connection, quick=True) as client:
                if not self._fresh(cached):
                    project = client.get_project(project_key)
                    names = None if project is None else ProjectNames(
                        name=project.get("name") if isinstance(project.get("name"), str) else None,
                        environments={env["key"]: env["name"] for env in environments_of(project)
                                      if isinstance(env.get("key"), str) and isinstance(env.get("name"), str)})
                    cached = (self.clock(), names)
                    with self._lock:
                        self._projects[(api, project_key)] = cached
                if need_flag:
                    flag = client.get_flag(project_key, event.flag_key)
                    flag_name = flag.get("name") if isinstance(flag, dict) and isinstance(flag.get("name"), str) else None
                    flag_cached = (self.clock(), flag_name)
                    with self._lock:
                        self._flags[(api, project_key, event.flag_key)] = flag_cached
        with self._lock:
            self._failure = None
        names = cached[1]
        if names is None:
            return from_webhook(event, f"the flag platform has no project {project_key}")
        changes: dict[str, Any] = {"project_name": names.name, "names_unavailable": None}
        keys = _named_keys(event)
        if keys:
            found = {key: names.environments.get(key) or event.environment_names.get(key) for key in keys}
            changes["environment_names"] = {key: name for key, name in found.items() if name}
            changes["environment_name"] = found.get(event.environment_key or "")
            missing = [key for key, name in found.items() if not name]
            if missing:
                changes["names_unavailable"] = (f"project {project_key} has no environment {', '.join(missing)} "
                                                "in the flag platform, and the webhook names none")
        if event.flag_key and not event.name and flag_cached and flag_cached[1]:
            changes["name"] = flag_cached[1]
        return dataclasses.replace(event, **changes)


def _named_keys(event: Event) -> list[str]:
    """The environment keys a name is wanted for: every environment of the change but ``*``."""
    keys = event.environments or ([event.environment_key] if event.environment_key else [])
    return [key for key in keys if key not in EVERY_ENVIRONMENT]


NO_CONNECTION = "no flag-platform connection (run event-gateway connect launchdarkly to get the project's name)"


def from_webhook(event: Event, reason: str) -> Event:
    """``event`` without the API's names: the environment names the webhook carries
    (``currentVersion.environments.<key>._environmentName``), and ``names_unavailable`` saying what is
    missing and why."""
    missing = [key for key in _named_keys(event) if key not in event.environment_names]
    if missing:
        why = f"{reason}; the webhook names no environment {', '.join(missing)}"
    else:
        why = f"{reason}; the environment names are the webhook's" if event.environment_names else reason
    return dataclasses.replace(event, names_unavailable=why,
                               environment_name=event.environment_names.get(event.environment_key or ""))


def names_of(event: Event) -> dict[str, Any]:
    """The name fields of an event, to store with it."""
    return {name: getattr(event, name) for name in NAME_FIELDS}

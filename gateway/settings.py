"""Configuration: every ``GATEWAY_*`` key, its default, and how it is read.

Flask config wins, then the environment, then the default. :func:`apply_defaults` fills the app's
config once in ``init_app``; :class:`Settings` is the typed view the rest of the core reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
DEFAULT_RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)

# key: (default, description) — the README's configuration table is checked against this.
KEYS: dict[str, tuple[Any, str]] = {
    "GATEWAY_DATABASE_URL": (None, "SQLAlchemy database URL; default: SQLite `gateway.db` in the instance folder"),
    "GATEWAY_SECRET_KEY": (None, "key that encrypts secret config fields; default: a key file generated in the instance folder (mode 0600)"),
    "GATEWAY_ADMIN_TOKEN": (None, "bearer token of the admin API; default: generated on first start, printed once, only its hash kept"),
    "GATEWAY_LAUNCHDARKLY_SECRET": (None, "webhook signing secret; when set, `X-LD-Signature` is required and checked"),
    "GATEWAY_MAX_BODY_BYTES": (1048576, "largest accepted webhook body, in bytes"),
    "GATEWAY_PLUGINS": (None, "comma list of plugin entry-point names to load; unset loads all, empty loads none (the built-in flag-platform source always loads)"),
    "GATEWAY_ALLOW_PRIVATE_TARGETS": (False, "allow plain http:// and private/loopback targets (local set-ups and tests)"),
    "GATEWAY_WORKERS": (4, "delivery worker threads run by `serve` (shared out over its processes, at least one each) and by `worker`; 0 runs none in `serve`"),
    "GATEWAY_RETRY_SCHEDULE": (None, "seconds before each attempt, comma list; default `0,5,300,1800,7200,18000,36000,36000` (+-20% jitter)"),
    "GATEWAY_RETENTION_DAYS": (30, "days delivered and skipped records are kept; dead ones are kept until replayed or deleted"),
    "GATEWAY_CONNECT_TIMEOUT": (5.0, "outbound connect time-out, seconds"),
    "GATEWAY_READ_TIMEOUT": (15.0, "outbound read time-out, seconds"),
    "GATEWAY_LEASE_SECONDS": (120, "how long a worker holds a delivery before another may take it"),
    "GATEWAY_SHUTDOWN_GRACE_SECONDS": (20, "how long SIGTERM waits for in-flight attempts"),
    "GATEWAY_THREADS": (8, "HTTP server threads of `serve` (in each process)"),
    "GATEWAY_PROCESSES": (None, "server processes of `serve` (also `--processes`); default: the number of CPU cores; more than one needs POSIX (gunicorn)"),
}


def _env(key: str) -> str | None:
    return os.environ.get(key)


def apply_defaults(config: dict[str, Any]) -> None:
    """Fill ``config`` (a Flask config) with every key not set there, from the environment or the default."""
    for key, (default, _) in KEYS.items():
        value = _env(key)
        config.setdefault(key, value if value is not None else default)


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


class SettingError(ValueError):
    """A configuration value that cannot be used; the message names the key."""


def _number(config, key, kind, minimum):
    value = config.get(key)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise SettingError(f"{key}={value!r} is not a number") from None
    if number < minimum:
        raise SettingError(f"{key}={value!r} must be at least {minimum}")
    return number


def parse_schedule(value: Any) -> tuple[float, ...]:
    """``GATEWAY_RETRY_SCHEDULE``: seconds before each attempt."""
    if value in (None, ""):
        return DEFAULT_RETRY_SCHEDULE
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        schedule = tuple(float(str(item).strip()) for item in items)
    except ValueError:
        raise SettingError(f"GATEWAY_RETRY_SCHEDULE={value!r} must be a comma list of seconds") from None
    if not schedule or any(s < 0 for s in schedule):
        raise SettingError(f"GATEWAY_RETRY_SCHEDULE={value!r} must list one or more non-negative numbers")
    return schedule


def parse_plugin_filter(value: Any) -> frozenset[str] | None:
    """``GATEWAY_PLUGINS``: None loads every plugin; a set (possibly empty) loads only those."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(item.strip() for item in items if item.strip())


@dataclass(frozen=True)
class Settings:
    """The typed settings of one app."""

    database_url: str
    secret_key: str | None
    admin_token: str | None
    launchdarkly_secret: str | None
    max_body_bytes: int
    plugins: frozenset[str] | None
    allow_private_targets: bool
    workers: int
    retry_schedule: tuple[float, ...]
    retention_days: float
    connect_timeout: float
    read_timeout: float
    lease_seconds: float
    shutdown_grace_seconds: float
    threads: int
    instance_path: str
    processes: int | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any], instance_path: str) -> Settings:
        database_url = config.get("GATEWAY_DATABASE_URL") or (
            "sqlite:///" + os.path.join(instance_path, "gateway.db")
        )
        return cls(
            database_url=database_url,
            secret_key=config.get("GATEWAY_SECRET_KEY") or None,
            admin_token=config.get("GATEWAY_ADMIN_TOKEN") or None,
            launchdarkly_secret=config.get("GATEWAY_LAUNCHDARKLY_SECRET") or None,
            max_body_bytes=_number(config, "GATEWAY_MAX_BODY_BYTES", int, 1),
            plugins=parse_plugin_filter(config.get("GATEWAY_PLUGINS")),
            allow_private_targets=as_bool(config.get("GATEWAY_ALLOW_PRIVATE_TARGETS")),
            workers=_number(config, "GATEWAY_WORKERS", int, 0),
            retry_schedule=parse_schedule(config.get("GATEWAY_RETRY_SCHEDULE")),
            retention_days=_number(config, "GATEWAY_RETENTION_DAYS", float, 0),
            connect_timeout=_number(config, "GATEWAY_CONNECT_TIMEOUT", float, 0.001),
            read_timeout=_number(config, "GATEWAY_READ_TIMEOUT", float, 0.001),
            lease_seconds=_number(config, "GATEWAY_LEASE_SECONDS", float, 1),
            shutdown_grace_seconds=_number(config, "GATEWAY_SHUTDOWN_GRACE_SECONDS", float, 0),
            threads=_number(config, "GATEWAY_THREADS", int, 1),
            instance_path=instance_path,
            processes=_number(config, "GATEWAY_PROCESSES", int, 1) if config.get("GATEWAY_PROCESSES") else None,
        )

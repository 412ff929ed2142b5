"""Configuration: every ``GATEWAY_*`` key, its default, and how it is read.

Flask config wins, then the environment, then the default. :func:`apply_defaults` fills the app's
config once in ``init_app``; :class:`Settings` is the typed view the rest of the core reads.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.secret_rules import weakness

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
DEFAULT_RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)

# key: (default, description) — the README's configuration table is checked against this.
KEYS: dict[str, tuple[Any, str]] = {
    "GATEWAY_DATABASE_URL": (None, "the database: `sqlite:///path/gateway.db`, or PostgreSQL as `postgresql://user:password@host:5432/name` (`postgres://` and `postgresql+psycopg://` are read the same); default: SQLite `gateway.db` in the instance folder"),
    "GATEWAY_DATABASE_WAIT_SECONDS": (60, "how long `serve` and `worker` wait at start for a database that cannot be reached yet (logged while waiting) before they exit; other commands do not wait"),
    "GATEWAY_SECRET_KEY": (None, "key that encrypts secret config fields; default: a key file generated in the instance folder (mode 0600)"),
    "GATEWAY_ADMIN_TOKEN": (None, "bearer token of the admin API; default: generated on first start, printed once, only its hash kept"),
    "GATEWAY_METRICS_TOKEN": (None, "bearer token `GET /metrics` requires (`Authorization: Bearer <token>`, at least 16 characters); unset: `/metrics` is open"),
    "GATEWAY_AUTH_FAILURES_ALLOWED": (10, "failed authentications (a wrong admin token, UI sign-in or metrics token) one client address may make within 60 s before it is answered 429 for 60 s; 0 turns the throttle off"),
    "GATEWAY_REQUIRE_SIGNED_WEBHOOKS": (False, "refuse flag-platform webhooks that cannot be checked: without `GATEWAY_LAUNCHDARKLY_SECRET` every one is refused (401) instead of accepted unsigned"),
    "GATEWAY_PUBLIC_URL": (None, "the gateway's public base URL (`https://gateway.example.com`), used for the `webhook_url` it shows; unset: a path only (the request's `Host` header is never used)"),
    "GATEWAY_LAUNCHDARKLY_SECRET": (None, "webhook signing secret; when set, `X-LD-Signature` is required and checked (the connection's stored secret is accepted too)"),
    "GATEWAY_MAX_BODY_BYTES": (1048576, "largest accepted webhook body, in bytes"),
    "GATEWAY_MAX_API_BODY_BYTES": (1048576, "largest accepted admin API request body, in bytes"),
    "GATEWAY_PLUGINS": (None, "comma list of plugin entry-point names to load; unset loads all, empty loads none (the built-in flag-platform source always loads)"),
    "GATEWAY_ALLOW_PRIVATE_TARGETS": (False, "allow plain http:// and private/loopback targets (local set-ups and tests)"),
    "GATEWAY_WORKERS": (4, "delivery worker threads run by `serve` (shared out over its processes, at least one each) and by `worker`; 0 runs none in `serve`"),
    "GATEWAY_RETRY_SCHEDULE": (None, "seconds before each attempt, comma list; default `0,5,300,1800,7200,18000,36000,36000` (+-20% jitter)"),
    "GATEWAY_RETENTION_DAYS": (30, "days delivered and skipped records are kept; dead ones are kept until replayed or deleted"),
    "GATEWAY_DEDUPE_RETENTION_DAYS": (365, "days an event's de-duplication key (its source id) is kept after retention removed the event, so that a webhook replayed meanwhile is still a duplicate"),
    "GATEWAY_MAX_ENTRY_AGE_DAYS": (0, "refuse (400) flag-platform entries dated (`date`) more than this many days ago, as possible replays; 0: no bound. Keep it at most `GATEWAY_RETENTION_DAYS` + `GATEWAY_DEDUPE_RETENTION_DAYS`"),
    "GATEWAY_AUDIT_RETENTION_DAYS": (365, "days the stored audit log (`GET /api/v1/audit`) keeps an entry; pruned with the other records"),
    "GATEWAY_CONNECT_TIMEOUT": (5.0, "outbound connect time-out, seconds"),
    "GATEWAY_READ_TIMEOUT": (15.0, "outbound read time-out, seconds"),
    "GATEWAY_LEASE_SECONDS": (15, "how long a delivery's lease lasts without a heartbeat: workers renew it every third of this while the attempt runs; a stopped worker's deliveries are taken again once it runs out"),
    "GATEWAY_SHUTDOWN_GRACE_SECONDS": (20, "how long SIGTERM waits for in-flight attempts"),
    "GATEWAY_HEADER_READ_SECONDS": (10, "`serve`: how long a request's line and headers may take to arrive; a connection still sending them is answered 408 and closed"),
    "GATEWAY_BODY_READ_SECONDS": (30, "`serve`: how long a request's body may take to arrive after its headers; past it, 408 and closed"),
    "GATEWAY_THREADS": (8, "HTTP server threads of `serve` (in each process)"),
    "GATEWAY_PROCESSES": (None, "server processes of `serve` (also `--processes`); default: the number of CPU cores; more than one needs POSIX (gunicorn)"),
    "GATEWAY_UI": (True, "serve the admin web UI under `/ui/`; `0` turns it off"),
    "GATEWAY_UI_SESSION_HOURS": (8, "how long a sign-in to the web UI lasts, in hours"),
    "GATEWAY_RETRY_AFTER_SECONDS": (5, "`Retry-After` of the 503 answered while the database is unavailable, seconds"),
    "GATEWAY_CHECK_INTERVAL_SECONDS": (600, "how often `serve` runs every integration's checks and the flag-platform connection's in the background (they also run after each change)"),
    "GATEWAY_CATCHUP_INTERVAL_SECONDS": (300, "with a flag-platform connection, how often `serve` reconciles from the audit log, catching flag changes whose webhook was lost (it also does at start, when a database outage ends, and on demand)"),
    "GATEWAY_CATCHUP_MAX_LOOKBACK_HOURS": (24, "how far back a catch-up from the audit log reaches at most; changes older than that after a longer gap are reported, not caught up"),
    "GATEWAY_NAMES_TTL_SECONDS": (3600, "how long project, environment and flag names read from the flag platform's API are cached"),
    "GATEWAY_WEBHOOK_SECRET_GRACE_SECONDS": (86400, "how long the previous webhook secret is still accepted after a rotation"),
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


ADMIN_TOKEN_MIN_CHARS = 16


def parse_token(key: str, value: Any) -> str | None:
    """A bearer token setting (``GATEWAY_ADMIN_TOKEN``, ``GATEWAY_METRICS_TOKEN``): None when unset;
    refused when weak (:func:`gateway.secret_rules.weakness`: shorter than
    :data:`ADMIN_TOKEN_MIN_CHARS`, blank, or of one kind of character), the reason given and the
    token not shown."""
    if value in (None, ""):
        return None
    why = weakness(str(value), ADMIN_TOKEN_MIN_CHARS)
    if why:
        raise SettingError(f"{key} {why}; a random one: "
                           "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return str(value)


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


DATABASE_URL_FORMS = ("sqlite:///path/to/gateway.db, or postgresql://user:password@host:5432/database "
                      "(postgres:// and postgresql+psycopg:// are read the same)")


def parse_database_url(value: str) -> str:
    """``GATEWAY_DATABASE_URL``: a SQLite or PostgreSQL URL whose driver is installed. ``postgres://``
    (the form many hosts hand out) and ``postgresql://`` are read as PostgreSQL with psycopg 3.
    Anything else is refused in one line naming the setting and the accepted forms."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    text = str(value).strip()
    scheme, separator, rest = text.partition("://")
    if separator and scheme.lower() in ("postgres", "postgresql"):
        text = "postgresql+psycopg://" + rest
    where = f"GATEWAY_DATABASE_URL={_masked_url(text)!r}"
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise SettingError(f"{where} is not a database URL; use {DATABASE_URL_FORMS}") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise SettingError(f"{where}: the gateway runs on SQLite or PostgreSQL, not {url.get_backend_name()!r}; "
                           f"use {DATABASE_URL_FORMS}")
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise SettingError(f"{where}: no database driver {url.drivername!r} (a misspelling?); "
                           f"use {DATABASE_URL_FORMS}") from None
    try:
        dialect.import_dbapi()
    except ImportError:
        hint = ("install the gateway with its postgres extra (pip install -e '.[postgres]'), which brings psycopg 3"
                if url.get_backend_name() == "postgresql" else f"install the driver {url.get_driver_name()!r}")
        raise SettingError(f"{where}: the driver {url.get_driver_name()!r} is not installed; {hint}, "
                           f"or use {DATABASE_URL_FORMS}") from None
    return text


def _masked_url(text: str) -> str:
    """A database URL with its password replaced by ``***`` (for messages)."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", text)


def parse_public_url(value: Any) -> str | None:
    """``GATEWAY_PUBLIC_URL``: an absolute http(s) URL without query or fragment, kept without its
    trailing slash; None when unset."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        parts = urlsplit(text)
        if parts.port == 0:  # (raises ValueError on a port that is not 0-65535 in ASCII digits)
            parts = None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SettingError(f"GATEWAY_PUBLIC_URL={value!r} must be an absolute http:// or https:// URL "
                           "such as https://gateway.example.com (a path is allowed; no query or fragment)")
    return text.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """The typed settings of one app."""

    database_url: str
    secret_key: str | None
    admin_token: str | None
    launchdarkly_secret: str | None
    require_signed_webhooks: bool
    public_url: str | None
    max_body_bytes: int
    max_api_body_bytes: int
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
    ui: bool = True
    ui_session_hours: float = 8.0
    retry_after_seconds: int = 5
    check_interval_seconds: float = 600.0
    catchup_interval_seconds: float = 300.0
    catchup_max_lookback_hours: float = 24.0
    names_ttl_seconds: float = 3600.0
    webhook_secret_grace_seconds: float = 86400.0
    processes: int | None = None
    database_wait_seconds: float = 60.0
    metrics_token: str | None = None
    auth_failures_allowed: int = 10
    dedupe_retention_days: float = 365.0
    max_entry_age_days: float = 0.0
    header_read_seconds: float = 10.0
    body_read_seconds: float = 30.0
    audit_retention_days: float = 365.0

    @classmethod
    def from_config(cls, config: dict[str, Any], instance_path: str) -> Settings:
        database_url = parse_database_url(config.get("GATEWAY_DATABASE_URL") or (
            "sqlite:///" + os.path.join(instance_path, "gateway.db")
        ))
        return cls(
            database_url=database_url,
            secret_key=config.get("GATEWAY_SECRET_KEY") or None,
            admin_token=parse_token("GATEWAY_ADMIN_TOKEN", config.get("GATEWAY_ADMIN_TOKEN")),
            metrics_token=parse_token("GATEWAY_METRICS_TOKEN", config.get("GATEWAY_METRICS_TOKEN")),
            auth_failures_allowed=_number(config, "GATEWAY_AUTH_FAILURES_ALLOWED", int, 0),
            launchdarkly_secret=config.get("GATEWAY_LAUNCHDARKLY_SECRET") or None,
            require_signed_webhooks=as_bool(config.get("GATEWAY_REQUIRE_SIGNED_WEBHOOKS")),
            public_url=parse_public_url(config.get("GATEWAY_PUBLIC_URL")),
            max_body_bytes=_number(config, "GATEWAY_MAX_BODY_BYTES", int, 1),
            max_api_body_bytes=_number(config, "GATEWAY_MAX_API_BODY_BYTES", int, 1),
            plugins=parse_plugin_filter(config.get("GATEWAY_PLUGINS")),
            allow_private_targets=as_bool(config.get("GATEWAY_ALLOW_PRIVATE_TARGETS")),
            workers=_number(config, "GATEWAY_WORKERS", int, 0),
            retry_schedule=parse_schedule(config.get("GATEWAY_RETRY_SCHEDULE")),
            retention_days=_number(config, "GATEWAY_RETENTION_DAYS", float, 0),
            audit_retention_days=_number(config, "GATEWAY_AUDIT_RETENTION_DAYS", float, 0),
            connect_timeout=_number(config, "GATEWAY_CONNECT_TIMEOUT", float, 0.001),
            read_timeout=_number(config, "GATEWAY_READ_TIMEOUT", float, 0.001),
            lease_seconds=_number(config, "GATEWAY_LEASE_SECONDS", float, 1),
            shutdown_grace_seconds=_number(config, "GATEWAY_SHUTDOWN_GRACE_SECONDS", float, 0),
            threads=_number(config, "GATEWAY_THREADS", int, 1),
            instance_path=instance_path,
            ui=as_bool(config.get("GATEWAY_UI")),
            ui_session_hours=_number(config, "GATEWAY_UI_SESSION_HOURS", float, 0.01),
            retry_after_seconds=_number(config, "GATEWAY_RETRY_AFTER_SECONDS", int, 1),
            check_interval_seconds=_number(config, "GATEWAY_CHECK_INTERVAL_SECONDS", float, 1),
            catchup_interval_seconds=_number(config, "GATEWAY_CATCHUP_INTERVAL_SECONDS", float, 1),
            catchup_max_lookback_hours=_number(config, "GATEWAY_CATCHUP_MAX_LOOKBACK_HOURS", float, 0.01),
            names_ttl_seconds=_number(config, "GATEWAY_NAMES_TTL_SECONDS", float, 0),
            webhook_secret_grace_seconds=_number(config, "GATEWAY_WEBHOOK_SECRET_GRACE_SECONDS", float, 0),
            processes=_number(config, "GATEWAY_PROCESSES", int, 1) if config.get("GATEWAY_PROCESSES") else None,
            database_wait_seconds=_number(config, "GATEWAY_DATABASE_WAIT_SECONDS", float, 0),
            dedupe_retention_days=_number(config, "GATEWAY_DEDUPE_RETENTION_DAYS", float, 0),
            max_entry_age_days=_number(config, "GATEWAY_MAX_ENTRY_AGE_DAYS", float, 0),
            header_read_seconds=_number(config, "GATEWAY_HEADER_READ_SECONDS", float, 0.1),
            body_read_seconds=_number(config, "GATEWAY_BODY_READ_SECONDS", float, 0.1),
        )

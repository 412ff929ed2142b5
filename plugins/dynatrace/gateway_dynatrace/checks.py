"""The Dynatrace integration's status checks: will Dynatrace take the token, and do the entities
the events go to exist?

``POST /api/v2/apiTokens/lookup`` works with a token of any scope and tells whether it is enabled,
when it expires and its scopes: Events API v2 needs ``events.ingest``, v1 needs ``DataExport``;
with ``api_version: auto`` either will do, and the check says which version events go to.
When the token may read entities (``entities.read``) and the integration has a tag, the entities
API tells whether any entity of the integration's type carries it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from gateway import HttpClient, HttpResponse, StatusCheck, TargetNotAllowed, TransportError

from .answers import _error_message
from .schema import Settings
from .selector import SelectorTooLong, entity_selector

LOOKUP_PATH = "/api/v2/apiTokens/lookup"
ENTITIES_PATH = "/api/v2/entities"
V2_SCOPE = "events.ingest"
V1_SCOPE = "DataExport"
ENTITIES_SCOPE = "entities.read"
EXPIRY_WARNING = timedelta(days=7)
SCOPE_NAMES = {V2_SCOPE: "events.ingest (Ingest events)",
               V1_SCOPE: "DataExport (Access problem and event feed, metrics, and topology)"}

TOKEN = "token"
ENTITIES = "entities"


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Api-Token {token}", "Accept": "application/json",
            "Content-Type": "application/json; charset=utf-8"}


def _said(response: HttpResponse) -> str:
    detail = _error_message(response)
    return f" (Dynatrace said: {detail})" if detail else ""


def _expiry(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    if isinstance(value, str) and value:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return None


def token_check(http: HttpClient, settings: Settings, now: datetime) -> tuple[StatusCheck, list[str] | None]:
    """The token check, and the token's scopes when Dynatrace told them."""
    try:
        response = http.post(settings.url + LOOKUP_PATH, json={"token": settings.api_token},
                             headers=_headers(settings.api_token))
    except TransportError as exc:
        return StatusCheck(TOKEN, "warning", f"cannot reach Dynatrace to check the token: {exc}"), None
    except TargetNotAllowed as exc:
        return StatusCheck(TOKEN, "error", f"the gateway may not send to the integration's url: {exc}"), None
    if response.status_code == 401:
        return StatusCheck(TOKEN, "error", f"Dynatrace does not know the token (401){_said(response)}: it was "
                           "deleted, belongs to another environment, or was mistyped; create a token in this "
                           "environment (Access tokens) and set the integration's api_token"), None
    if response.status_code == 404:
        return StatusCheck(TOKEN, "error", f"Dynatrace answered 404 to the token lookup{_said(response)}: the "
                           "url is not a Dynatrace environment's base URL"), None
    if not response.ok:
        if response.is_retryable:
            return StatusCheck(TOKEN, "warning", f"Dynatrace answered {response.status_code} to the token lookup"
                               f"{_said(response)}"), None
        return StatusCheck(TOKEN, "error", f"Dynatrace answered {response.status_code} to the token lookup"
                           f"{_said(response)}"), None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return StatusCheck(TOKEN, "error", "Dynatrace's answer to the token lookup is not a token's metadata: "
                           "check that the url is the environment's base URL"), None
    scopes = [s for s in body.get("scopes") or [] if isinstance(s, str)]
    name = body.get("name") or body.get("id") or "the token"
    if body.get("enabled") is False:
        return StatusCheck(TOKEN, "error", f"token {name!r} is disabled, so Dynatrace refuses every event: enable "
                           "it in Dynatrace (Access tokens), or create a new one"), scopes
    expires = _expiry(body.get("expirationDate"))
    if expires is not None and expires <= now:
        return StatusCheck(TOKEN, "error", f"token {name!r} expired at {expires.isoformat(timespec='seconds')}: "
                           f"create a new token with {SCOPE_NAMES[_needed(settings)]} and set the "
                           "integration's api_token"), scopes
    problem = _scope_problem(settings, scopes)
    if problem:
        return StatusCheck(TOKEN, "error", f"token {name!r} {problem}"), scopes
    if expires is not None and expires - now < EXPIRY_WARNING:
        return StatusCheck(TOKEN, "warning", f"token {name!r} expires at {expires.isoformat(timespec='seconds')}: "
                           "create a new one before then"), scopes
    until = f", valid until {expires.isoformat(timespec='seconds')}" if expires else ""
    if settings.api_version == "auto":
        needed = V2_SCOPE if V2_SCOPE in scopes else V1_SCOPE
        version = "v2" if needed == V2_SCOPE else "v1 (deprecated by Dynatrace; add events.ingest to move to v2)"
        return StatusCheck(TOKEN, "ok", f"token {name!r} is enabled and has {needed}{until}: api_version auto "
                           f"sends to Events API {version}"), scopes
    return StatusCheck(TOKEN, "ok", f"token {name!r} is enabled and has {_needed(settings)}{until}"), scopes


def _needed(settings: Settings) -> str:
    return V1_SCOPE if settings.api_version == "v1" else V2_SCOPE


def _scope_problem(settings: Settings, scopes: list[str]) -> str | None:
    if settings.api_version == "auto":
        if V2_SCOPE in scopes or V1_SCOPE in scopes:
            return None
        return (f"has neither {SCOPE_NAMES[V2_SCOPE]}, which Events API v2 needs, nor {SCOPE_NAMES[V1_SCOPE]}, "
                "which v1 needs: add events.ingest to the token")
    if settings.api_version == "v2" and V2_SCOPE not in scopes:
        if V1_SCOPE in scopes:
            return (f"has only {SCOPE_NAMES[V1_SCOPE]}, which Events API v1 takes, and not {V2_SCOPE}: the "
                    f"first flag change would be refused (403). Add {V2_SCOPE} to the token, or set api_version v1")
        return f"lacks {SCOPE_NAMES[V2_SCOPE]}, which Events API v2 needs: add it to the token"
    if settings.api_version == "v1" and V1_SCOPE not in scopes:
        if V2_SCOPE in scopes:
            return (f"has {V2_SCOPE} but not {SCOPE_NAMES[V1_SCOPE]}, which Events API v1 needs: add {V1_SCOPE} "
                    "to the token, or set api_version v2")
        return f"lacks {SCOPE_NAMES[V1_SCOPE]}, which Events API v1 needs: add it to the token"
    return None


def entities_check(http: HttpClient, settings: Settings, scopes: list[str] | None) -> StatusCheck | None:
    """Whether any entity of the integration's type carries its tag; None when there is no tag to check."""
    if not settings.tag:
        return None
    kind, tag = settings.entity_type, settings.tag
    if scopes is None:
        return None  # the token check says why nothing could be learnt
    if ENTITIES_SCOPE not in scopes:
        return StatusCheck(ENTITIES, "ok", f"not checked whether any {kind} carries tag {tag!r}: the token may "
                           f"not read entities (add {ENTITIES_SCOPE} to have it checked)")
    try:
        selector = entity_selector(kind, [tag])
    except SelectorTooLong as exc:
        return StatusCheck(ENTITIES, "error", str(exc))
    try:
        response = http.get(settings.url + ENTITIES_PATH, params={"entitySelector": selector, "pageSize": 1},
                            headers=_headers(settings.api_token))
    except (TransportError, TargetNotAllowed) as exc:
        return StatusCheck(ENTITIES, "warning", f"cannot check the entities carrying tag {tag!r}: {exc}")
    if not response.ok:
        return StatusCheck(ENTITIES, "warning", f"cannot check the entities carrying tag {tag!r}: Dynatrace "
                           f"answered {response.status_code}{_said(response)}")
    try:
        body = response.json()
    except ValueError:
        body = None
    total = body.get("totalCount") if isinstance(body, dict) else None
    if not isinstance(total, int):
        return StatusCheck(ENTITIES, "warning", "cannot check the entities: Dynatrace's answer has no totalCount")
    if total == 0:
        return StatusCheck(ENTITIES, "error", f"no {kind} carries tag {tag!r}: events would attach to nothing. "
                           "Tag the entities in Dynatrace, or change the integration's tag or entity_type")
    plural = "entity carries" if total == 1 else "entities carry"
    return StatusCheck(ENTITIES, "ok", f"{total} {kind} {plural} tag {tag!r}")


def status_checks(config: dict[str, Any], http: HttpClient, now: datetime | None = None) -> list[StatusCheck]:
    settings = Settings.from_config(config)
    http.add_secrets(settings.api_token)
    token, scopes = token_check(http, settings, now or datetime.now(timezone.utc))
    checks = [token]
    entities = entities_check(http, settings, scopes)
    if entities is not None:
        checks.append(entities)
    return checks

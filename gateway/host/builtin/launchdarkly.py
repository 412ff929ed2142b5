"""The flag platform's webhook: an audit-log entry, checked and turned into an :class:`Event`."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from gateway.events import Access, CustomProperty, Event, Member
from gateway.host.inbound_request import InboundRequest, Rejected
from gateway.host.builtin.markdown import markdown_links, markdown_to_text
from gateway.policy.limits import MAX_ACCESSES, access_limit_error
from gateway.signatures import verify_hmac_sha256

SOURCE = "launchdarkly"
SIGNATURE_HEADER = "X-LD-Signature"

# Audit-log kinds and the resource type of the scope they change.
KIND_SCOPES = {
    "flag": "flag",
    "environment": "env",
    "project": "proj",
    "segment": "segment",
    "metric": "metric",
    "experiment": "experiment",
    "member": "member",
    "role": "role",
    "team": "team",
    "webhook": "webhook",
    "integration": "integration",
}


def parse_resource(resource: str) -> list[tuple[str, str, list[str]]]:
    """``proj/p:env/e;tag:flag/f`` as ``[(type, key, tags), ...]``; unreadable scopes are left out."""
    return [(type_, key, list(tags)) for type_, key, tags in _scopes(resource)]


_Scopes = tuple[tuple[str, str, tuple[str, ...]], ...]
CACHED_RESOURCE_CHARS = 300
"""Resources up to this long are read once and kept (4,096 of them at most); longer ones each time."""


def _scopes(resource: str) -> _Scopes:
    """:func:`parse_resource` as tuples, kept per resource string (the same flags change again and
    again); a sender's long resource is not kept."""
    return _cached_scopes(resource) if len(resource) <= CACHED_RESOURCE_CHARS else _read_scopes(resource)


def _read_scopes(resource: str) -> _Scopes:
    scopes = []
    for part in resource.split(":"):
        type_, sep, rest = part.partition("/")
        if not sep:
            continue
        key, _, tags = rest.partition(";")
        scopes.append((type_, key, tuple(t for t in tags.split(",") if t)))
    return tuple(scopes)


_cached_scopes = lru_cache(maxsize=4096)(_read_scopes)


def verify_signature(request: InboundRequest, secret: str) -> None:
    """Refuse (401) a request whose ``X-LD-Signature`` is missing or is not the HMAC of its body."""
    signature = request.header(SIGNATURE_HEADER)
    if not signature:
        raise Rejected(401, f"missing {SIGNATURE_HEADER} header (a signing secret is configured)")
    if not verify_hmac_sha256(secret, request.body, signature):
        raise Rejected(401, f"{SIGNATURE_HEADER} does not match the body signed with the configured secret")


def _accesses(payload: dict[str, Any]) -> list[Access]:
    raw = payload.get("accesses")
    if not isinstance(raw, list):
        raise Rejected(400, "'accesses' must be a list of {action, resource} objects")
    if not raw:
        raise Rejected(400, "'accesses' is empty: it must list at least one {action, resource}")
    if len(raw) > MAX_ACCESSES:  # before reading them
        raise Rejected(400, access_limit_error([("", "")] * len(raw)) or "")
    accesses = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise Rejected(400, f"accesses[{index}] must be an object with 'action' and 'resource'")
        for name in ("action", "resource"):
            if not isinstance(item.get(name), str) or not item[name]:
                raise Rejected(400, f"accesses[{index}].{name} must be a non-empty string")
        accesses.append(Access(item["action"], item["resource"]))
    problem = access_limit_error([(access.action, access.resource) for access in accesses])
    if problem:
        raise Rejected(400, problem)
    return accesses


def _occurred_at(payload: dict[str, Any]) -> datetime:
    date = payload.get("date")
    if date is None:
        return datetime.now(timezone.utc)
    if isinstance(date, bool) or not isinstance(date, (int, float)):
        raise Rejected(400, "'date' must be a number of milliseconds since the epoch")
    try:
        return datetime.fromtimestamp(date / 1000, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise Rejected(400, f"'date' {date!r} is out of range") from None


def _member(payload: dict[str, Any]) -> Member | None:
    member = payload.get("member")
    if not isinstance(member, dict):
        return None

    def text(key: str) -> str | None:
        value = member.get(key)
        return value if isinstance(value, str) and value else None

    return Member(
        id=text("_id"), email=text("email"), first_name=text("firstName"), last_name=text("lastName")
    )


def _custom_properties(version: dict[str, Any]) -> dict[str, CustomProperty]:
    raw = version.get("customProperties")
    if not isinstance(raw, dict):
        return {}
    props = {}
    for key, prop in raw.items():
        if not isinstance(prop, dict):
            continue
        values = prop.get("value", prop.get("values"))
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list):
            values = []
        name = prop.get("name") if isinstance(prop.get("name"), str) else key
        props[str(key)] = CustomProperty(name, tuple(str(v) for v in values if v is not None))
    return props


def _string_list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _target_url(payload: dict[str, Any]) -> str | None:
    links = [(text, url) for text, url in markdown_links(_text(payload, "title"))
             if url.startswith(("http://", "https://"))]
    name = payload.get("name")
    for text, url in links:
        if text == name:
            return url
    return links[-1][1] if links else None


def environment_of(resource: str) -> str | None:
    """The environment key of an access's resource (``env/<key>``), None when it names none."""
    for type_, key, _ in _scopes(resource):
        if type_ == "env":
            return key
    return None


def _environment_keys(accesses: list[Access]) -> list[str]:
    """The environment keys of the accesses, in order, each once."""
    keys = (environment_of(access.resource) for access in accesses)
    return list(dict.fromkeys(key for key in keys if key))


def _environment_names(version: dict[str, Any]) -> dict[str, str]:
    """Environment names the flag carries in the webhook: ``currentVersion.environments.<key>._environmentName``."""
    environments = version.get("environments")
    if not isinstance(environments, dict):
        return {}
    return {str(key): env["_environmentName"] for key, env in environments.items()
            if isinstance(env, dict) and isinstance(env.get("_environmentName"), str) and env["_environmentName"]}


def _text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) else None


def normalize_audit_entry(payload: Any) -> Event:
    """An audit-log entry as an :class:`Event`; :class:`Rejected` (400) says what is wrong with it."""
    if not isinstance(payload, dict):
        raise Rejected(400, "the body must be a JSON object (a flag-platform audit-log entry)")
    source_id = payload.get("_id")
    if not isinstance(source_id, str) or not source_id.strip():
        raise Rejected(400, "missing '_id': the audit-log entry's id (a non-empty string) is required")
    if "accesses" not in payload:
        raise Rejected(400, "missing 'accesses': the list of {action, resource} the change made is required")
    accesses = _accesses(payload)
    kind = payload.get("kind") if isinstance(payload.get("kind"), str) and payload.get("kind") else "unknown"

    keys: dict[str, str] = {}
    parsed = [_scopes(access.resource) for access in accesses]
    for scopes in parsed:
        if not keys or (scopes and scopes[-1][0] == "flag" and "flag" not in keys):
            keys = {type_: key for type_, key, _ in scopes}
    version = payload.get("currentVersion") if isinstance(payload.get("currentVersion"), dict) else {}

    scope_tags: dict[str, list[str]] = {}
    scope_attributes: dict[str, dict[str, Any]] = {}
    scope = KIND_SCOPES.get(kind)
    if scope and version:
        scope_tags[scope] = _string_list(version.get("tags"))
        scope_attributes[scope] = {
            k: v for k, v in version.items() if isinstance(v, (str, int, float, bool)) and v is not None
        }
    for scopes in parsed:
        for type_, _, tags in scopes:
            if tags:
                scope_tags.setdefault(type_, [])
                scope_tags[type_] = sorted(set(scope_tags[type_]) | set(tags))

    environment_names = _environment_names(version) if kind == "flag" else {}
    return Event(
        source=SOURCE,
        source_id=source_id,
        kind=kind,
        occurred_at=_occurred_at(payload),
        title=markdown_to_text(_text(payload, "title")),
        accesses=accesses,
        project_key=keys.get("proj"),
        environment_key=keys.get("env"),
        flag_key=keys.get("flag"),
        name=_text(payload, "name"),
        title_verb=_text(payload, "titleVerb"),
        description=_text(payload, "description"),
        comment=_text(payload, "comment"),
        member=_member(payload),
        target_url=_target_url(payload),
        flag_tags=_string_list(version.get("tags")) if kind == "flag" else [],
        custom_properties=_custom_properties(version) if kind == "flag" else {},
        scope_tags=scope_tags,
        scope_attributes=scope_attributes,
        environment_name=environment_names.get(keys.get("env", "")),
        raw=payload,
        environments=_environment_keys(accesses),
        environment_names=environment_names,
    )


def parse_request(request: InboundRequest) -> Event:
    """The built-in source's parser: JSON body, then :func:`normalize_audit_entry`."""
    return normalize_audit_entry(request.json())

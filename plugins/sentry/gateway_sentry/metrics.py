"""The LaunchDarkly metric that counts the imported errors: checking it exists, and creating it.

Imported events count only towards metrics whose event key is the configured ``event_key``. The
metrics list (``GET /api/v2/metrics/<project>``) is paged and cannot be filtered by event key, so
it is read page by page; each LaunchDarkly project is read once per status check.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import gateway

from .launchdarkly import auth_headers, error_detail
from .mapping import Mapping, mappings

CREATE_METRIC = "create_metric"
PAGE_SIZE = 50
"""The largest page the metrics list serves."""
MAX_PAGES = 200
"""Give up after this many pages (10,000 metrics) rather than page forever."""

_NOT_IN_KEY = re.compile(r"[^A-Za-z0-9._-]+")


KNOWN_SECONDS = 300.0
"""How long a delivery trusts what was last learnt of a project's metric before reading it again."""

_known: dict[tuple[str, str, str], tuple[float, bool]] = {}
_known_lock = threading.Lock()


def _remember(config: dict[str, Any], ld_project: str, exists: bool) -> None:
    with _known_lock:
        _known[(config["api_url"], ld_project, config["event_key"])] = (time.monotonic(), exists)


def metric_missing_warning(http: gateway.HttpClient, config: dict[str, Any], ld_project: str) -> str | None:
    """A warning for an import into ``ld_project`` when no metric there counts the event key; None
    when one does, or when that cannot be told now (the import itself went through). What is learnt
    is kept for :data:`KNOWN_SECONDS`."""
    key = (config["api_url"], ld_project, config["event_key"])
    with _known_lock:
        known = _known.get(key)
    if known is None or time.monotonic() - known[0] >= KNOWN_SECONDS:
        try:
            exists = find_metric(http, config, ld_project) is not None
        except CannotCheck:
            return None
        _remember(config, ld_project, exists)
    else:
        exists = known[1]
    if exists:
        return None
    return (
        f"no metric of LaunchDarkly project {ld_project} counts event key {config['event_key']!r}, so no "
        f"experiment counts this error: press \"Create metric in {ld_project}\" on the integration's page "
        f"(the {CREATE_METRIC} action of the API and CLI), or create a custom conversion "
        f"metric with event key {config['event_key']!r} in {ld_project}"
    )


class CannotCheck(Exception):
    """The metrics could not be read; the message says why."""


def metrics_url(api_url: str, ld_project: str) -> str:
    """The metrics collection of a LaunchDarkly project."""
    return f"{api_url}/api/v2/metrics/{ld_project}"


def find_metric(http: gateway.HttpClient, config: dict[str, Any], ld_project: str) -> dict[str, Any] | None:
    """The project's first metric whose ``eventKey`` is the configured event key, or None.
    Raises :class:`CannotCheck`."""
    event_key = config["event_key"]
    http.add_secrets(config["access_token"])
    offset = 0
    for _ in range(MAX_PAGES):
        body = _metrics_page(http, config, ld_project, offset)
        items = body.get("items")
        if not isinstance(items, list):
            raise CannotCheck("LaunchDarkly's answer has no items list")
        for item in items:
            if isinstance(item, dict) and item.get("eventKey") == event_key:
                return item
        offset += len(items)
        if not items or not _has_more(body, offset):
            return None
    raise CannotCheck(f"gave up after reading {offset} metrics in {MAX_PAGES} pages")


def _metrics_page(
    http: gateway.HttpClient, config: dict[str, Any], ld_project: str, offset: int
) -> dict[str, Any]:
    try:
        response = http.get(
            metrics_url(config["api_url"], ld_project),
            headers=auth_headers(config["access_token"]),
            params={"limit": PAGE_SIZE, "offset": offset},
        )
    except gateway.TransportError as exc:
        raise CannotCheck(f"cannot reach the LaunchDarkly API: {exc}") from None
    except gateway.TargetNotAllowed as exc:
        raise CannotCheck(f"api_url may not be sent to: {exc}") from None
    if not response.ok:
        raise CannotCheck(_read_problem(response, ld_project))
    try:
        body = response.json()
    except ValueError:
        raise CannotCheck("LaunchDarkly's answer is not JSON: check api_url") from None
    if not isinstance(body, dict):
        raise CannotCheck("LaunchDarkly's answer is not a JSON object: check api_url")
    return body


def _has_more(body: dict[str, Any], offset: int) -> bool:
    """Whether metrics remain after ``offset``: by ``totalCount`` when given, else ``_links.next``."""
    total = body.get("totalCount")
    if isinstance(total, int) and not isinstance(total, bool):
        return offset < total
    links = body.get("_links")
    return isinstance(links, dict) and bool(links.get("next"))


def _read_problem(response: gateway.HttpResponse, ld_project: str) -> str:
    status, detail = response.status_code, error_detail(response)
    if status == 401:
        return (
            f"LaunchDarkly refused the access token (401: {detail}): set access_token to a valid access token"
        )
    if status == 403:
        return (
            f"the access token may not read the metrics of project {ld_project} (403: {detail}): "
            "give its role reader access to the project"
        )
    if status == 404:
        return f"LaunchDarkly has no project {ld_project} (404: {detail}): check ld_project"
    if response.is_retryable:
        return f"LaunchDarkly answered {status} ({detail}); try again later"
    return f"LaunchDarkly answered {status} ({detail}): check api_url"


def status_checks(config: dict[str, Any], http: gateway.HttpClient) -> list[gateway.StatusCheck]:
    """One check per mapping: does its LaunchDarkly project have a metric for the event key?"""
    found: dict[str, dict[str, Any] | CannotCheck | None] = {}
    checks = []
    for mapping in mappings(config):
        if mapping.ld_project not in found:
            try:
                found[mapping.ld_project] = find_metric(http, config, mapping.ld_project)
                _remember(config, mapping.ld_project, found[mapping.ld_project] is not None)
            except CannotCheck as exc:
                found[mapping.ld_project] = exc
        checks.append(_check(mapping, found[mapping.ld_project], config["event_key"]))
    return checks


def _check(
    mapping: Mapping, result: dict[str, Any] | CannotCheck | None, event_key: str
) -> gateway.StatusCheck:
    name = f"metric for {mapping.label}"
    project = mapping.ld_project
    if isinstance(result, CannotCheck):
        return gateway.StatusCheck(
            name, "warning", f"cannot check the metrics of LaunchDarkly project {project}: {result}"
        )
    if result is None:
        return gateway.StatusCheck(
            name,
            "error",
            f"LaunchDarkly project {project} has no metric with event key {event_key!r}, so the "
            f"Sentry errors imported into {project}/{mapping.ld_environment} are not counted. Press "
            f"\"Create metric in {project}\" (the {CREATE_METRIC} action of the API and CLI), or create a "
            f"custom conversion metric with event key {event_key!r} in LaunchDarkly.",
            action=CREATE_METRIC,
            action_params={"ld_project": project},
        )
    metric = f"{result.get('name') or result.get('key')!r} ({result.get('key')})"
    if result.get("isNumeric"):
        return gateway.StatusCheck(
            name,
            "warning",
            f"metric {metric} of LaunchDarkly project {project} has event key {event_key!r} but is "
            "numeric; imported Sentry errors carry no value, so count them with a custom "
            "conversion metric",
        )
    return gateway.StatusCheck(
        name, "ok", f"metric {metric} of LaunchDarkly project {project} counts event key {event_key!r}"
    )


def metric_definition(event_key: str) -> dict[str, Any]:
    """A custom conversion metric counting the event key, where fewer errors is better."""
    return {
        "key": _NOT_IN_KEY.sub("-", event_key).strip("-") or "sentry-errors",
        "name": f"Sentry errors ({event_key})",
        "description": "Sentry error events imported by the Flag Event Gateway: fewer is better.",
        "kind": "custom",
        "eventKey": event_key,
        "isNumeric": False,
        "successCriteria": "LowerThanBaseline",
        "tags": ["sentry", "event-gateway"],
    }


def create_metric(config: dict[str, Any], http: gateway.HttpClient, params: dict[str, Any]) -> str:
    """The ``create_metric`` action: create the metric in ``params["ld_project"]`` unless one
    already counts the event key. Raises :class:`gateway.Rejected` when it cannot be done."""
    project = params.get("ld_project")
    if not isinstance(project, str) or not project:
        raise gateway.Rejected(400, f"{CREATE_METRIC} needs ld_project, the LaunchDarkly project key")
    if project not in {mapping.ld_project for mapping in mappings(config)}:
        raise gateway.Rejected(
            400, f"LaunchDarkly project {project!r} is not in this integration's environment_mappings"
        )
    event_key = config["event_key"]
    try:
        existing = find_metric(http, config, project)
    except CannotCheck:
        existing = None  # creating tells what is wrong, or works when only reading is refused
    if existing is not None:
        return (
            f"metric {existing.get('key')} of LaunchDarkly project {project} already counts event "
            f"key {event_key!r}; nothing created"
        )
    definition = metric_definition(event_key)
    http.add_secrets(config["access_token"])
    try:
        response = http.post(
            metrics_url(config["api_url"], project),
            json=definition,
            headers=auth_headers(config["access_token"]),
        )
    except gateway.TransportError as exc:
        raise gateway.Rejected(502, f"cannot reach the LaunchDarkly API: {exc}") from None
    except gateway.TargetNotAllowed as exc:
        raise gateway.Rejected(400, f"api_url may not be sent to: {exc}") from None
    if response.ok:
        _remember(config, project, True)
        return (
            f"created custom conversion metric {definition['key']} in LaunchDarkly project "
            f"{project}, counting event key {event_key!r}"
        )
    raise _create_problem(response, project, definition["key"], event_key)


def _create_problem(
    response: gateway.HttpResponse, project: str, key: str, event_key: str
) -> gateway.Rejected:
    status, detail = response.status_code, error_detail(response)
    if status == 400:
        return gateway.Rejected(400, f"LaunchDarkly refused the metric definition (400: {detail})")
    if status == 401:
        return gateway.Rejected(
            400,
            f"LaunchDarkly refused the access token (401: {detail}): "
            "set access_token to a valid access token",
        )
    if status == 403:
        return gateway.Rejected(
            400,
            f"the access token may not create metrics in project {project} (403: {detail}): give "
            "its role the createMetric action, or create the metric in LaunchDarkly",
        )
    if status == 404:
        return gateway.Rejected(
            400, f"LaunchDarkly has no project {project} (404: {detail}): check ld_project"
        )
    if status == 409:
        return gateway.Rejected(
            409,
            f"project {project} already has a metric with key {key}, and it does not count event "
            f"key {event_key!r} (409: {detail}): create the metric in LaunchDarkly under another "
            "key, or change event_key",
        )
    if response.is_retryable:
        return gateway.Rejected(503, f"LaunchDarkly answered {status} ({detail}); try again later")
    return gateway.Rejected(502, f"LaunchDarkly answered {status} ({detail}): check api_url")

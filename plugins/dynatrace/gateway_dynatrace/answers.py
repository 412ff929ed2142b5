"""Reading Dynatrace's answers into delivery results.

The body is read, not just the status: an Events API v2 ``201`` can still mean that nothing was
attached (``reportCount`` 0) or that Dynatrace refused the event for an entity (a result whose
``status`` is not ``OK``). Every reason says what happened and what to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway import Delivered, DeliveryResult, Failed, HttpResponse, RetryLater

EXCERPT_CHARS = 300

TOKEN_SCOPES = {
    "v2": "the events.ingest scope",
    "v1": "the 'Access problem and event feed, metrics, and topology' (DataExport) scope",
}

NO_ENTITY = "no entity of that type carries those tags, or it has sent no agent data lately"

RESULT_HINTS = {
    "INVALID_ENTITY_TYPE": "Dynatrace does not take this event type on entities of this type; change "
    "entity_type or event_type",
    "INVALID_METADATA": "Dynatrace refused a property of the event",
    "INVALID_TIMESTAMPS": "the change's time is outside what Dynatrace accepts for info events (30 days "
    "back, 7 days ahead)",
}


def read_v2_answer(response: HttpResponse, *, entity_type: str, tags: Sequence[str]) -> DeliveryResult:
    """The result of an Events API v2 ingest answered with ``response``."""
    if not response.ok:
        return _error_result(response, "v2")
    body = _json_object(response)
    results = body.get("eventIngestResults") if body else None
    report_count = body.get("reportCount") if body else None
    if not isinstance(report_count, int) or not isinstance(results, list):
        return _unreadable(response, "an ingest result (reportCount, eventIngestResults)")
    if report_count == 0:
        return Failed(
            _no_entity(entity_type, tags, "Dynatrace attached the event to no entity (reportCount 0)")
        )
    items = [item for item in results if isinstance(item, dict)]
    correlation_ids = [str(item["correlationId"]) for item in items if item.get("correlationId")]
    refused = [item for item in items if item.get("status") != "OK"]
    if refused:
        statuses = dict.fromkeys(str(item.get("status")) for item in refused)
        described = "; ".join(f"{s} ({RESULT_HINTS[s]})" if s in RESULT_HINTS else s for s in statuses)
        ids = ", ".join(str(item.get("correlationId")) for item in refused)
        return Failed(
            f"Dynatrace refused the event for {len(refused)} of {len(items)} "
            f"{_plural(len(items), 'entity', 'entities')}: {described} (correlation ids {ids})"
        )
    return Delivered(
        summary=f"Dynatrace attached the event to {report_count} "
        f"{_plural(report_count, 'entity', 'entities')}"
        f" (correlation ids {', '.join(correlation_ids)})",
        details={"api": "v2", "reportCount": report_count, "correlationIds": correlation_ids},
    )


def read_v1_answer(response: HttpResponse, *, entity_type: str, tags: Sequence[str]) -> DeliveryResult:
    """The result of an Events API v1 event answered with ``response``."""
    if response.status_code == 400:
        message = _error_message(response)
        if "No entity IDs match" in message:
            return Failed(
                _no_entity(entity_type, tags, "Dynatrace matched no entity (400)")
                + f". Dynatrace said: {message}"
            )
    if not response.ok:
        return _error_result(response, "v1")
    body = _json_object(response)
    if body is None:
        return _unreadable(response, "stored event ids (storedEventIds)")
    ids = {
        key: [str(value) for value in body.get(key) or [] if value is not None]
        for key in ("storedEventIds", "storedIds", "storedCorrelationIds")
    }
    if not ids["storedEventIds"] and not ids["storedCorrelationIds"]:
        return Failed(_no_entity(entity_type, tags, "Dynatrace stored no event"))
    shown = ids["storedEventIds"] or ids["storedCorrelationIds"]
    correlation = (
        f" (correlation ids {', '.join(ids['storedCorrelationIds'])})" if ids["storedCorrelationIds"] else ""
    )
    return Delivered(
        summary=f"Dynatrace stored {_plural(len(shown), 'event', 'events')} {', '.join(shown)}{correlation}",
        details={"api": "v1", **ids},
    )


def _error_result(response: HttpResponse, version: str) -> DeliveryResult:
    """The result of an answer that is not 2xx, the same for both API versions."""
    status = response.status_code
    detail = _error_message(response)
    said = f" (Dynatrace said: {detail})" if detail else ""
    if response.is_retryable:
        what = "is throttling requests" if status == 429 else "had a server error"
        return RetryLater(f"Dynatrace {what} ({status}){said}; will retry", after=response.retry_after)
    if status in (401, 403):
        return Failed(
            f"Dynatrace refused the token ({status}): token invalid or missing {TOKEN_SCOPES[version]}{said}"
        )
    if status == 404:
        return Failed(
            f"Dynatrace answered 404: not a Dynatrace environment URL; check the integration's url "
            f"(https://<env-id>.live.dynatrace.com or https://<host>/e/<env-id>){said}"
        )
    if 300 <= status < 400:
        location = response.headers.get("Location") or "nowhere given"
        return Failed(
            f"the url answered with a redirect ({status} to {location}); the gateway does not follow "
            "redirects: set the integration's url to the environment's own address"
        )
    if status == 413:
        return Failed(f"Dynatrace refused the event as too large (413){said}")
    if status == 400:
        return Failed(f"Dynatrace refused the event (400): {detail or 'no reason given'}")
    return Failed(f"Dynatrace answered {status}{said}")


def _no_entity(entity_type: str, tags: Sequence[str], what: str) -> str:
    listed = ", ".join(f'"{tag}"' for tag in tags)
    return (
        f"{what}: {NO_ENTITY} (entity type {entity_type}, tags {listed}). Check the tags on the "
        "entities in Dynatrace, or the integration's entity_type"
    )


def _unreadable(response: HttpResponse, expected: str) -> Failed:
    return Failed(
        f"Dynatrace answered {response.status_code} without {expected}: {_excerpt(response)!r}; check that "
        "the integration's url is the environment's base URL"
    )


def _json_object(response: HttpResponse) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error_message(response: HttpResponse) -> str:
    """Dynatrace's error message with its constraint violations, or an excerpt of a body that is not one."""
    body = _json_object(response)
    error = body.get("error") if body else None
    if not isinstance(error, dict):
        return _excerpt(response)
    parts = [str(error.get("message") or "").strip()]
    for violation in error.get("constraintViolations") or []:
        if isinstance(violation, dict):
            path = violation.get("path")
            message = str(violation.get("message") or "").strip()
            parts.append(f"{path}: {message}" if path else message)
    return "; ".join(part for part in parts if part)


def _excerpt(response: HttpResponse) -> str:
    text = " ".join(response.text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many

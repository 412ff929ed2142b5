"""What the metric import API and the metrics REST API share: authentication and error details."""

from __future__ import annotations

import gateway

DETAIL_CHARS = 300


def auth_headers(access_token: str) -> dict[str, str]:
    """LaunchDarkly takes the access token itself as the ``Authorization`` value (no scheme)."""
    return {"Authorization": access_token}


def error_detail(response: gateway.HttpResponse) -> str:
    """What LaunchDarkly said about a failed request: the ``message`` (and ``code``) of its JSON
    error body, else the start of the body, else the bare status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message: object = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, str):
        code = body.get("code")
        return f"{message} ({code})" if isinstance(code, str) and code else message
    text: str = response.text.strip()
    if text:
        return text[:DETAIL_CHARS] + ("…" if len(text) > DETAIL_CHARS else "")
    return f"HTTP {response.status_code} with an empty body"

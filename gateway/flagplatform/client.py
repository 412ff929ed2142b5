"""A small client of the flag platform's REST API v2: webhooks, projects (with environments), flags.

LaunchDarkly takes the access token itself as the ``Authorization`` value, with no scheme. Every
call goes through the core's :class:`~gateway.outbound.http.HttpClient` (time-outs, target guard, no
redirects, the token removed from what it records).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from gateway.outbound.http import HttpClient, HttpResponse, TransportError
from gateway.outbound.targets import TargetNotAllowed

DETAIL_CHARS = 300
ENVIRONMENTS_PAGE = 20
"""Environments asked for per page: the flag platform's default page size (a larger ``limit`` may be capped)."""
MAX_ENVIRONMENT_PAGES = 100
"""At most this many further pages of a project's environments are read (2,000 environments)."""
SEMANTIC_PATCH = "application/json; domain-model=launchdarkly.semanticpatch"
"""The content type of a semantic patch (instructions such as ``turnFlagOff``), as the API requires it."""


class FlagApiError(Exception):
    """A call to the flag platform's API did not succeed; ``message`` says what to do about it.
    ``status`` is the HTTP status (None when no answer came); ``retryable`` when trying later may help."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.wait: float | None = None
        """For a 429: seconds the platform asks to wait (``Retry-After`` or ``X-Ratelimit-Reset``)."""


def error_detail(response: HttpResponse, http: HttpClient) -> str:
    """The ``message`` (and ``code``) of the platform's JSON error body, else the start of the body;
    without the secrets of ``http`` (the client that sent the request: an answer may echo its
    ``Authorization`` header), as the attempt log records it."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("code")
        text = f"{body['message']} ({code})" if isinstance(code, str) and code else body["message"]
    else:
        text = response.text.strip()
    if not text:
        return f"HTTP {response.status_code} with an empty body"
    text = http.redact(text)  # before it is cut: no secret cut in two
    return text[:DETAIL_CHARS] + ("…" if len(text) > DETAIL_CHARS else "")


class FlagPlatformClient:
    """The calls the gateway makes, each turning a failure into a :class:`FlagApiError`."""

    def __init__(self, http: HttpClient, api_url: str, api_token: str):
        self.http = http
        self.api_url = api_url.rstrip("/")
        self.api_token = api_token
        http.add_secrets(api_token)

    def _call(self, method: str, path: str, what: str, *, json: Any = None,
              params: dict[str, Any] | None = None, missing_ok: bool = False) -> Any:
        headers = {"Authorization": self.api_token, "Accept": "application/json"}
        if json is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self.http.request(method, self.api_url + path, json=json, params=params, headers=headers)
        except TransportError as exc:
            raise FlagApiError(f"cannot reach the flag platform's API to {what}: {exc}", retryable=True) from None
        except TargetNotAllowed as exc:
            raise FlagApiError(f"the gateway may not call the API URL {self.api_url}: {exc}") from None
        if missing_ok and response.status_code == 404:
            return None
        if not response.ok:
            raise _problem(response, what, self.http)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise FlagApiError(f"the flag platform's answer to {what} is not JSON: check the API URL "
                               f"{self.api_url}", response.status_code) from None

    # webhooks --------------------------------------------------------------------------------------

    def list_webhooks(self) -> list[dict[str, Any]]:
        body = self._call("GET", "/api/v2/webhooks", "list webhooks")
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise FlagApiError("the flag platform's webhook list has no items: check the API URL")
        return [item for item in items if isinstance(item, dict)]

    def get_webhook(self, webhook_id: str) -> dict[str, Any] | None:
        return self._call("GET", f"/api/v2/webhooks/{quote(webhook_id, safe='')}", "read the webhook",
                          missing_ok=True)

    def create_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/api/v2/webhooks", "create the webhook", json=body)

    def patch_webhook(self, webhook_id: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call("PATCH", f"/api/v2/webhooks/{quote(webhook_id, safe='')}", "update the webhook",
                          json=operations)

    def delete_webhook(self, webhook_id: str) -> bool:
        """Delete the webhook; False when it was already gone."""
        answer = self._call("DELETE", f"/api/v2/webhooks/{quote(webhook_id, safe='')}", "delete the webhook",
                            missing_ok=True)
        return answer is not None

    # projects, environments, flags -----------------------------------------------------------------

    def get_project(self, project_key: str) -> dict[str, Any] | None:
        """The project with all its environments; None when there is none.

        ``expand=environments`` gives the environments as a page (``items``, ``totalCount``,
        ``_links.next``; 20 by default). When the page holds fewer than ``totalCount``, or has a next
        link, the rest is read from ``GET /api/v2/projects/{key}/environments`` with ``limit`` and
        ``offset``; the project is returned with ``environments`` a plain list of every one."""
        path = f"/api/v2/projects/{quote(project_key, safe='')}"
        project = self._call("GET", path, f"read project {project_key}", params={"expand": "environments"},
                             missing_ok=True)
        if not isinstance(project, dict):
            return project
        environments = environments_of(project)
        if more_environments(project.get("environments"), len(environments)):
            environments = self._all_environments(path, project_key, environments)
        return {**project, "environments": environments}

    def _all_environments(self, path: str, project_key: str, first: list[dict[str, Any]]) -> list[dict[str, Any]]:
        environments = list(first)
        for _ in range(MAX_ENVIRONMENT_PAGES):
            page = self._call("GET", path + "/environments", f"read the environments of project {project_key}",
                              params={"limit": ENVIRONMENTS_PAGE, "offset": len(environments)})
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list) or not items:
                break
            environments += [env for env in items if isinstance(env, dict)]
            if not more_environments(page, len(environments)):
                break
        return environments

    def list_projects(self) -> list[dict[str, Any]]:
        body = self._call("GET", "/api/v2/projects", "list projects", params={"limit": 1000})
        items = body.get("items") if isinstance(body, dict) else None
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    # audit log (catch-up) ---------------------------------------------------------------------------

    def list_audit_log(self, *, after: int | None = None, before: int | None = None, limit: int = 20,
                       next_href: str | None = None) -> dict[str, Any]:
        """One page of ``GET /api/v2/auditlog`` (``after``/``before`` in Unix milliseconds), or the
        page a previous one's ``_links.next.href`` names (a path on the API URL)."""
        if next_href is not None:
            if "://" in next_href or not next_href.startswith("/api/v2/auditlog"):
                raise FlagApiError(f"the audit log's next page {next_href[:200]!r} is not an audit-log path")
            body = self._call("GET", next_href, "list the audit log")
        else:
            params: dict[str, Any] = {"limit": limit}
            if after is not None:
                params["after"] = after
            if before is not None:
                params["before"] = before
            body = self._call("GET", "/api/v2/auditlog", "list the audit log", params=params)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise FlagApiError("the flag platform's audit-log page has no items: check the API URL")
        return body

    def get_audit_log_entry(self, entry_id: str) -> dict[str, Any] | None:
        """The full entry (``GET /api/v2/auditlog/{id}``), in the webhook's shape; None when gone."""
        return self._call("GET", f"/api/v2/auditlog/{quote(entry_id, safe='')}", "read an audit-log entry",
                          missing_ok=True)

    # flag actions (for deliveries: the answer is the plugin's to read) ------------------------------

    def turn_flag(self, *, project_key: str, environment_key: str, flag_key: str, on: bool,
                  comment: str) -> HttpResponse:
        """Turn the flag's targeting on or off in one environment with a semantic patch
        (``turnFlagOn``/``turnFlagOff``). The answer is returned as it came, 4xx and 5xx included;
        :class:`~gateway.outbound.http.TransportError` and :class:`~gateway.outbound.targets.TargetNotAllowed` propagate."""
        for name, value in (("project_key", project_key), ("environment_key", environment_key),
                            ("flag_key", flag_key)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"turn_flag: {name} must be a non-empty string, got {value!r}")
        if not isinstance(on, bool):
            raise ValueError(f"turn_flag: on must be True or False, got {on!r}")
        if not isinstance(comment, str):
            raise ValueError(f"turn_flag: comment must be a string, got {type(comment).__name__}")
        return self.http.request(
            "PATCH", f"{self.api_url}/api/v2/flags/{quote(project_key, safe='')}/{quote(flag_key, safe='')}",
            headers={"Authorization": self.api_token, "Accept": "application/json",
                     "Content-Type": SEMANTIC_PATCH},
            json={"environmentKey": environment_key, "comment": comment,
                  "instructions": [{"kind": "turnFlagOn" if on else "turnFlagOff"}]})

    def get_flag(self, project_key: str, flag_key: str) -> dict[str, Any] | None:
        return self._call("GET", f"/api/v2/flags/{quote(project_key, safe='')}/{quote(flag_key, safe='')}",
                          f"read flag {project_key}/{flag_key}", params={"summary": "true"}, missing_ok=True)


def more_environments(page: Any, read: int) -> bool:
    """Whether a page of environments (``{"items", "totalCount", "_links"}``) says there are more
    than the ``read`` ones: a ``totalCount`` above it, or a ``next`` link."""
    if not isinstance(page, dict):
        return False
    total = page.get("totalCount")
    if isinstance(total, int) and not isinstance(total, bool):
        return total > read
    links = page.get("_links")
    return isinstance(links, dict) and isinstance(links.get("next"), dict)


def environments_of(project: dict[str, Any]) -> list[dict[str, Any]]:
    """A project's environments as ``expand=environments`` gives them: a list, or a page with ``items``."""
    environments = project.get("environments")
    if isinstance(environments, dict):
        environments = environments.get("items")
    return [env for env in environments if isinstance(env, dict)] if isinstance(environments, list) else []


def rate_limit_wait(response: HttpResponse) -> float | None:
    """Seconds a 429 asks to wait: ``Retry-After``, else ``X-Ratelimit-Reset`` (Unix milliseconds)."""
    if response.retry_after is not None:
        return response.retry_after
    reset = response.headers.get("X-Ratelimit-Reset")
    try:
        return max(0.0, float(reset) / 1000 - time.time()) if reset else None
    except ValueError:
        return None


def _problem(response: HttpResponse, what: str, http: HttpClient) -> FlagApiError:
    error = _problem_of(response, what, http)
    if response.status_code == 429:
        error.wait = rate_limit_wait(response)
    return error


def _problem_of(response: HttpResponse, what: str, http: HttpClient) -> FlagApiError:
    status, detail = response.status_code, error_detail(response, http)
    if status == 401:
        return FlagApiError(f"the flag platform refused the API token ({status}: {detail}): give the connection "
                            "a valid API access token", status)
    if status == 403:
        return FlagApiError(f"the API token may not {what} ({status}: {detail}): give the token a role that "
                            "allows it (webhooks need the Writer or Admin role, or a custom role with "
                            "webhook actions)", status)
    if response.is_retryable:
        return FlagApiError(f"the flag platform answered {status} to {what} ({detail}); try again later",
                            status, retryable=True)
    if status == 400:
        return FlagApiError(f"the flag platform refused to {what} (400: {detail})", status)
    return FlagApiError(f"the flag platform answered {status} to {what} ({detail}): check the API URL", status)

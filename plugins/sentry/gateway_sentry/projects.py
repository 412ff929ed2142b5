"""Do the mappings' LaunchDarkly projects and environments exist?

Each distinct ``ld_project`` is read once per status check with its environments
(``GET /api/v2/projects/<key>?expand=environments``, a page of 20; the rest from
``GET /api/v2/projects/<key>/environments?limit=&offset=``). A project or environment that does not exist
is named with the closest existing keys ("did you mean ...?"), so that a typo is found before an
error is imported into nowhere.
"""

from __future__ import annotations

import difflib
from typing import Any
from urllib.parse import quote

import gateway

from .launchdarkly import auth_headers, error_detail
from .mapping import Mapping, mappings


class CannotRead(Exception):
    """The project could not be read; the message says why."""


def _get(http: gateway.HttpClient, config: dict[str, Any], path: str, params: dict[str, Any]) -> Any:
    try:
        response = http.get(config["api_url"] + path, headers=auth_headers(config["access_token"]), params=params)
    except gateway.TransportError as exc:
        raise CannotRead(f"cannot reach the LaunchDarkly API: {exc}") from None
    except gateway.TargetNotAllowed as exc:
        raise CannotRead(f"api_url may not be sent to: {exc}") from None
    if response.status_code == 404:
        return None
    if not response.ok:
        status = response.status_code
        hint = {401: "set access_token to a valid access token",
                403: "give the access token's role reader access to the project"}.get(status, "check api_url")
        raise CannotRead(f"LaunchDarkly answered {status} ({error_detail(response)}): {hint}")
    try:
        return response.json()
    except ValueError:
        raise CannotRead("LaunchDarkly's answer is not JSON: check api_url") from None


ENVIRONMENTS_PAGE = 20
MAX_ENVIRONMENT_PAGES = 100


def _page_keys(page: Any) -> list[str]:
    items = page.get("items") if isinstance(page, dict) else page
    if not isinstance(items, list):
        return []
    return [env["key"] for env in items if isinstance(env, dict) and isinstance(env.get("key"), str)]


def _more(page: Any, read: int) -> bool:
    """Whether a page of environments says more follow: ``totalCount`` above ``read``, or a next link."""
    if not isinstance(page, dict):
        return False
    total = page.get("totalCount")
    if isinstance(total, int) and not isinstance(total, bool):
        return total > read
    links = page.get("_links")
    return isinstance(links, dict) and isinstance(links.get("next"), dict)


def _with_all_environments(http: gateway.HttpClient, config: dict[str, Any], key: str, project: Any) -> Any:
    """``project`` with ``environment_keys``: every environment's key. ``expand=environments`` gives a
    page (20 by default); the rest comes from ``/environments`` with ``limit`` and ``offset``."""
    if not isinstance(project, dict):
        return project
    first = project.get("environments")
    keys = _page_keys(first)
    if _more(first, len(keys)):
        for _ in range(MAX_ENVIRONMENT_PAGES):
            page = _get(http, config, f"/api/v2/projects/{quote(key, safe='')}/environments",
                        {"limit": ENVIRONMENTS_PAGE, "offset": len(keys)})
            more = _page_keys(page)
            if not more:
                break
            keys += more
            if not _more(page, len(keys)):
                break
    return {**project, "environment_keys": keys}


def _environment_keys(project: dict[str, Any]) -> list[str]:
    if isinstance(project.get("environment_keys"), list):
        return project["environment_keys"]
    return _page_keys(project.get("environments"))


def _suggest(wanted: str, keys: list[str]) -> str:
    close = difflib.get_close_matches(wanted, keys, n=3, cutoff=0.5)
    if close:
        return f" (did you mean {' or '.join(close)}?)"
    if keys:
        shown = ", ".join(sorted(keys)[:10]) + (", …" if len(keys) > 10 else "")
        return f"; it has {shown}"
    return ""


def _project_keys(http: gateway.HttpClient, config: dict[str, Any]) -> list[str]:
    try:
        body = _get(http, config, "/api/v2/projects", {"limit": 1000})
    except CannotRead:
        return []
    items = body.get("items") if isinstance(body, dict) else None
    return [p["key"] for p in items or [] if isinstance(p, dict) and isinstance(p.get("key"), str)]


def mapping_checks(config: dict[str, Any], http: gateway.HttpClient) -> list[gateway.StatusCheck]:
    """One check per mapping: its LaunchDarkly project and environment exist."""
    http.add_secrets(config["access_token"])
    projects: dict[str, dict[str, Any] | None | CannotRead] = {}
    checks = []
    for mapping in mappings(config):
        key = mapping.ld_project
        if key not in projects:
            try:
                projects[key] = _with_all_environments(http, config, key, _get(
                    http, config, f"/api/v2/projects/{quote(key, safe='')}", {"expand": "environments"}))
            except CannotRead as exc:
                projects[key] = exc
        checks.append(_check(mapping, projects[key], lambda: _project_keys(http, config)))
    return checks


def _check(mapping: Mapping, project: Any, project_keys) -> gateway.StatusCheck:
    name = f"LaunchDarkly environment for {mapping.label}"
    where = f"{mapping.ld_project}/{mapping.ld_environment}"
    if isinstance(project, CannotRead):
        return gateway.StatusCheck(name, "warning", f"cannot check that LaunchDarkly has {where}: {project}")
    if not isinstance(project, dict):
        return gateway.StatusCheck(
            name, "error", f"LaunchDarkly has no project {mapping.ld_project}{_suggest(mapping.ld_project, project_keys())}: "
            "errors for this mapping would be refused (404); correct ld_project of the mapping")
    keys = _environment_keys(project)
    if mapping.ld_environment not in keys:
        return gateway.StatusCheck(
            name, "error", f"LaunchDarkly project {mapping.ld_project} has no environment {mapping.ld_environment}"
            f"{_suggest(mapping.ld_environment, keys)}: errors for this mapping would be refused (404); correct "
            "ld_environment of the mapping")
    return gateway.StatusCheck(name, "ok", f"LaunchDarkly has project {mapping.ld_project} with environment "
                               f"{mapping.ld_environment}")

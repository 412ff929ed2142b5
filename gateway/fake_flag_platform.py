"""A fake flag-platform (LaunchDarkly) REST API on loopback, for tests of the gateway and of plugins.

:class:`FakeFlagPlatform` is a :class:`gateway.testing.FakeService` that keeps webhooks, projects
(with environments) and flags in memory and serves ``/api/v2/webhooks`` (list, create, read, JSON
Patch, delete), ``GET /api/v2/projects[/<key>]`` (``expand=environments`` as a page with ``items``)
``GET /api/v2/flags/<project>/<flag>`` and ``GET /api/v2/metrics/<project>`` (one page), checking the ``Authorization`` header (the token itself,
no scheme). ``down = True`` makes every answer a 503; :meth:`FakeService.queue` still queues one-off
answers.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .testing import FakeService, RecordedRequest, Reply


class FakeFlagPlatform(FakeService):
    def __init__(self, token: str = "api-fake-flag-platform-token", *, shows_secrets: bool = True):
        self.token = token
        self.shows_secrets = shows_secrets
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.flags: dict[tuple[str, str], dict[str, Any]] = {}
        self.metrics: dict[str, list[dict[str, Any]]] = {}
        self.down = False
        self._state_lock = threading.Lock()
        super().__init__(self._reply)

    # set-up --------------------------------------------------------------------------------------

    def add_project(self, key: str, name: str, environments: dict[str, str]) -> None:
        """A project and its environments (key -> name)."""
        self.projects[key] = {"key": key, "name": name,
                              "environments": [{"key": k, "name": v} for k, v in environments.items()]}

    def add_flag(self, project: str, key: str, name: str) -> None:
        self.flags[(project, key)] = {"key": key, "name": name}

    def add_metric(self, project: str, key: str, event_key: str) -> None:
        """A custom conversion metric of ``project`` counting ``event_key``."""
        self.metrics.setdefault(project, []).append(
            {"key": key, "name": key, "kind": "custom", "eventKey": event_key, "isNumeric": False})

    def add_webhook(self, **fields: Any) -> dict[str, Any]:
        webhook = {"_id": uuid.uuid4().hex[:24], "on": True, "tags": [], "statements": None, "name": None,
                   "secret": None, **fields}
        self.webhooks[webhook["_id"]] = webhook
        return webhook

    def calls(self, method: str, prefix: str = "/api/v2/") -> list[RecordedRequest]:
        """The requests with this method whose path starts with ``prefix``."""
        return [r for r in self.received() if r.method == method and r.path.startswith(prefix)]

    # serving -------------------------------------------------------------------------------------

    def _shown(self, webhook: dict[str, Any]) -> dict[str, Any]:
        shown = dict(webhook)
        if not self.shows_secrets:
            shown.pop("secret", None)
        return shown

    def _reply(self, request: RecordedRequest) -> Reply:
        if self.down:
            return Reply(503, {"code": "service_unavailable", "message": "down for maintenance"})
        if request.header("Authorization") != self.token:
            return Reply(401, {"code": "unauthorized", "message": "Invalid access token"})
        parts = urlsplit(request.path)
        path = [unquote(p) for p in parts.path.strip("/").split("/")]
        query = parse_qs(parts.query)
        with self._state_lock:
            if path[:3] == ["api", "v2", "webhooks"]:
                return self._webhooks(request, path[3:])
            if path[:3] == ["api", "v2", "projects"] and request.method == "GET":
                if len(path) == 3:
                    return Reply(200, {"items": [{"key": p["key"], "name": p["name"]} for p in self.projects.values()],
                                       "totalCount": len(self.projects)})
                project = self.projects.get(path[3])
                if project is None:
                    return Reply(404, {"code": "not_found", "message": "Unknown resource"})
                shown = {"key": project["key"], "name": project["name"]}
                if "environments" in (query.get("expand") or [""])[0].split(","):
                    shown["environments"] = {"items": project["environments"],
                                             "totalCount": len(project["environments"])}
                return Reply(200, shown)
            if path[:3] == ["api", "v2", "metrics"] and len(path) == 4 and request.method == "GET":
                if path[3] not in self.projects:
                    return Reply(404, {"code": "not_found", "message": "Unknown project"})
                items = self.metrics.get(path[3], [])
                return Reply(200, {"items": items, "totalCount": len(items)})
            if path[:3] == ["api", "v2", "flags"] and len(path) == 5 and request.method == "GET":
                flag = self.flags.get((path[3], path[4]))
                return Reply(200, flag) if flag else Reply(404, {"code": "not_found", "message": "Unknown flag"})
        return Reply(404, {"code": "not_found", "message": f"no route {request.method} {parts.path}"})

    def _webhooks(self, request: RecordedRequest, rest: list[str]) -> Reply:
        if not rest:
            if request.method == "GET":
                return Reply(200, {"items": [self._shown(w) for w in self.webhooks.values()]})
            if request.method == "POST":
                body = json.loads(request.body)
                if not isinstance(body.get("url"), str) or "sign" not in body or "on" not in body:
                    return Reply(400, {"code": "invalid_request", "message": "url, sign and on are required"})
                fields = {k: body.get(k) for k in ("url", "name", "tags", "statements", "on")}
                fields["secret"] = body.get("secret") if body.get("sign") else None
                return Reply(200, self._shown(self.add_webhook(**fields)))
            return Reply(405, {"message": "method not allowed"})
        webhook = self.webhooks.get(rest[0])
        if webhook is None:
            return Reply(404, {"code": "not_found", "message": "Unknown webhook"})
        if request.method == "GET":
            return Reply(200, self._shown(webhook))
        if request.method == "DELETE":
            del self.webhooks[rest[0]]
            return Reply(204, None)
        if request.method == "PATCH":
            for op in json.loads(request.body):
                if op.get("op") != "replace" or not str(op.get("path", "")).startswith("/"):
                    return Reply(400, {"code": "invalid_request", "message": f"unsupported operation {op}"})
                name = op["path"][1:]
                if name == "sign":
                    if not op["value"]:
                        webhook["secret"] = None
                    continue
                webhook[name] = op["value"]
            return Reply(200, self._shown(webhook))
        return Reply(405, {"message": "method not allowed"})

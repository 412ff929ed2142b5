"""A fake flag-platform (LaunchDarkly) REST API on loopback, for tests of the gateway and of plugins.

:class:`FakeFlagPlatform` is a :class:`gateway.testing.FakeService` that keeps webhooks, projects
(with environments) and flags in memory and serves ``/api/v2/webhooks`` (list, create, read, JSON
Patch, delete), ``GET /api/v2/projects[/<key>]`` (``expand=environments`` as a page of at most 20
with ``items``, ``totalCount`` and ``_links.next``, as the flag platform pages them),
``GET /api/v2/projects/<key>/environments`` (``limit``, at most 20, and ``offset``),
``GET /api/v2/flags/<project>/<flag>`` and ``GET /api/v2/metrics/<project>`` (one page), checking the
``Authorization`` header (the token itself, no scheme). ``down = True`` makes every answer a 503; :meth:`FakeService.queue` still queues one-off
answers.

Flag actions: ``PATCH /api/v2/flags/<project>/<flag>`` takes a semantic patch (content type
``application/json; domain-model=launchdarkly.semanticpatch``, else 415) whose ``turnFlagOn`` and
``turnFlagOff`` instructions set ``environments.<environmentKey>.on`` of the flag (404 for an unknown
flag, 400 for a missing or unknown environment or an instruction it does not know); each accepted
patch is kept in :attr:`semantic_patches`. Flag triggers: :meth:`add_trigger` makes a trigger URL
(``/webhook/triggers/<id>/<token>``, POSTed with no token header, an optional JSON body such as
``{"eventName": ...}``) that turns the flag on or off; calls are kept in :attr:`trigger_calls`.
With ``send_webhooks = True``, every change a patch or trigger makes is POSTed, as the flag
platform's audit-log webhook body (signed with ``X-LD-Signature`` when the webhook has a secret), to
each registered webhook that is on; what was sent is kept in :attr:`webhook_deliveries`.

Audit log: every change a patch or trigger makes, and every entry a test adds with
:meth:`record_change`, is kept in :attr:`audit_log` (with or without ``send_webhooks``) and served
by ``GET /api/v2/auditlog`` (``after``/``before`` in Unix ms, exclusive; ``limit`` 1..20, default 10;
newest first; summaries without ``currentVersion``/``previousVersion``; ``_links.next.href`` while
older entries remain, ``before`` the last one's date, or one past it with ``audit_page_overlap``
so that an entry is listed twice) and ``GET /api/v2/auditlog/<id>`` (the full entry). Dates are
made unique and increasing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from gateway.signatures import hmac_sha256_hex
from gateway.kit.loopback import FakeService, RecordedRequest, Reply

SEMANTIC_PATCH_TYPE = "application/json; domain-model=launchdarkly.semanticpatch"
FLAG_ACTIONS = {"turnFlagOn": True, "turnFlagOff": False}
ENVIRONMENTS_PAGE = 20
"""The most environments one answer holds (``expand=environments`` or the environments list), as the
flag platform's default page."""
API_MEMBER = {"_id": "fake-api-member", "email": "api@example.com", "firstName": "API", "lastName": "Token"}


class FakeFlagPlatform(FakeService):
    def __init__(self, token: str = "api-fake-flag-platform-token", *, shows_secrets: bool = True):
        self.token = token
        self.shows_secrets = shows_secrets
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.flags: dict[tuple[str, str], dict[str, Any]] = {}
        self.metrics: dict[str, list[dict[str, Any]]] = {}
        self.down = False
        self.semantic_patches: list[dict[str, Any]] = []
        self.triggers: dict[str, dict[str, Any]] = {}
        self.trigger_calls: list[dict[str, Any]] = []
        self.send_webhooks = False
        self.webhook_deliveries: list[dict[str, Any]] = []
        self.environment_pages = 0  # pages of environments served
        self.audit_log: list[dict[str, Any]] = []
        self.audit_page_overlap = False
        self._state_lock = threading.Lock()
        super().__init__(self._reply)

    # set-up --------------------------------------------------------------------------------------

    def add_project(self, key: str, name: str, environments: dict[str, str]) -> None:
        """A project and its environments (key -> name)."""
        self.projects[key] = {"key": key, "name": name,
                              "environments": [{"key": k, "name": v} for k, v in environments.items()]}

    def add_flag(self, project: str, key: str, name: str, on: dict[str, bool] | None = None) -> None:
        """A flag; ``on``: its targeting state per environment key (default: none known, which a
        patch or trigger adds)."""
        self.flags[(project, key)] = {"key": key, "name": name,
                                      "environments": {env: {"on": state} for env, state in (on or {}).items()}}

    def flag_on(self, project: str, key: str, environment: str) -> bool | None:
        """The flag's targeting state in ``environment`` (None: never set)."""
        with self._state_lock:
            return self.flags[(project, key)]["environments"].get(environment, {}).get("on")

    def add_trigger(self, project: str, flag: str, environment: str, action: str = "turnFlagOff") -> str:
        """A flag trigger that turns the flag on (``turnFlagOn``) or off in ``environment``; returns
        its URL (``<url>/webhook/triggers/<id>/<token>``), which is its only credential."""
        if action not in FLAG_ACTIONS:
            raise ValueError(f"action must be turnFlagOn or turnFlagOff, got {action!r}")
        trigger_id, token = uuid.uuid4().hex[:24], str(uuid.uuid4())
        self.triggers[trigger_id] = {"_id": trigger_id, "token": token, "project": project, "flag": flag,
                                     "environment": environment, "action": action, "enabled": True}
        return f"{self.url}/webhook/triggers/{trigger_id}/{token}"

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

    def record_change(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Add ``entry`` (a full audit-log entry, e.g. from :func:`flag_change_body`) to the audit log
        and, with ``send_webhooks``, post it to the webhooks that are on; returns it as kept."""
        with self._state_lock:
            return self._record(entry)

    def _record(self, entry: dict[str, Any]) -> dict[str, Any]:
        """(State lock held.)"""
        entry = json.loads(json.dumps(entry))
        if self.audit_log and entry.get("date", 0) <= self.audit_log[-1]["date"]:
            entry["date"] = self.audit_log[-1]["date"] + 1
        self.audit_log.append(entry)
        if self.send_webhooks:
            targets = [dict(w) for w in self.webhooks.values() if w.get("on") and w.get("url")]
            if targets:
                threading.Thread(target=self._send_webhooks, args=(targets, entry), daemon=True).start()
        return entry

    def _audit(self, request: RecordedRequest, rest: list[str], query: dict[str, list[str]]) -> Reply:
        """``GET /api/v2/auditlog[/<id>]`` (state lock held)."""
        if request.method != "GET":
            return Reply(405, {"message": "method not allowed"})
        if rest:
            found = [e for e in self.audit_log if e["_id"] == rest[0]]
            return Reply(200, found[0]) if found else Reply(404, {"code": "not_found", "message": "Unknown entry"})
        try:
            limit = int((query.get("limit") or ["10"])[0])
            after = int(query["after"][0]) if "after" in query else None
            before = int(query["before"][0]) if "before" in query else None
        except ValueError:
            return Reply(400, {"code": "invalid_request", "message": "before, after and limit are integers"})
        if not 1 <= limit <= 20:
            return Reply(400, {"code": "invalid_request", "message": "limit must be between 1 and 20"})
        matching = [e for e in reversed(self.audit_log)
                    if (after is None or e["date"] > after) and (before is None or e["date"] < before)]
        page = matching[:limit]
        links: dict[str, Any] = {"self": {"href": request.path, "type": "application/json"}}
        if len(matching) > limit:
            next_before = page[-1]["date"] + (1 if self.audit_page_overlap else 0)
            href = f"/api/v2/auditlog?limit={limit}&before={next_before}"
            links["next"] = {"href": href + (f"&after={after}" if after is not None else ""),
                             "type": "application/json"}
        items = [{k: v for k, v in e.items() if k not in ("currentVersion", "previousVersion")} for e in page]
        return Reply(200, {"items": items, "_links": links, "totalCount": len(matching)})

    # serving -------------------------------------------------------------------------------------

    def _shown(self, webhook: dict[str, Any]) -> dict[str, Any]:
        shown = dict(webhook)
        if not self.shows_secrets:
            shown.pop("secret", None)
        return shown

    def _reply(self, request: RecordedRequest) -> Reply:
        if self.down:
            return Reply(503, {"code": "service_unavailable", "message": "down for maintenance"})
        if urlsplit(request.path).path.startswith("/webhook/triggers/"):
            return self._trigger(request)  # the URL is the credential: no token header
        if request.header("Authorization") != self.token:
            return Reply(401, {"code": "unauthorized", "message": "Invalid access token"})
        parts = urlsplit(request.path)
        path = [unquote(p) for p in parts.path.strip("/").split("/")]
        query = parse_qs(parts.query)
        with self._state_lock:
            if path[:3] == ["api", "v2", "webhooks"]:
                return self._webhooks(request, path[3:])
            if path[:3] == ["api", "v2", "auditlog"]:
                return self._audit(request, path[3:], query)
            if path[:3] == ["api", "v2", "projects"] and request.method == "GET":
                if len(path) == 3:
                    return Reply(200, {"items": [{"key": p["key"], "name": p["name"]} for p in self.projects.values()],
                                       "totalCount": len(self.projects)})
                project = self.projects.get(path[3])
                if project is None:
                    return Reply(404, {"code": "not_found", "message": "Unknown resource"})
                if len(path) == 5 and path[4] == "environments":
                    return Reply(200, self._environments_page(project, query))
                shown = {"key": project["key"], "name": project["name"]}
                if "environments" in (query.get("expand") or [""])[0].split(","):
                    shown["environments"] = self._environments_page(project, {})
                return Reply(200, shown)
            if path[:3] == ["api", "v2", "metrics"] and len(path) == 4 and request.method == "GET":
                if path[3] not in self.projects:
                    return Reply(404, {"code": "not_found", "message": "Unknown project"})
                items = self.metrics.get(path[3], [])
                return Reply(200, {"items": items, "totalCount": len(items)})
            if path[:3] == ["api", "v2", "flags"] and len(path) == 5 and request.method == "GET":
                flag = self.flags.get((path[3], path[4]))
                return Reply(200, flag) if flag else Reply(404, {"code": "not_found", "message": "Unknown flag"})
            if path[:3] == ["api", "v2", "flags"] and len(path) == 5 and request.method == "PATCH":
                return self._semantic_patch(request, path[3], path[4])
        return Reply(404, {"code": "not_found", "message": f"no route {request.method} {parts.path}"})

    def _environments_page(self, project: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        """A page of the project's environments as the flag platform gives them: ``limit`` (default
        and most :data:`ENVIRONMENTS_PAGE`) from ``offset``, with ``totalCount`` and ``_links.next``
        when more follow."""
        def number(name: str, default: int) -> int:
            try:
                return max(0, int((query.get(name) or [default])[0]))
            except ValueError:
                return default
        limit = min(number("limit", ENVIRONMENTS_PAGE), ENVIRONMENTS_PAGE) or ENVIRONMENTS_PAGE
        offset = number("offset", 0)
        environments = project["environments"]
        href = f"/api/v2/projects/{project['key']}/environments"
        links = {"self": {"href": f"{href}?limit={limit}&offset={offset}", "type": "application/json"}}
        if offset + limit < len(environments):
            links["next"] = {"href": f"{href}?limit={limit}&offset={offset + limit}", "type": "application/json"}
        self.environment_pages += 1
        return {"items": environments[offset:offset + limit], "totalCount": len(environments), "_links": links}

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

    # flag actions ----------------------------------------------------------------------------------

    def _semantic_patch(self, request: RecordedRequest, project: str, key: str) -> Reply:
        """(Called with the state lock held.)"""
        content_type = (request.header("Content-Type") or "").replace(" ", "").lower()
        if content_type != SEMANTIC_PATCH_TYPE.replace(" ", ""):
            return Reply(415, {"code": "unsupported_media_type",
                               "message": f"this fake takes semantic patches only: Content-Type {SEMANTIC_PATCH_TYPE}"})
        try:
            body = json.loads(request.body)
        except ValueError:
            return Reply(400, {"code": "invalid_request", "message": "the body is not JSON"})
        flag = self.flags.get((project, key))
        if flag is None:
            return Reply(404, {"code": "not_found", "message": "Invalid resource identifier"})
        environment = body.get("environmentKey") if isinstance(body, dict) else None
        instructions = body.get("instructions") if isinstance(body, dict) else None
        if not isinstance(instructions, list) or not instructions or not all(
                isinstance(i, dict) and i.get("kind") in FLAG_ACTIONS for i in instructions):
            return Reply(400, {"code": "invalid_request",
                               "message": "instructions must be a non-empty list of turnFlagOn or turnFlagOff"})
        if not isinstance(environment, str) or not environment:
            return Reply(400, {"code": "invalid_request", "message": "environmentKey is required"})
        known = self.projects.get(project)
        if known is not None and environment not in {e["key"] for e in known["environments"]}:
            return Reply(400, {"code": "invalid_request", "message": f"unknown environment key {environment!r}"})
        comment = body.get("comment") if isinstance(body.get("comment"), str) else ""
        self.semantic_patches.append({"project": project, "flag": key, "environment": environment,
                                      "instructions": instructions, "comment": comment})
        for instruction in instructions:
            self._turn(project, key, environment, FLAG_ACTIONS[instruction["kind"]], comment)
        return Reply(200, json.loads(json.dumps(flag)))

    def _trigger(self, request: RecordedRequest) -> Reply:
        parts = urlsplit(request.path).path.strip("/").split("/")
        trigger = self.triggers.get(parts[2]) if len(parts) == 4 else None
        if trigger is None or trigger["token"] != parts[3] or not trigger["enabled"]:
            return Reply(404, {"code": "not_found", "message": "Unknown trigger"})
        if request.method != "POST":
            return Reply(405, {"code": "method_not_allowed", "message": "POST a trigger"})
        try:
            body = json.loads(request.body) if request.body.strip() else None
        except ValueError:
            body = None  # the body is optional and only informative
        event_name = body.get("eventName") if isinstance(body, dict) else None
        with self._state_lock:
            self.trigger_calls.append({"trigger_id": trigger["_id"], "project": trigger["project"],
                                       "flag": trigger["flag"], "environment": trigger["environment"],
                                       "action": trigger["action"], "body": body})
            if (trigger["project"], trigger["flag"]) in self.flags:
                self._turn(trigger["project"], trigger["flag"], trigger["environment"],
                           FLAG_ACTIONS[trigger["action"]], f"flag trigger: {event_name}" if event_name else "")
        return Reply(200, {"_id": trigger["_id"]})

    def _turn(self, project: str, key: str, environment: str, on: bool, comment: str) -> None:
        """Set the flag's state (state lock held); a change goes out as a webhook when asked."""
        flag = self.flags[(project, key)]
        state = flag["environments"].setdefault(environment, {})
        before = state.get("on")
        state["on"] = on
        if before == on:
            return
        self._record(flag_change_body(project, key, flag["name"], environment, on, comment,
                                      {env: dict(value) for env, value in flag["environments"].items()}))

    def _send_webhooks(self, targets: list[dict[str, Any]], body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        for webhook in targets:
            headers = {"Content-Type": "application/json", "User-Agent": "fake-flag-platform"}
            if webhook.get("secret"):
                headers["X-LD-Signature"] = hmac_sha256_hex(webhook["secret"], data)
            try:
                status: int | None = requests.post(webhook["url"], data=data, headers=headers, timeout=10).status_code
                error = None
            except requests.RequestException as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            with self._state_lock:
                self.webhook_deliveries.append({"webhook_id": webhook["_id"], "url": webhook["url"], "body": body,
                                                "status": status, "error": error})


def flag_change_body(project: str, key: str, name: str, environment: str, on: bool, comment: str,
                     environments: dict[str, Any]) -> dict[str, Any]:
    """An audit-log entry for turning a flag on or off in one environment, in the shape of the flag
    platform's webhook (see the fixtures), made by an API token."""
    entry_id = uuid.uuid4().hex[:24]
    site = f"/{project}/{environment}/features/{key}"
    verb = "turned on the flag" if on else "turned off the flag"
    resource = f"proj/{project}:env/{environment}:flag/{key}"
    return {
        "_links": {"canonical": {"href": f"/api/v2/flags/{project}/{key}", "type": "application/json"},
                   "parent": {"href": "/api/v2/auditlog", "type": "application/json"},
                   "self": {"href": f"/api/v2/auditlog/{entry_id}", "type": "application/json"},
                   "site": {"href": site, "type": "text/html"}},
        "_id": entry_id,
        "date": int(time.time() * 1000),
        "accesses": [{"action": "updateOn", "resource": resource}],
        "kind": "flag",
        "name": name,
        "description": f"- {verb.capitalize()}",
        "shortDescription": "",
        "comment": comment,
        "member": API_MEMBER,
        "titleVerb": verb,
        "title": f"[API Token](mailto:{API_MEMBER['email']}) {verb} [{name}](https://app.launchdarkly.com{site}) "
                 f"in `{environment}`",
        "target": {"name": name, "resources": [resource]},
        "currentVersion": {"key": key, "name": name, "kind": "boolean", "tags": [], "customProperties": {},
                           "environments": environments},
    }

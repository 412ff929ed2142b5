"""The flag-platform page: whether the gateway is connected to the flag platform's API, the stored
checks of the connection and its webhook, and the forms to connect or change the connection, rotate
the webhook secret, wire the webhook again and disconnect. Every action goes through
:mod:`gateway.admin.connection_actions`, as the admin API's do."""

from __future__ import annotations

import json
from typing import Any

from flask import g, redirect, render_template, request, url_for

from gateway.admin import connection_actions
from gateway.flagplatform.checks import REWIRE
from gateway.flagplatform.connection import DEFAULT_API_URL, DEFAULT_WEBHOOK_NAME, DEFAULT_WEBHOOK_TAGS
from gateway.responses import ApiError
from gateway.host.state import GatewayState, get_state
from gateway.runtime.status import connection_status
from gateway.admin.ui.blueprint import bp
from gateway.admin.ui.filters import when
from gateway.admin.ui.schema_form import FormField
from gateway.admin.ui.overview_pages import webhook_base

FIELDS = ("api_token", "public_url", "api_url", "webhook_name", "webhook_tags", "webhook_statements", "wire")
"""The form's fields, named as the API's (and the service's) field paths, so errors land beside them."""


def _values_of(shown: dict[str, Any] | None) -> dict[str, Any]:
    """What the form shows: the connection's settings, or the defaults of a new one (never a secret)."""
    if shown is None:
        return {"public_url": webhook_base(), "api_url": DEFAULT_API_URL, "webhook_name": DEFAULT_WEBHOOK_NAME,
                "webhook_tags": "\n".join(DEFAULT_WEBHOOK_TAGS), "webhook_statements": "", "wire": True}
    webhook = shown["webhook"]
    return {"public_url": shown["public_url"], "api_url": shown["api_url"], "webhook_name": webhook["name"],
            "webhook_tags": "\n".join(webhook["tags"]),
            "webhook_statements": json.dumps(webhook["statements"], indent=2) if webhook["statements"] else "",
            "wire": True}


def _field_of(path: str) -> str | None:
    """The form field an error path belongs to (``webhook_tags.1`` is the tags' field)."""
    head = path.split(".", 1)[0].split("[", 1)[0]
    return head if head in FIELDS else None


def _fields(values: dict[str, Any], errors: dict[str, list[str]], stored_mask: str | None) -> list[FormField]:
    placed: dict[str, list[str]] = {}
    for path, messages in errors.items():
        name = _field_of(path)
        if name is not None:
            prefix = "" if path == name else f"{path[len(name) + 1:]}: "
            placed.setdefault(name, []).extend(prefix + m for m in messages)

    def make(path: str, label: str, kind: str, description: str, required: bool = False) -> FormField:
        return FormField(path=path, key=path, label=label, kind=kind, required=required, description=description,
                         value=values.get(path), errors=placed.get(path, []),
                         stored_mask=stored_mask if kind == "secret" else None)

    return [
        make("api_token", "API access token", "secret",
             "An access token of the flag platform's API that may read projects and metrics and manage webhooks. "
             "Write-only: stored encrypted, never shown.", required=stored_mask is None),
        make("public_url", "Gateway public URL", "url",
             "The gateway's base URL as the flag platform reaches it; the webhook points at "
             "<URL>/webhooks/launchdarkly.", required=True),
        make("api_url", "Flag platform API URL", "url",
             f"The flag platform's API base URL: {DEFAULT_API_URL} unless you use another instance."),
        make("webhook_name", "Webhook name", "text", "The name of the webhook in the flag platform."),
        make("webhook_tags", "Webhook tags", "lines", "Tags of the webhook in the flag platform."),
        make("webhook_statements", "Webhook statements", "json",
             "Optional policy statements restricting the projects and environments the webhook sends; "
             "blank sends every change."),
        make("wire", "Create or update the webhook now", "checkbox",
             "Leave it unticked to store the connection only and wire the webhook later."),
    ]


def _status(state: GatewayState) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return connection_status(state), None
    except Exception as exc:  # the page still shows the connection and its forms
        return None, f"the checks could not be read: {type(exc).__name__}: {exc}"


def _render(state: GatewayState, *, values: dict[str, Any] | None = None,
            errors: dict[str, list[str]] | None = None, status: int = 200):
    shown = state.connection.public()
    errors = errors or {}
    checks, checks_error = _status(state) if shown is not None else (None, None)
    unplaced = [f"{path}: {' '.join(messages)}" if path not in ("_form", "connection") else " ".join(messages)
                for path, messages in errors.items() if _field_of(path) is None]
    fields = _fields(values or _values_of(shown), errors, shown["api_token"] if shown else None)
    return render_template(
        "ui/flag_platform.html", title="Flag platform", shown=shown, fields=fields,
        errors=errors, unplaced=unplaced, checks=checks, checks_error=checks_error, rewire_action=REWIRE,
        webhook_url=(shown["webhook"]["url"] if shown else webhook_base() + "/webhooks/launchdarkly"),
    ), status


def _check_now(state: GatewayState) -> None:
    """Run the connection's checks after an action changed it, so the page shows what it did (the
    background checks would, a little later)."""
    try:
        connection_status(state, refresh=True)
    except Exception as exc:
        g.ui_session.notice(f"The checks could not run: {type(exc).__name__}: {exc}", "error")


def _back():
    return redirect(url_for("gateway_ui.flag_platform"), 303)


def _read_form(form) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[str]]]:
    """The API body of the connect form, what to show again, and the errors found before validation
    (statements that are not JSON). A blank API token is left out: a stored one is kept, and a new
    connection is told it is required."""
    shown = {key: form.get(key, "") for key in FIELDS if key not in ("api_token", "wire")}
    shown["wire"] = form.get("wire") is not None
    body: dict[str, Any] = {"wire": shown["wire"]}
    token = form.get("api_token") or ""
    if token.strip():
        body["api_token"] = token.strip()
    for key in ("public_url", "api_url", "webhook_name"):
        body[key] = shown[key].strip()
    if not body["api_url"]:
        body["api_url"] = DEFAULT_API_URL
    body["webhook_tags"] = [line.strip() for line in shown["webhook_tags"].splitlines() if line.strip()]
    errors: dict[str, list[str]] = {}
    text = shown["webhook_statements"].strip()
    if not text:
        body["webhook_statements"] = None
    else:
        try:
            body["webhook_statements"] = json.loads(text)
        except ValueError as exc:
            errors["webhook_statements"] = [f"the statements are not valid JSON: {exc}"]
            body["webhook_statements"] = text  # still checked with the rest, so every error shows at once
    return body, shown, errors


@bp.get("/flag-platform")
def flag_platform():
    return _render(get_state())


@bp.post("/flag-platform")
def connect_flag_platform():
    state = get_state()
    was_connected = state.connection.public() is not None
    body, shown, errors = _read_form(request.form)
    try:
        if errors:  # the body cannot be sent as it is: have the service name the other errors too
            try:
                connection_actions.connect(state, body, "ui")
            except ApiError as exc:
                for path, messages in (exc.errors or {}).items():
                    if path != "webhook_statements":
                        errors.setdefault(path, []).extend(messages)
            return _render(state, values=shown, errors=errors, status=400)
        result = connection_actions.connect(state, body, "ui")
    except ApiError as exc:
        found = dict(exc.errors or {}) or {"_form": [exc.message]}
        return _render(state, values=shown, errors=found, status=400 if exc.status < 500 else exc.status)
    _check_now(state)
    webhook = result.get("webhook")
    done = "Connection saved" if was_connected else "Connected to the flag platform"
    if webhook is None:
        g.ui_session.notice(f"{done}; the webhook was not wired (wire it here when you are ready).", "info")
    else:
        g.ui_session.notice(f"{done}; the webhook {webhook['id']} is {webhook['action']}.")
    return _back()


@bp.post("/flag-platform/rotate-secret")
def rotate_flag_platform_secret():
    state = get_state()
    try:
        result = connection_actions.rotate_secret(state, "ui")
    except ApiError as exc:
        g.ui_session.notice(f"The secret was not rotated: {exc.message}", "error")
        return _back()
    _check_now(state)
    until = result.get("previous_secret_valid_until")
    text = "The webhook has a new signing secret."
    if isinstance(until, (int, float)):
        text += f" The previous one is accepted until {when(until)}."
    g.ui_session.notice(text)
    return _back()


@bp.post("/flag-platform/rewire")
def rewire_flag_platform():
    state = get_state()
    try:
        wired = connection_actions.rewire(state, "ui")
    except ApiError as exc:
        g.ui_session.notice(f"The webhook was not wired: {exc.message}", "error")
        return _back()
    _check_now(state)
    changed = f" ({', '.join(wired['changed'])})" if wired.get("changed") else ""
    g.ui_session.notice(f"The webhook {wired['id']} is {wired['action']}{changed}.")
    return _back()


@bp.post("/flag-platform/catch-up")
def catch_up_flag_platform():
    state = get_state()
    if state.connection.public() is None:
        g.ui_session.notice("The gateway is not connected to the flag platform: catch-up is off.", "error")
        return _back()
    result = state.catchup.run("ui")
    if not result.get("ran"):
        g.ui_session.notice(f"No catch-up ran: {result.get('message')}", "error")
    elif result.get("error"):
        g.ui_session.notice(f"The catch-up failed: {result['error']}", "error")
    else:
        g.ui_session.notice(f"Caught up from {result['window_from']} to {result['window_to']}: {result['caught']} "
                            f"flag change(s) whose webhook did not arrive were taken in"
                            f"{'; ' + result['gap'] if result.get('gap') else ''}.")
    return _back()


@bp.post("/flag-platform/check")
def check_flag_platform():
    state = get_state()
    if state.connection.public() is None:
        g.ui_session.notice("The gateway is not connected to the flag platform: there is nothing to check.", "error")
        return _back()
    try:
        result = connection_status(state, refresh=True)
    except Exception as exc:
        g.ui_session.notice(f"The checks could not run: {type(exc).__name__}: {exc}", "error")
        return _back()
    tone = {"ok": "ok", "warning": "info"}.get(result["state"] if result else "error", "error")
    g.ui_session.notice(f"Checks run: {len(result['checks']) if result else 0} check(s), "
                        f"the worst is {result['state'] if result else 'unknown'}.", tone)
    return _back()


@bp.route("/flag-platform/disconnect", methods=["GET", "POST"])
def disconnect_flag_platform():
    state = get_state()
    shown = state.connection.public()
    if shown is None:
        g.ui_session.notice("The gateway is not connected to the flag platform.", "info")
        return _back()
    if request.method == "GET":
        return render_template("ui/confirm_disconnect.html", title="Disconnect from the flag platform", shown=shown)
    keep = request.form.get("keep_webhook") is not None
    try:
        result = connection_actions.disconnect(state, keep_webhook=keep, origin="ui")
    except ApiError as exc:
        g.ui_session.notice(f"Not disconnected: {exc.message}", "error")
        return _back()
    what = {"kept": "the webhook was left in the flag platform", "deleted": "the webhook was deleted",
            "already gone": "the webhook was already gone", "none was wired": "no webhook was wired"}
    g.ui_session.notice(f"Disconnected from the flag platform; {what.get(result['webhook'], result['webhook'])}.")
    return _back()

"""Integration pages: add and edit (forms generated from the plugin's config schema, with the policy
editor and its "try it" box), detail (status checks and their actions, test send, recent
deliveries, enable / disable, replay), and delete with confirmation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import abort, g, redirect, render_template, request, url_for

from gateway.admin import operations
from gateway.runtime.check_runner import check_in_background
from gateway.runtime.status import stored_integration_status
from gateway.host.config_schema import config_json_schema
from gateway.host.builtin.launchdarkly import SOURCE as FLAG_SOURCE
from gateway.crypto import is_mask
from gateway.host.integrations import secret_fields
from gateway.host.plugins import LoadedPlugin
from gateway.responses import ApiError
from gateway.host.state import GatewayState, get_state
from gateway.admin.ui.blueprint import bp
from gateway.admin.ui.overview_pages import webhook_base
from gateway.admin.ui.queries import UiQueries
from gateway.admin.ui.schema_form import (
    add_row, all_paths, build_fields, defaults, dom_id, path_labels, read_form, remove_row,
)

RECENT = 20


def _integration_plugin(state: GatewayState, key: str | None) -> LoadedPlugin | None:
    return state.host.integration_types().get(key or "")


def _row_or_404(state: GatewayState, integration_id: str):
    row = state.db.integrations.get(integration_id)
    if row is None:
        abort(404, f"There is no integration {integration_id}.")
    return row


def _recent_flag_events(state: GatewayState):
    return UiQueries(state.db.engine).recent_flag_events(FLAG_SOURCE, RECENT)


def _try_body(state: GatewayState, form) -> tuple[Any, str | None]:
    """The webhook body of a "try it" box: the one pasted, else the raw payload of the event picked."""
    pasted = (form.get("try_body") or "").strip()
    if pasted:
        try:
            return json.loads(pasted), None
        except ValueError as exc:
            return None, f"the pasted webhook body is not JSON: {exc}"
    event_id = form.get("try_event")
    if event_id:
        row = state.db.events.get(event_id)
        if row is None:
            return None, f"there is no event {event_id}"
        return row.raw, None
    return None, "paste a webhook body, or pick a recent event"


# the form ----------------------------------------------------------------------------------------

def _render_form(state: GatewayState, plugin: LoadedPlugin, *, row=None, values: dict[str, Any],
                 name: str, enabled: bool, policy_text: str, errors: dict[str, list[str]] | None = None,
                 try_result: dict[str, Any] | None = None, try_error: str | None = None,
                 try_body: str = "", try_event: str = "", status: int = 200, retype: tuple[str, ...] = ()):
    errors = errors or {}
    schema = config_json_schema(plugin)
    masks: dict[str, str] = {}
    if row is not None:
        shown = state.integrations.public_config(row)
        masks = {key: shown[key] for key in secret_fields(plugin).values() if is_mask(shown.get(key))}
    fields = build_fields(schema, values, errors, masks=masks)
    for item in fields:
        item.retype = item.key in retype
    known = all_paths(fields) | {"name", "enabled"}
    labels = {**path_labels(fields), "name": "Name", "enabled": "Enabled", "policy": "Policy"}
    policy_errors = [f"{path}: {' '.join(messages)}" if path != "policy" else " ".join(messages)
                     for path, messages in errors.items() if path == "policy" or path.startswith(("policy[", "policy."))]
    summary = [
        {"path": path, "label": labels.get(path, path), "text": " ".join(messages),
         "anchor": dom_id(path) if path in known else ("f-policy" if path.startswith("policy") else None)}
        for path, messages in errors.items()
    ]
    unplaced = [item for item in summary if item["anchor"] is None]
    return render_template(
        "ui/integration_form.html", title=f"Edit {row.name}" if row else f"Add a {plugin.declaration.name} integration",
        plugin=plugin, row=row, fields=fields, name=name, enabled=enabled, policy_text=policy_text,
        errors=errors, policy_errors=policy_errors, summary=summary, unplaced=unplaced,
        try_result=try_result, try_error=try_error, try_body=try_body, try_event=try_event,
        recent_events=_recent_flag_events(state),
        default_policy=json.dumps(plugin.declaration.default_policy, indent=2),
        has_secrets=bool(secret_fields(plugin)), retype=[item for item in fields if item.retype],
    ), status


def _handle_form(state: GatewayState, plugin: LoadedPlugin, row=None):
    """A POST of the add or edit form: add / remove a row, try the policy, or save."""
    form = request.form
    schema = config_json_schema(plugin)
    editing = row is not None
    rows_change = form.get("ui_add") or form.get("ui_remove")
    submitted = read_form(schema, form, editing=editing, keep_blank_rows=bool(rows_change))
    name = (form.get("name") or "").strip()
    enabled = form.get("enabled") is not None
    policy_text = form.get("policy") or ""
    # Secrets typed in this form are never sent back to the browser: the form shown again names them.
    typed = tuple(key for key in secret_fields(plugin).values() if form.get(f"config.{key}"))
    common = dict(row=row, values=submitted.shown, name=name, enabled=enabled, policy_text=policy_text,
                  try_body=form.get("try_body") or "", try_event=form.get("try_event") or "", retype=typed)
    if form.get("ui_add"):
        add_row(submitted.shown, form["ui_add"])
        return _render_form(state, plugin, **common)
    if form.get("ui_remove"):
        remove_row(submitted.shown, form["ui_remove"])
        return _render_form(state, plugin, **common)
    errors: dict[str, list[str]] = {}
    try:
        policy: Any = json.loads(policy_text)
    except ValueError as exc:
        policy = policy_text
        errors["policy"] = [f"the policy is not valid JSON: {exc}"]
    if form.get("ui_try"):
        if errors:
            return _render_form(state, plugin, errors=errors, status=400, **common)
        body, problem = _try_body(state, form)
        if problem:
            return _render_form(state, plugin, try_error=problem, status=400, **common)
        try:
            result = operations.evaluate_policy(state, {"policy": policy, "event": body})
        except ApiError as exc:
            policy_problems = {k: v for k, v in (exc.errors or {}).items() if k.startswith("policy")}
            if policy_problems:
                return _render_form(state, plugin, errors=policy_problems, status=400, **common)
            return _render_form(state, plugin, try_error=exc.message, status=400, **common)
        return _render_form(state, plugin, try_result=result, **common)
    body: dict[str, Any] = {"name": name, "enabled": enabled, "config": submitted.config, "policy": policy}
    try:
        if editing:
            saved = operations.update_integration(state, row.id, body, "ui")
        else:
            saved = operations.create_integration(state, {"plugin": plugin.key, **body}, "ui")
    except ApiError as exc:
        found = dict(exc.errors or {})
        for path, messages in errors.items():  # the JSON problem first, then what validation said
            found[path] = messages + [m for m in found.get(path, []) if m not in messages]
        if not found:
            found = {"_form": [exc.message]}
        return _render_form(state, plugin, errors=found, status=400 if exc.status < 500 else exc.status, **common)
    g.ui_session.notice(f"Saved {saved.name}.")
    return redirect(url_for("gateway_ui.integration", integration_id=saved.id), 303)


@bp.route("/integrations/new", methods=["GET", "POST"])
def new_integration():
    state = get_state()
    key = request.values.get("plugin")
    plugin = _integration_plugin(state, key)
    if plugin is None:
        if key:
            g.ui_session.notice(f"There is no plugin {key!r} installed.", "error")
        return render_template("ui/choose_plugin.html", title="Add an integration",
                               plugins=sorted(state.host.integration_types().values(), key=lambda p: p.key))
    if request.method == "POST":
        return _handle_form(state, plugin)
    return _render_form(state, plugin, values=defaults(config_json_schema(plugin)), name="", enabled=True,
                        policy_text=json.dumps(plugin.declaration.default_policy, indent=2))


@bp.route("/integrations/<integration_id>/edit", methods=["GET", "POST"])
def edit_integration(integration_id: str):
    state = get_state()
    row = _row_or_404(state, integration_id)
    plugin = _integration_plugin(state, row.plugin)
    if plugin is None:
        abort(404, f"The plugin {row.plugin!r} of this integration is not installed, so it cannot be edited here.")
    if request.method == "POST":
        return _handle_form(state, plugin, row)
    secret_keys = set(secret_fields(plugin).values())
    values = {k: v for k, v in state.integrations.public_config(row).items() if k not in secret_keys}
    return _render_form(state, plugin, row=row, values=values, name=row.name, enabled=row.enabled,
                        policy_text=json.dumps(row.policy, indent=2))


# the detail page ---------------------------------------------------------------------------------

def _render_detail(state: GatewayState, row, *, try_result=None, try_error=None, try_body="", try_event="",
                   status: int = 200):
    plugin = state.host.plugins.get(row.plugin)
    active = state.integrations.active(row)
    checks, checks_error, checking = stored_integration_status(state, active), None, False
    if active.plugin is None or active.error:
        checks_error = f"integration cannot be used: {active.error}"
    elif checks is None:  # never checked: run them now, in the background (never inside the request)
        check_in_background(state, row.id)
        checking = True
    deliveries = state.db.deliveries.list(integration_id=row.id, limit=RECENT)
    webhook_url = None
    if plugin is not None and plugin.has_hook("receive_webhook"):
        webhook_url = webhook_base() + f"/webhooks/integrations/{row.id}"
    day_ago = (datetime.now(timezone.utc) - timedelta(days=1)).replace(microsecond=0)
    return render_template(
        "ui/integration.html", title=row.name, row=row, plugin=plugin,
        config=state.integrations.public_config(row), checks=checks, checks_error=checks_error, checking=checking,
        deliveries=deliveries, webhook_url=webhook_url, active_error=state.integrations.active(row).error,
        try_result=try_result, try_error=try_error, try_body=try_body, try_event=try_event,
        recent_events=_recent_flag_events(state) if plugin is not None and plugin.declaration.sources else [],
        replay_since=day_ago.isoformat().replace("+00:00", "Z"),
        can_test=plugin is not None and plugin.has_hook("test_event"),
    ), status


@bp.get("/integrations/<integration_id>")
def integration(integration_id: str):
    state = get_state()
    return _render_detail(state, _row_or_404(state, integration_id))


@bp.post("/integrations/<integration_id>/try")
def try_integration(integration_id: str):
    state = get_state()
    row = _row_or_404(state, integration_id)
    common = dict(try_body=request.form.get("try_body") or "", try_event=request.form.get("try_event") or "")
    body, problem = _try_body(state, request.form)
    if problem:
        return _render_detail(state, row, try_error=problem, status=400, **common)
    try:
        result = operations.explain(state, row.id, body)
    except ApiError as exc:
        return _render_detail(state, row, try_error=exc.message, status=400, **common)
    return _render_detail(state, row, try_result=result, **common)


def _back(integration_id: str):
    return redirect(url_for("gateway_ui.integration", integration_id=integration_id), 303)


@bp.post("/integrations/<integration_id>/check")
def check_integration(integration_id: str):
    """Run the integration's checks now, in the background (the page shows the stored result; it
    shows theirs once they are done)."""
    state = get_state()
    row = _row_or_404(state, integration_id)
    active = state.integrations.active(row)
    if active.plugin is None or active.error:
        g.ui_session.notice(f"The checks could not run: integration cannot be used: {active.error}", "error")
        return _back(integration_id)
    check_in_background(state, integration_id)
    g.ui_session.notice("The checks are running in the background: reload this page in a moment for their result.")
    return _back(integration_id)


@bp.post("/integrations/<integration_id>/enable")
def enable_integration(integration_id: str):
    return _set_enabled(integration_id, True)


@bp.post("/integrations/<integration_id>/disable")
def disable_integration(integration_id: str):
    return _set_enabled(integration_id, False)


def _set_enabled(integration_id: str, enabled: bool):
    state = get_state()
    _row_or_404(state, integration_id)
    try:
        row = operations.update_integration(state, integration_id, {"enabled": enabled}, "ui")
        g.ui_session.notice(f"{row.name} is {'enabled' if enabled else 'disabled'}.")
    except ApiError as exc:
        g.ui_session.notice(exc.message, "error")
    return _back(integration_id)


@bp.post("/integrations/<integration_id>/test")
def test_integration(integration_id: str):
    state = get_state()
    _row_or_404(state, integration_id)
    try:
        sent = operations.test_integration(state, integration_id, "ui")
    except ApiError as exc:
        g.ui_session.notice(f"The test event was not sent: {exc.message}", "error")
        return _back(integration_id)
    tone = "ok" if sent.delivery.status == "delivered" else "error"
    g.ui_session.notice(f"Test event sent: the delivery is {sent.delivery.status} ({sent.delivery.reason}).", tone,
                        link=url_for("gateway_ui.event", event_id=sent.event_id), link_text="See the event and its attempts")
    return _back(integration_id)


@bp.post("/integrations/<integration_id>/actions/<action>")
def integration_action(integration_id: str, action: str):
    state = get_state()
    _row_or_404(state, integration_id)
    try:
        params = json.loads(request.form.get("params") or "{}")
    except ValueError:
        params = None
    if not isinstance(params, dict):
        g.ui_session.notice("The action's parameters are not a JSON object.", "error")
        return _back(integration_id)
    try:
        message = operations.integration_action(state, integration_id, action, params, "ui")
        g.ui_session.notice(message)
    except ApiError as exc:
        g.ui_session.notice(f"{action}: {exc.message}", "error")
    return _back(integration_id)  # the action stored fresh check results (operations.integration_action)


@bp.post("/integrations/<integration_id>/replay")
def replay_integration(integration_id: str):
    state = get_state()
    _row_or_404(state, integration_id)
    if request.form.get("event_id"):
        data: dict[str, Any] = {"event_ids": [request.form["event_id"]]}
    else:
        data = {"since": (request.form.get("since") or "").strip()}
    try:
        result = operations.replay_integration(state, integration_id, data, "ui")
        g.ui_session.notice(*replay_notice(result))
    except ApiError as exc:
        g.ui_session.notice(f"Nothing was re-queued: {exc.message}", "error")
    target = request.form.get("back")
    if target and target.startswith("/ui/") and "//" not in target:
        return redirect(target, 303)
    return _back(integration_id)


def replay_notice(result: dict[str, Any]) -> tuple[str, str]:
    """What a person reads after a replay: what was queued, and what the decision taken again still skips."""
    skipped = [r for r in result["results"] if r["outcome"] == "skipped"]
    if len(result["results"]) == 1 and skipped:
        return (f"Still skipped, nothing was sent: {skipped[0]['reason']} (the decision was taken again with the "
                "current policy and plugin; it is in the event's history).", "error")
    text = f"Re-queued {result['requeued']} delivery(ies)"
    if skipped:
        text += f"; {len(skipped)} still skipped when decided again (nothing sent; see each event's history)"
    if result["in_flight"]:
        text += f"; {result['in_flight']} left alone while an attempt runs"
    if not result["enabled"]:
        text += "; the integration is disabled and holds them until it is enabled"
    return text + ".", "ok"


@bp.route("/integrations/<integration_id>/override", methods=["GET", "POST"])
def override_integration(integration_id: str):
    """Send an event despite its denials: a page naming them (and whether they may be overridden),
    then the confirmed action."""
    state = get_state()
    row = _row_or_404(state, integration_id)
    event_id = (request.values.get("event_id") or "").strip()
    back = url_for("gateway_ui.event", event_id=event_id) if event_id else url_for("gateway_ui.events")
    if request.method == "GET":
        try:
            seen = operations.override_preview(state, integration_id, event_id)
        except ApiError as exc:
            abort(exc.status, exc.message)
        return render_template("ui/confirm_override.html", title=f"Send despite the denial to {row.name}",
                               row=row, event_id=event_id, seen=seen, back=back)
    confirm = [name for name in request.form.get("confirm", "").split(",") if name]
    try:
        result = operations.override_delivery(state, integration_id, {"event_id": event_id, "confirm": confirm}, "ui")
    except ApiError as exc:
        g.ui_session.notice(f"Not sent: {exc.message}", "error")
        return redirect(back, 303)
    if result["outcome"] == "queued":
        overrode = "; ".join(f"{o['stage']}: {o['reason']}" for o in result["overrode"])
        g.ui_session.notice(f"Queued for {row.name} despite {overrode}. The override is in the event's history.")
    else:
        g.ui_session.notice(f"Not sent: {result['reason']}", "error")
    return redirect(back, 303)


@bp.route("/integrations/<integration_id>/delete", methods=["GET", "POST"])
def delete_integration(integration_id: str):
    state = get_state()
    row = _row_or_404(state, integration_id)
    if request.method == "GET":
        return render_template("ui/confirm_delete.html", title=f"Delete {row.name}", row=row)
    try:
        operations.delete_integration(state, integration_id, "ui")
    except ApiError as exc:
        g.ui_session.notice(exc.message, "error")
        return _back(integration_id)
    g.ui_session.notice(f"Deleted {row.name}.")
    return redirect(url_for("gateway_ui.overview"), 303)

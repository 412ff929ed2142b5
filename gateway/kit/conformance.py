"""The conformance check: does a plugin do what the gateway and its operators expect of it?

It loads the plugin through the gateway's plugin host (as :class:`~gateway.kit.harness.PluginHarness`
does), looks at its declaration, config schema, default policy and hooks, asks for its test event
and runs it through the plugin's own policy and ``check_event``, then delivers an event to a local
fake service answering 2xx, 3xx, 4xx, 429 with ``Retry-After``, 5xx and not at all (a time-out), and
reads what the gateway recorded of each attempt. Every finding says what to change.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import re
import secrets as token_generator
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from marshmallow import Schema, fields

from gateway.host.config_schema import config_json_schema
from gateway.events import Event
from gateway.host.fields import is_secret
from gateway.host import hookspecs
from gateway.host.markers import PROJECT_NAME
from gateway.host.plugins import SPEC_NAMES, LoadedPlugin
from gateway.kit.harness import Attempt, InvalidConfig, PluginHarness, PluginRefused
from gateway.kit.loopback import FakeService, RecordedRequest, Reply


OK, WARNING, ERROR = "ok", "warning", "error"
SERVICE_URL = "{service_url}"
"""In a config given to the check, this text is replaced by the local fake service's URL."""
RETRY_AFTER_SECONDS = 120
CREDENTIAL_WORDS = frozenset({"token", "tokens", "secret", "secrets", "password", "passwd", "pwd", "credential",
                              "credentials", "dsn", "auth", "apikey"})
CREDENTIAL_PAIRS = frozenset({("api", "key"), ("private", "key"), ("access", "key"), ("signing", "key"),
                              ("secret", "key")})


def looks_like_credential(name: str) -> bool:
    """Whether a field's name says it holds a credential (``api_token``, ``client_secret``, ``dsn``...)."""
    words = [w for w in re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", name) if w]
    lowered = [w.lower() for w in words]
    return bool(CREDENTIAL_WORDS & set(lowered)) or any(pair in CREDENTIAL_PAIRS for pair in zip(lowered, lowered[1:]))
SCENARIOS = ("2xx", "3xx", "4xx", "429", "5xx", "timeout")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One result of the check: ``level`` is ``ok``, ``warning`` or ``error``; ``message`` says what
    was found and, unless ``ok``, what to change."""

    check: str
    level: str
    message: str


@dataclasses.dataclass
class ConformanceReport:
    """What :func:`check_plugin` found. ``passed`` when there is no error."""

    plugin: str
    findings: list[Finding] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    def add(self, check: str, level: str, message: str) -> None:
        self.findings.append(Finding(check, level, message))

    def to_dict(self) -> dict[str, Any]:
        return {"plugin": self.plugin, "passed": self.passed, "errors": len(self.errors),
                "warnings": len(self.warnings), "findings": [dataclasses.asdict(f) for f in self.findings]}

    def format(self) -> str:
        """The findings as lines of text, errors first."""
        order = {ERROR: 0, WARNING: 1, OK: 2}
        lines = [f"{self.plugin}: {'passed' if self.passed else 'FAILED'} "
                 f"({len(self.errors)} errors, {len(self.warnings)} warnings)"]
        for finding in sorted(self.findings, key=lambda f: order[f.level]):
            lines.append(f"  [{finding.level}] {finding.check}: {finding.message}")
        return "\n".join(lines)

    def assert_passed(self) -> None:
        """Raise ``AssertionError`` with :meth:`format` when there is an error (for tests)."""
        if not self.passed:
            raise AssertionError(self.format())


ConfigSource = Mapping[str, Any] | Callable[[str], Mapping[str, Any]] | None


def check_plugin(plugin: Any, *, config: ConfigSource = None, event: Event | None = None,
                 ok_reply: Reply | None = None, name: str | None = None,
                 timeout: float = 0.5) -> ConformanceReport:
    """Check ``plugin`` (the plugin object, usually its module, or an installed entry-point name).

    ``config`` is the integration config to check with: a mapping (any ``"{service_url}"`` in its
    strings is replaced by the local fake service's URL) or a function of that URL. Without it the
    check builds one: every URL field (``TargetURL``, ``SecretURL``) points at the fake service, every
    ``Secret`` gets a made-up value, and other fields keep their defaults. ``event`` is delivered in
    the delivery checks; by default the plugin's test event. ``ok_reply`` is the fake service's
    success answer (default ``200 {"ok": true}``), for tools whose success answer says more.
    ``timeout`` is the read time-out of the time-out check, in seconds.
    """
    label = plugin if isinstance(plugin, str) else name or getattr(plugin, "__name__", type(plugin).__name__)
    report = ConformanceReport(str(label))
    with FakeService(Reply(200, {"ok": True})) as service:
        settings = {"GATEWAY_READ_TIMEOUT": str(timeout), "GATEWAY_CONNECT_TIMEOUT": "2"}
        try:
            harness = PluginHarness(plugin, name=name, settings=settings)
        except PluginRefused as exc:
            report.add("load", ERROR, f"{exc} — fix this first: the gateway will not load the plugin")
            return report
        with harness:
            report.plugin = f"{harness.name} ({harness.key})"
            report.add("load", OK, f"loaded by the gateway's plugin host as {harness.key!r} "
                                   f"(hooks: {', '.join(harness.plugin.hooks)})")
            registered = harness.state.host.pm.get_plugin(harness.name)  # the object, also for an entry point
            _check_unmarked_hooks(report, registered, harness.plugin)
            _check_signatures(report, harness.plugin)
            if harness.plugin.kind != "integration":
                report.add("kind", OK, "a webhook source: the integration checks do not apply")
                return report
            _check_declaration(report, harness.plugin)
            schema_ok = _check_schema(report, harness.plugin)
            _check_default_policy(report, harness.plugin)
            if not schema_ok:
                return report
            if not _configure(report, harness, config, service.url):
                return report
            delivered = _check_test_event(report, harness, event)
            if delivered is None:
                return report
            _check_deliveries(report, harness, service, delivered, ok_reply, timeout)
    return report


# the plugin's code ------------------------------------------------------------------------------

def _marked(value: Any) -> bool:
    return hasattr(value, f"{PROJECT_NAME}_impl")


def _check_unmarked_hooks(report: ConformanceReport, plugin: Any, loaded: LoadedPlugin) -> None:
    before = len(report.findings)
    members = {name: value for name, value in inspect.getmembers(plugin)
               if not name.startswith("_") and (inspect.isfunction(value) or inspect.ismethod(value))}
    for name, value in sorted(members.items()):
        if _marked(value):
            continue
        if name in SPEC_NAMES and name not in loaded.impls:
            report.add("hooks", ERROR, f"{name}() is defined but not marked as a hook, so the gateway never "
                                       f"calls it: decorate it with @gateway.hookimpl (or @gateway.hooks.{name})")
            continue
        close = difflib.get_close_matches(name, SPEC_NAMES, n=1, cutoff=0.85)
        if close and close[0] not in loaded.impls:
            report.add("hooks", WARNING, f"{name}() looks like the hook {close[0]}() misspelt; the gateway "
                                         f"calls hooks by their exact names")
    if loaded.kind == "integration" and "test_event" not in loaded.impls:
        report.add("hooks", WARNING, "no test_event hook: operators cannot send a test event "
                                     "(POST /api/v1/integrations/<id>/test answers 404); add one that "
                                     "returns a clearly labelled sample gateway.Event")
    if len(report.findings) == before:
        report.add("hooks", OK, "no hook-named function is left unmarked")


def _members(annotation: Any) -> list[Any] | None:
    """The classes a type stands for (a union's members, a generic's origin); None when unknown."""
    if annotation is Any or annotation is object:
        return [object]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = [_members(arg) for arg in args]
        return None if any(f is None for f in found) else [c for f in found for c in f]  # type: ignore[union-attr]
    origin = typing.get_origin(annotation) or annotation
    return [origin] if isinstance(origin, type) else None


def _covers(wide: list[Any], narrow: list[Any]) -> bool:
    """Every class of ``narrow`` is one of ``wide`` or a subclass of one."""
    return all(any(w is object or issubclass(n, w) for w in wide) for n in narrow)


def _check_signatures(report: ConformanceReport, loaded: LoadedPlugin) -> None:
    """The annotations a hook implementation has, against its specification's: each argument must
    take what the gateway passes, and the answer must be what the gateway reads."""
    problems = []
    for hook, impl in sorted(loaded.impls.items()):
        try:
            spec_hints = typing.get_type_hints(getattr(hookspecs, hook))
            hints = typing.get_type_hints(impl.function)
        except Exception:  # annotations that do not resolve here: the type checker's business
            continue
        for name in impl.argnames:
            if name not in hints or name not in spec_hints:
                continue
            given, taken = _members(spec_hints[name]), _members(hints[name])
            if given is not None and taken is not None and not _covers(taken, given):
                problems.append(f"{hook}() annotates {name!r} as {_type_name(hints[name])}, but the gateway passes "
                                f"{_type_name(spec_hints[name])}")
        if "return" in hints and "return" in spec_hints:
            answered, read = _members(hints["return"]), _members(spec_hints["return"])
            if answered is not None and read is not None and not _covers(read, answered):
                problems.append(f"{hook}() is annotated to return {_type_name(hints['return'])}, but the gateway "
                                f"expects {_type_name(spec_hints['return'])}")
    for problem in problems:
        report.add("signatures", ERROR, problem + "; see the hook's specification in docs/writing-plugins.md "
                                                  "(the typed markers of gateway.hooks let a type checker say so)")
    if not problems:
        report.add("signatures", OK, "every hook's arguments are ones the gateway passes, and its annotations "
                                     "agree with the specifications")


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


# the declaration ---------------------------------------------------------------------------------

def _check_declaration(report: ConformanceReport, loaded: LoadedPlugin) -> None:
    declaration = loaded.declaration
    problems = [f"{attr} is empty: give people a {what}" for attr, what in
                (("name", "name to read in lists"), ("description", "sentence saying what the integration does"))
                if not str(getattr(declaration, attr) or "").strip()]
    for problem in problems:
        report.add("declaration", ERROR, problem)
    if not problems:
        report.add("declaration", OK, f"key {declaration.key!r}, name {declaration.name!r}, "
                                      f"sources {list(declaration.sources) or 'none (own webhooks only)'}")


def _nested_secrets(schema: Schema, prefix: str = "") -> list[str]:
    found = []
    for name, field in schema.fields.items():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested) and isinstance(inner.schema, Schema):
            for sub_name, sub_field in inner.schema.fields.items():
                if is_secret(sub_field):
                    found.append(f"{prefix}{name}.{sub_name}")
            found.extend(_nested_secrets(inner.schema, f"{prefix}{name}."))
    return sorted(set(found))


def _check_schema(report: ConformanceReport, loaded: LoadedPlugin) -> bool:
    schema_class = loaded.declaration.config_schema
    schema = schema_class()
    try:
        exported = json.loads(json.dumps(config_json_schema(loaded)))
    except Exception as exc:
        report.add("config schema", ERROR,
                   f"{schema_class.__name__} cannot be exported to JSON Schema ({type(exc).__name__}: {exc}): "
                   "use marshmallow's own fields, or subclass one, so GET /api/v1/plugins can describe it")
        return False
    properties = exported.get("properties", {})
    ok = True
    for name, field in schema.fields.items():
        key = field.data_key or name
        if looks_like_credential(name) and not is_secret(field):
            ok = False
            report.add("config schema", ERROR,
                       f"field {key!r} looks like a credential but is not secret: declare it with gateway.Secret "
                       "(or gateway.SecretURL for a URL that is itself a credential) so it is encrypted, "
                       "masked and kept out of logs")
        if is_secret(field) and not properties.get(key, {}).get("writeOnly"):
            ok = False
            report.add("config schema", ERROR, f"secret field {key!r} is not writeOnly in the JSON Schema: "
                                               "do not set load_only=False on a Secret")
        if not (field.metadata or {}).get("description"):
            report.add("config schema", WARNING, f"field {key!r} has no description: add "
                                                 "metadata={'description': ...}; operators read it in GET /api/v1/plugins")
    for path in _nested_secrets(schema):
        ok = False
        report.add("config schema", ERROR, f"secret {path!r} is inside a nested field: the gateway encrypts and "
                                           "masks top-level secret fields only; make it a top-level field")
    if ok:
        secret_names = [f.data_key or n for n, f in schema.fields.items() if is_secret(f)]
        report.add("config schema", OK, f"{schema_class.__name__} exports to JSON Schema; secret fields: "
                                        f"{', '.join(secret_names) or 'none'}")
    return ok


def _check_default_policy(report: ConformanceReport, loaded: LoadedPlugin) -> None:
    declaration = loaded.declaration
    if not declaration.default_policy and declaration.sources:
        report.add("default policy", WARNING,
                   "default_policy is empty, so a new integration takes no flag change until someone sets a "
                   "policy: give it the policy most operators want (for example all flags in production)")
    else:
        report.add("default policy", OK, f"{len(declaration.default_policy)} statement(s), valid")


# the config ---------------------------------------------------------------------------------------

def _substitute(value: Any, url: str) -> Any:
    if isinstance(value, str):
        return value.replace(SERVICE_URL, url)
    if isinstance(value, Mapping):
        return {k: _substitute(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, url) for v in value]
    return value


def _built_config(loaded: LoadedPlugin, url: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name, field in loaded.declaration.config_schema().fields.items():
        key = field.data_key or name
        if isinstance(field, fields.Url):
            config[key] = url + ("/" + token_generator.token_hex(8) if is_secret(field) else "")
        elif is_secret(field):
            config[key] = "check-secret-" + token_generator.token_hex(12)
    return config


def _configure(report: ConformanceReport, harness: PluginHarness, config: ConfigSource, url: str) -> bool:
    if callable(config):
        given: Mapping[str, Any] = config(url)
    elif config is not None:
        given = _substitute(config, url)
    else:
        given = _built_config(harness.plugin, url)
    try:
        harness.configure(given)
    except InvalidConfig as exc:
        how = ("give the check a config (config=... or --config JSON) in which \"{service_url}\" stands "
               "for the tool's URL" if config is None else "fix the config given to the check")
        report.add("config", ERROR, f"the plugin's schema refuses the config {_shown(given, harness)}: "
                                    f"{exc}; {how}")
        return False
    report.add("config", OK, f"the schema accepts {_shown(given, harness)}")
    return True


def _shown(config: Mapping[str, Any], harness: PluginHarness) -> str:
    schema = harness.plugin.declaration.config_schema()
    secret_keys = {f.data_key or n for n, f in schema.fields.items() if is_secret(f)}
    return json.dumps({k: ("****" if k in secret_keys else v) for k, v in config.items()}, default=str)


# the test event -----------------------------------------------------------------------------------

def _check_test_event(report: ConformanceReport, harness: PluginHarness, event: Event | None) -> Event | None:
    if harness.plugin.has_hook("test_event"):
        try:
            sample = harness.test_event()
        except Exception as exc:
            report.add("test_event", ERROR, f"test_event() failed: {type(exc).__name__}: {exc}; it must return "
                                            "a gateway.Event and make no network call")
            sample = None
        if sample is not None:
            decision = harness.decide(sample, offer=True)
            if decision.queued:
                report.add("test_event", OK, f"the test event passes the default policy and check_event: {decision.reason}")
            else:
                report.add("test_event", ERROR,
                           f"the test event is not taken ({decision.reason}). The test send itself skips the "
                           "policy and check_event, so it would reach the tool while real events of that shape "
                           "are skipped: make it an event the default policy allows and check_event takes")
            event = event or sample
    if event is None:
        report.add("delivery", WARNING, "the delivery checks did not run: there is no event to deliver; add a "
                                        "test_event hook or give the check an event (event=... or --event @file)")
        return None
    return event


# deliveries ---------------------------------------------------------------------------------------

def _echo(status: int, headers: Mapping[str, str] | None = None) -> Callable[[RecordedRequest], Reply]:
    """An answer that quotes the request back, as some tools do in their errors: what the plugin
    copies from it into the records must not carry a secret."""
    def answer(request: RecordedRequest) -> Reply:
        return Reply(status, {"error": f"answer {status} of the conformance check",
                              "request": {"path": request.path, "headers": request.headers,
                                          "body": request.body.decode("utf-8", "replace")}}, headers)

    return answer


def _secret_forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}


def _check_deliveries(report: ConformanceReport, harness: PluginHarness, service: FakeService, event: Event,
                      ok_reply: Reply | None, timeout: float) -> None:
    replies: dict[str, Reply | Callable[[RecordedRequest], Reply]] = {
        "2xx": ok_reply or _echo(200),
        "3xx": Reply(302, b"", {"Location": "https://moved.example.com/elsewhere"}),
        "4xx": _echo(400),
        "429": _echo(429, {"Retry-After": str(RETRY_AFTER_SECONDS)}),
        "5xx": _echo(503),
        "timeout": Reply(200, {"ok": True}, delay=timeout + 1.5),
    }
    attempts: dict[str, Attempt] = {}
    for scenario in SCENARIOS:
        service.reply = replies[scenario]
        before = len(service.received())
        copy = dataclasses.replace(event, source_id=f"{event.source_id}-check-{scenario}")
        attempt = harness.deliver(copy)
        attempts[scenario] = attempt
        if len(service.received()) == before:
            report.add(f"deliver {scenario}", ERROR,
                       f"deliver_event sent nothing to the fake service ({attempt.outcome}: {attempt.reason}): it "
                       "must send to the URL in the integration's config (the check points every URL field at "
                       f"{service.url})")
            continue
        _judge(report, scenario, attempt)
    service.reply = Reply(200, {"ok": True})
    _check_secrets(report, harness, attempts)


def _judge(report: ConformanceReport, scenario: str, attempt: Attempt) -> None:
    check = f"deliver {scenario}"
    got = f"recorded as {attempt.outcome} ({attempt.reason})"
    if scenario == "2xx":
        if attempt.outcome == "delivered":
            report.add(check, OK, f"a 2xx answer is {got}")
        else:
            report.add(check, ERROR, f"a 2xx answer was {got}: return gateway.Delivered when the tool accepts "
                                     "(response.ok); if the tool needs a particular success body, give the check "
                                     "ok_reply= (--ok-body)")
    elif scenario in ("3xx", "4xx"):
        what = "a redirect (302)" if scenario == "3xx" else "a 400 answer"
        if attempt.outcome == "delivered":
            report.add(check, ERROR, f"{what} was {got}: the event did not arrive; the HTTP client never "
                                     "follows redirects, so only a 2xx means delivered. Return gateway.Failed "
                                     "with a reason saying what to fix")
        elif attempt.outcome == "retry":
            report.add(check, WARNING, f"{what} was {got}: retrying will not change it, and the delivery would "
                                       "be retried for hours; return gateway.Failed with a reason saying what to fix "
                                       "(for a redirect: the URL to configure)")
        else:
            report.add(check, OK, f"{what} is {got}")
    elif scenario == "429":
        if attempt.outcome != "retry":
            report.add(check, ERROR, f"a 429 answer was {got}: the tool asks to slow down; return "
                                     "gateway.RetryLater(reason, after=response.retry_after)")
        elif (attempt.retry_in or 0) < RETRY_AFTER_SECONDS * 0.99:
            report.add(check, ERROR, f"a 429 with Retry-After: {RETRY_AFTER_SECONDS} is retried in "
                                     f"{attempt.retry_in:.0f}s: pass after=response.retry_after to gateway.RetryLater")
        else:
            report.add(check, OK, f"a 429 with Retry-After is {got}, next attempt in {attempt.retry_in:.0f}s")
    elif scenario == "5xx":
        if attempt.outcome != "retry":
            report.add(check, ERROR, f"a 503 answer was {got}: a 5xx is usually temporary; return "
                                     "gateway.RetryLater (response.is_retryable tells)")
        else:
            report.add(check, OK, f"a 5xx answer is {got}")
    elif scenario == "timeout":
        if attempt.outcome != "retry":
            report.add(check, ERROR, f"a time-out was {got}: let gateway.TransportError propagate (the gateway "
                                     "retries it) or return gateway.RetryLater")
        else:
            report.add(check, OK, f"a time-out is {got}")


def _check_secrets(report: ConformanceReport, harness: PluginHarness, attempts: dict[str, Attempt]) -> None:
    schema = harness.plugin.declaration.config_schema()
    config = harness.config
    leaks = []
    for name, field in schema.fields.items():
        if not is_secret(field) or not config.get(name):
            continue
        forms = _secret_forms(str(config[name]))
        for scenario, attempt in attempts.items():
            for part, text in (("reason", attempt.reason), ("summary", attempt.summary or ""),
                               ("details", json.dumps(attempt.details, default=str)),
                               ("HTTP exchanges", json.dumps(attempt.http, default=str))):
                if any(form in text for form in forms):
                    leaks.append(f"{field.data_key or name} in the {part} of the {scenario} attempt")
    if leaks:
        report.add("secrets", ERROR, "a secret is in the gateway's records: " + "; ".join(leaks) +
                   ". Keep secrets out of Delivered(details=...) and summaries, and send them in headers or "
                   "bodies rather than in URLs the plugin builds")
    else:
        report.add("secrets", OK, f"no secret in the {len(attempts)} recorded attempts")

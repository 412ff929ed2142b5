"""``event-gateway plugins new NAME [--template chat|json]``: a new plugin package whose tests pass
right after ``pip install -e '.[test]'``.

It writes ``event-gateway-NAME/`` with ``pyproject.toml``, ``setup.cfg`` (the ``event_gateway``
entry point ``NAME``, and the mypy settings for a plugin), ``.gitignore``, ``README.md``, the package
``gateway_NAME`` (``plugin.py`` with ``integration_type``, ``check_event``, ``deliver_event`` and
``test_event``; ``py.typed``) and ``tests/test_plugin.py``, which uses :mod:`gateway.testing`.

Two templates (:data:`TEMPLATES`): ``json`` POSTs each flag change as JSON to a configured URL with
an optional bearer token; ``chat`` posts a one-line message to a chat channel's incoming webhook,
whose URL is itself the credential (a ``SecretURL``). Edit either into yours.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from string import Template

from gateway.host.plugins import KEY_PATTERN
from gateway.version import __version__


class ScaffoldError(Exception):
    """The package cannot be written; the message says why."""


@dataclasses.dataclass(frozen=True)
class Written:
    directory: Path
    distribution: str
    package: str
    key: str
    files: list[str]


PYPROJECT = """\
[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"
"""

SETUP_CFG = """\
[metadata]
name = $distribution
version = 0.1.0
description = $title plugin for Flag Event Gateway
long_description = file: README.md
long_description_content_type = text/markdown

[options]
packages = $package
python_requires = >=3.11
install_requires =
    event-gateway>=$gateway_version

[options.package_data]
$package = py.typed

[options.extras_require]
test =
    pytest>=8
    requests-mock>=1.11

[options.entry_points]
event_gateway =
    $key = $package.plugin

[tool:pytest]
testpaths = tests

# `mypy $package`: your code, checked against the hooks' typed markers; the gateway is
# followed only for its public names (with an editable install of the gateway, set MYPYPATH to its checkout)
[mypy]
python_version = 3.11
check_untyped_defs = True
no_implicit_optional = True

[mypy-gateway.*]
follow_imports = silent
"""

GITIGNORE = """\
__pycache__/
*.egg-info/
build/
dist/
.venv/
.pytest_cache/
.mypy_cache/
# a gateway's instance folder (its database, key file and token) never belongs in a plugin's source tree
instance/
"""

README = """\
# $distribution

A Flag Event Gateway plugin: the integration `$key` $summary.

    pip install -e '.[test]'     # with the test tools
    pytest                       # unit tests, offline
    event-gateway plugins check $key
    event-gateway plugins        # the gateway lists it

Config:

| field | required | meaning |
| --- | --- | --- |
$config_rows

The default policy takes flag changes in environments with the key `production`. The test event
(`POST /api/v1/integrations/<id>/test`) is a flag change labelled `[Test]` that this policy and
`check_event` take.
"""

PLUGIN = '''\
"""The `$key` integration, which $summary."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from marshmallow import Schema

from gateway import (
    Access,
    Delivered,
    DeliveryRef,
    DeliveryResult,
    Event,
    Failed,
    HttpClient,
    IntegrationRef,
    IntegrationType,
    RetryLater,
$field_imports
    Skip,
    Take,
    Verdict,
    hooks,
)

KEY = "$key"


class Config(Schema):
$config_fields


@hooks.integration_type
def integration_type() -> IntegrationType:
    return IntegrationType(
        key=KEY,
        name="$title",
        description="$description",
        config_schema=Config,
        default_policy=[{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}],
    )


@hooks.check_event
def check_event(event: Event, config: dict[str, Any], integration: IntegrationRef) -> Verdict:
    if event.flag_key is None:
        return Skip(f"$title takes flag changes only, and this is a {event.kind} change")
    return Take()


def payload(event: Event) -> dict[str, Any]:
    """What is sent for an event."""
$payload_body


@hooks.deliver_event
def deliver_event(event: Event, config: dict[str, Any], http: HttpClient, delivery: DeliveryRef) -> DeliveryResult:
    headers = {"Content-Type": "application/json", "Idempotency-Key": delivery.id}
$send
    if response.ok:
        return Delivered(f"{response.status_code} from the receiver")
    if response.is_retryable:  # 429 and 5xx; a time-out raises TransportError, which the gateway retries
        return RetryLater(f"the receiver answered {response.status_code}", after=response.retry_after)
    if 300 <= response.status_code < 400:
        return Failed(f"the receiver redirects ({response.status_code}) to {response.headers.get('Location')}: "
                      "set the integration's url to where it should go")
    return Failed(f"the receiver refused it ({response.status_code}): {response.text[:200]}")


@hooks.test_event
def test_event(config: dict[str, Any], integration: IntegrationRef) -> Event:
    return Event(
        source="test",
        source_id=f"test-{uuid.uuid4().hex}",
        kind="flag",
        occurred_at=datetime.now(timezone.utc),
        title=f"[Test] sample flag change sent to {integration.name}",
        accesses=[Access("updateOn", "proj/gateway-test:env/production:flag/gateway-test")],
        project_key="gateway-test",
        environment_key="production",
        flag_key="gateway-test",
        name="Gateway test",
    )
'''

TESTS = '''\
"""Unit tests of the `$key` plugin, offline, with the gateway's test kit (gateway.testing)."""

from __future__ import annotations

import json

from gateway.testing import (
    FakeService,
    Reply,
    check_plugin,
    flag_webhook_body,
    http_client,
    make_delivery_ref,
    make_event,
    make_integration_ref,
    parse_flag_webhook,
)

from $package import plugin

URL = "$test_url"


def test_the_plugin_passes_the_conformance_check():
    check_plugin(plugin).assert_passed()


def test_production_flag_changes_are_queued_others_skipped(plugin_harness):
    harness = plugin_harness(plugin, config={"$url_field": URL})
    assert harness.decide(make_event(environment_key="production")).queued
    staging = harness.decide(parse_flag_webhook(flag_webhook_body(environment="staging")))
    assert not staging.queued and "denied" in staging.reason



def test_check_event_skips_what_is_not_a_flag_change():
    verdict = plugin.check_event(event=make_event(kind="environment", flag_key=None), config={"$url_field": URL},
                                 integration=make_integration_ref())
    assert isinstance(verdict, plugin.Skip) and "flag changes only" in verdict.reason


def test_deliver_posts_the_change(requests_mock):
    requests_mock.post(URL, status_code=204)
    delivery = make_delivery_ref()
    result = plugin.deliver_event(event=make_event(flag_key="new-checkout"), config=$deliver_config,
                                  http=http_client(), delivery=delivery)
    assert isinstance(result, plugin.Delivered)
    sent = requests_mock.last_request
$sent_checks
    assert sent.headers["Idempotency-Key"] == delivery.id


def test_a_busy_receiver_is_retried_after_what_it_asks(requests_mock):
    requests_mock.post(URL, status_code=429, headers={"Retry-After": "30"})
    result = plugin.deliver_event(event=make_event(), config={"$url_field": URL}, http=http_client(),
                                  delivery=make_delivery_ref())
    assert result == plugin.RetryLater("the receiver answered 429", after=30.0)


def test_the_test_event_reaches_a_local_receiver(plugin_harness):
    with FakeService(Reply(200, {"ok": True})) as receiver:
        harness = plugin_harness(plugin, config={"$url_field": receiver.url + "/hook"})
        attempt = harness.send_test_event()
        assert attempt.status == "delivered", attempt.reason
        [request] = receiver.received("/hook")
        assert json.loads(request.body)["$title_key"].startswith("[Test]")
'''

@dataclasses.dataclass(frozen=True)
class PackageTemplate:
    """What one template puts into the files' placeholders."""

    summary: str
    description: str
    url_field: str
    config_rows: str
    field_imports: str
    config_fields: str
    payload_body: str
    send: str
    test_url: str
    deliver_config: str
    sent_checks: str
    title_key: str


TEMPLATES: dict[str, PackageTemplate] = {
    "json": PackageTemplate(
        summary="POSTs each flag change its policy allows, as JSON, to a URL",
        description="POSTs each flag change as JSON to a URL.",
        url_field="url",
        config_rows=(
            "| `url` | yes | where to POST (https://; http:// and private addresses only with "
            "`GATEWAY_ALLOW_PRIVATE_TARGETS=1`) |\n"
            "| `token` | no | sent as `Authorization: Bearer <token>` |"),
        field_imports="    Secret,\n    TargetURL,",
        config_fields=(
            '    url = TargetURL(required=True, metadata={"description": "Where to POST each flag change (https://)."})\n'
            '    token = Secret(load_default=None, metadata={"description": "Sent as Authorization: Bearer <token>."})'),
        payload_body=(
            "    return {\n"
            '        "title": event.title,\n'
            '        "flag": event.flag_key,\n'
            '        "project": event.project_key,\n'
            '        "environment": event.environment_key,\n'
            '        "environments": event.environments,  # every environment the integration\'s policy allowed\n'
            '        "by": event.member.display_name if event.member else None,\n'
            '        "comment": event.comment,\n'
            '        "link": event.target_url,\n'
            '        "at": event.occurred_at.isoformat(),\n'
            "    }"),
        send=(
            '    if config.get("token"):\n'
            '        headers["Authorization"] = f"Bearer {config[\'token\']}"\n'
            '    response = http.post(config["url"], data=json.dumps(payload(event)).encode(), headers=headers)'),
        test_url="https://receiver.example.com/hook",
        deliver_config='{"url": URL, "token": "s3cret-token"}',
        sent_checks=(
            '    assert sent.json()["flag"] == "new-checkout"\n'
            '    assert sent.headers["Authorization"] == "Bearer s3cret-token"'),
        title_key="title",
    ),
    "chat": PackageTemplate(
        summary=("posts each flag change its policy allows to a chat channel's incoming webhook (a URL "
                 "that is itself the credential, kept as a secret)"),
        description="Posts each flag change to a chat channel through its incoming webhook.",
        url_field="webhook_url",
        config_rows=(
            "| `webhook_url` | yes | the channel's incoming-webhook URL (https://). It is a credential: stored "
            "encrypted, shown masked, removed from every recorded exchange |"),
        field_imports="    SecretURL,",
        config_fields=(
            "    webhook_url = SecretURL(required=True, metadata={\n"
            '        "description": "The channel\'s incoming-webhook URL (https://). It is a credential: kept secret."})'),
        payload_body=(
            "    who = event.member.display_name if event.member else \"someone\"\n"
            "    environments = \", \".join(event.environments)  # every one the integration's policy allowed\n"
            "    where = \"/\".join(key for key in (event.project_key, environments) if key)\n"
            "    lines = [f\"{event.title} (by {who}{', in ' + where if where else ''})\"]\n"
            "    if event.comment:\n"
            "        lines.append(f\"> {event.comment}\")\n"
            "    if event.target_url:\n"
            "        lines.append(event.target_url)\n"
            '    return {"text": "\\n".join(lines)}'),
        send='    response = http.post(config["webhook_url"], data=json.dumps(payload(event)).encode(), headers=headers)',
        test_url="https://chat.example.com/hooks/T000/B000/s3cretpath",
        deliver_config='{"webhook_url": URL}',
        sent_checks=(
            '    text = sent.json()["text"]\n'
            '    assert text.startswith(make_event(flag_key="new-checkout").title)'),
        title_key="text",
    ),
}
DEFAULT_TEMPLATE = "json"

FILES = {
    "pyproject.toml": PYPROJECT,
    ".gitignore": GITIGNORE,
    "setup.cfg": SETUP_CFG,
    "README.md": README,
    "{package}/__init__.py": '"""$title plugin for Flag Event Gateway."""\n',
    "{package}/plugin.py": PLUGIN,
    "{package}/py.typed": "",
    "tests/test_plugin.py": TESTS,
}


def names(name: str) -> tuple[str, str, str]:
    """(key, distribution, package) for a plugin called ``name``."""
    if not KEY_PATTERN.match(name):
        raise ScaffoldError(f"{name!r} cannot be a plugin name: use lowercase letters, digits, '-' and '_', "
                            "starting with a letter (it becomes the plugin's key and entry-point name)")
    return name, f"event-gateway-{name}", "gateway_" + name.replace("-", "_")


def render(name: str, template: str = DEFAULT_TEMPLATE) -> dict[str, str]:
    """The files of the package for ``name`` made with ``template`` (a key of :data:`TEMPLATES`):
    relative path -> text."""
    key, distribution, package = names(name)
    if template not in TEMPLATES:
        raise ScaffoldError(f"no template {template!r}: choose one of {', '.join(sorted(TEMPLATES))}")
    chosen = TEMPLATES[template]
    title = re.sub(r"[-_]+", " ", key).title()
    values = {"key": key, "distribution": distribution, "package": package, "title": title,
              "gateway_version": __version__,
              **dataclasses.asdict(chosen)}
    return {path.format(package=package): Template(text).substitute(values) for path, text in FILES.items()}


def write_package(name: str, directory: Path | None = None, template: str = DEFAULT_TEMPLATE) -> Written:
    """Write the package for ``name`` made with ``template`` into ``directory`` (default
    ``./event-gateway-NAME``), which must not exist or be empty."""
    key, distribution, package = names(name)
    files = render(name, template)
    target = (directory or Path(distribution)).resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not an empty folder: choose another --directory")
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Written(target, distribution, package, key, sorted(files))

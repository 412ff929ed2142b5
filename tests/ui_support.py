"""Helpers of the web UI's test-client tests: a plugin with a rich config schema, and a signed-in client."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from gateway import Delivered, Event, IntegrationType, Secret, TargetURL, hookimpl
from gateway.events import Access
from gateway.testing import wait_until

from .conftest import ADMIN_TOKEN
from .plugins_for_tests import ALLOW_ALL_FLAGS

REGIONS = [f"{area}_{n}" for area in ("EU", "US", "AP") for n in range(1, 8)] + ["LOCAL"]


class Target(Schema):
    name = fields.String(required=True, validate=validate.Length(min=2),
                         metadata={"description": "what to call it"})
    weight = fields.Integer(load_default=1)


class Options(Schema):
    retries = fields.Integer(load_default=3)


class FormsConfig(Schema):
    api_key = Secret(required=True, metadata={"description": "the service's key"})
    url = TargetURL(required=True, metadata={"title": "Service URL"})
    region = fields.String(load_default="EU_1", validate=validate.OneOf(REGIONS))
    verbose = fields.Boolean(load_default=False)
    tags = fields.List(fields.String(), load_default=list)
    targets = fields.List(fields.Nested(Target), required=True, validate=validate.Length(min=1))
    options = fields.Nested(Options, load_default=dict)
    note = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _names_once(self, data, **kwargs):
        seen, errors = set(), {}
        for index, target in enumerate(data.get("targets") or []):
            if target["name"] in seen:
                errors[index] = [f"the name {target['name']} is taken by an earlier target"]
            seen.add(target["name"])
        if errors:
            raise ValidationError(errors, field_name="targets")


class Forms:
    """A plugin whose config has every kind of field the UI generates inputs for."""

    def __init__(self):
        self.delivered: list[tuple[str, dict]] = []

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="forms", name="Forms", description="every kind of field",
                               config_schema=FormsConfig, default_policy=ALLOW_ALL_FLAGS)

    @hookimpl
    def deliver_event(self, event, config):
        self.delivered.append((event.source_id, config))
        return Delivered(f"sent with key ending {config['api_key'][-2:]}")

    @hookimpl
    def test_event(self, config, integration):
        return Event(source="forms", source_id="sample", kind="flag", occurred_at=datetime.now(timezone.utc),
                     title=f"[Test] sample for {integration.name}",
                     accesses=[Access("updateOn", "proj/p:env/e:flag/f")])


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class UiClient:
    """A Flask test client signed in to the UI; :meth:`post` adds the CSRF token of the session."""

    def __init__(self, client, token=ADMIN_TOKEN):
        self.client = client
        page = client.get("/ui/sign-in")
        response = client.post("/ui/sign-in", data={"csrf_token": CSRF.search(page.text).group(1),
                                                    "token": token})
        assert response.status_code == 302, response.text
        self.csrf = CSRF.search(client.get("/ui/").text).group(1)

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path, data=None, **kwargs):
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)


def field_error(html: str, path: str) -> list[str]:
    """The error messages shown beside the field at ``path``."""
    dom = "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", path)
    return [re.sub(r"&#39;", "'", m) for m in re.findall(rf'<p class="field-error" id="{re.escape(dom)}-error\d+">([^<]*)</p>', html)]


def checked(ui, page: str, done=lambda html: "Checked " in html) -> str:
    """The page once the background checks it started have stored their result."""
    pages = []

    def ready() -> bool:
        pages.append(ui.get(page).text)
        return done(pages[-1])

    wait_until(ready, 10, 0.05, "the checks")
    return pages[-1]

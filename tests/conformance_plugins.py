"""Plugins that break one rule each, for the conformance check's tests."""

from __future__ import annotations

from marshmallow import Schema, fields

from gateway import (
    Access,
    Delivered,
    Event,
    Failed,
    IntegrationType,
    RetryLater,
    Secret,
    TargetURL,
    hookimpl,
)
from gateway.testing import make_event

ALLOW_PRODUCTION = [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]


class UrlAndToken(Schema):
    url = TargetURL(required=True, metadata={"description": "where"})
    token = Secret(required=True, metadata={"description": "credential"})


class Base:
    """Sends to the configured URL; answers as a well-behaved plugin would."""

    key = "base"
    schema: type[Schema] = UrlAndToken

    @hookimpl
    def integration_type(self):
        return IntegrationType(key=self.key, name=self.key.title(), description=f"the {self.key} plugin",
                               config_schema=self.schema, default_policy=ALLOW_PRODUCTION)

    @hookimpl
    def deliver_event(self, event, config, http, delivery):
        response = http.post(config["url"], json={"flag": event.flag_key},
                             headers={"Authorization": f"Bearer {config['token']}"})
        return self.read(response)

    def read(self, response):
        if response.ok:
            return Delivered("ok")
        if response.is_retryable:
            return RetryLater(f"answered {response.status_code}", after=response.retry_after)
        return Failed(f"answered {response.status_code}")

    @hookimpl
    def test_event(self, integration):
        return make_event(source="test", title="[Test] sample")


class AlwaysDelivered(Base):
    key = "always-delivered"

    def read(self, response):
        return Delivered(f"answered {response.status_code}")


class IgnoresRetryAfter(Base):
    key = "ignores-retry-after"

    def read(self, response):
        if response.ok:
            return Delivered("ok")
        if response.is_retryable:
            return RetryLater(f"answered {response.status_code}")
        return Failed(f"answered {response.status_code}")


class LeaksInDetails(Base):
    key = "leaks"

    def deliver_event(self, event, config, http, delivery):  # replaced below, marked
        raise NotImplementedError


@hookimpl(specname="deliver_event")
def _leaky_deliver(self, event, config, http, delivery):
    http.post(config["url"], json={})
    return Delivered("ok", details={"sent_with": config["token"]})


LeaksInDetails.deliver_event = _leaky_deliver  # type: ignore[method-assign]


class StagingTestEvent(Base):
    key = "staging-test-event"

    @hookimpl
    def test_event(self, integration):
        return make_event(source="test", environment_key="staging")


class SendsNowhere(Base):
    key = "sends-nowhere"

    @hookimpl
    def deliver_event(self, event, config, http, delivery):
        return Delivered("pretended")


class PlainToken(Schema):
    url = TargetURL(required=True, metadata={"description": "where"})
    api_token = fields.String(required=True, metadata={"description": "credential, not declared secret"})


class CredentialNotSecret(Base):
    key = "plain-token"
    schema = PlainToken


class Inner(Schema):
    password = Secret(required=True)


class NestedSecretSchema(Schema):
    url = TargetURL(required=True, metadata={"description": "where"})
    token = Secret(required=True, metadata={"description": "credential"})
    accounts = fields.List(fields.Nested(Inner), load_default=list, metadata={"description": "accounts"})


class NestedSecret(Base):
    key = "nested-secret"
    schema = NestedSecretSchema


class UnmarkedCheck(Base):
    key = "unmarked"

    def check_event(self, event):  # forgot @hookimpl
        return None


class NeedsAField(Schema):
    url = TargetURL(required=True, metadata={"description": "where"})
    token = Secret(required=True, metadata={"description": "credential"})
    channel = fields.String(required=True, metadata={"description": "where in the tool"})


class NeedsConfig(Base):
    key = "needs-config"
    schema = NeedsAField


def sample_event() -> Event:
    return make_event(accesses=[Access("updateOn", "proj/p:env/production:flag/f")])


# module-level instances, for `event-gateway plugins check tests.conformance_plugins:NAME`
ALWAYS_DELIVERED = AlwaysDelivered()
NEEDS_CONFIG = NeedsConfig()


class WrongTypes(Base):
    key = "wrong-types"

    @hookimpl
    def deliver_event(self, event: Event, config: dict, http: "requests.Session", delivery) -> str:  # type: ignore[name-defined]
        return "sent"


import requests  # noqa: E402  (resolves the annotation above)

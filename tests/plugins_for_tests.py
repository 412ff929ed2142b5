"""Plugins the tests register directly (a fresh plugin manager per test), good and broken ones."""

from __future__ import annotations

from marshmallow import Schema, fields

from gateway import (
    Cooldown,
    Delivered,
    Failed,
    IntegrationType,
    Secret,
    Rejected,
    Skip,
    StatusCheck,
    Take,
    TargetURL,
    hookimpl,
)

ALLOW_ALL_FLAGS = [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}]


class RecorderConfig(Schema):
    token = Secret(required=True, metadata={"description": "a credential"})
    url = TargetURL(load_default=None)
    label = fields.String(load_default="default")


class Recorder:
    """Takes every flag event its policy allows; delivering records the event."""

    def __init__(self, key="recorder"):
        self.key = key
        self.delivered = []
        self.checked = []

    @hookimpl
    def integration_type(self):
        return IntegrationType(key=self.key, name="Recorder", description="records events",
                               config_schema=RecorderConfig, default_policy=ALLOW_ALL_FLAGS)

    @hookimpl
    def check_event(self, event, config):
        self.checked.append((event.source_id, config["token"]))
        return Take()

    @hookimpl
    def deliver_event(self, event, config, http, delivery):
        self.delivered.append(event.source_id)
        return Delivered("recorded")


class CoolingConfig(Schema):
    seconds = fields.Raw(load_default=600)
    bad = fields.String(load_default=None)  # "type": a cooldown that is not a Cooldown; "key": an empty key
    shared = fields.Boolean(load_default=False)  # the cooldown is held across integrations
    fail = fields.Boolean(load_default=False)  # every delivery fails for good


class Cooling:
    """Takes every flag event with a cooldown per flag (``seconds`` from its config)."""

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="cooling", name="Cooling", description="acts on a flag at most once per cooldown",
                               config_schema=CoolingConfig, default_policy=ALLOW_ALL_FLAGS)

    @hookimpl
    def check_event(self, event, config):
        if config["bad"] == "type":
            return Take(cooldown={"key": "k"})
        key = "" if config["bad"] == "key" else f"proj/{event.project_key}:flag/{event.flag_key}:off"
        return Take(cooldown=Cooldown(key, config["seconds"], f"turning flag {event.flag_key!r} off",
                                      shared=config["shared"]))

    @hookimpl
    def deliver_event(self, event, config):
        return Failed("the action was refused") if config["fail"] else Delivered("acted")


class PickyConfig(Schema):
    wanted_tag = fields.String(required=True)


class Picky:
    """Takes only flags carrying its configured tag; says how to fix it otherwise."""

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="picky", name="Picky", description="wants a tag",
                               config_schema=PickyConfig, default_policy=ALLOW_ALL_FLAGS)

    @hookimpl
    def check_event(self, event, config):
        if config["wanted_tag"] in event.flag_tags:
            return Take()
        return Skip(f"the flag has no tag {config['wanted_tag']!r}; add it to the flag")

    @hookimpl
    def deliver_event(self, event, config, http, delivery):
        return Failed("not used")

    @hookimpl
    def integration_status(self, config):
        if config["wanted_tag"] == "missing":
            return [StatusCheck("tag", "error", "the tag 'missing' is not set up", action="set_up",
                                action_params={"tag": "missing"})]
        return [StatusCheck("tag", "ok", f"tag {config['wanted_tag']!r} is set up")]

    @hookimpl
    def integration_action(self, action, params):
        if action == "explode":
            raise RuntimeError("the action broke")
        if action != "set_up":
            raise Rejected(404, f"unknown action {action!r}")
        return f"set up tag {params['tag']!r}"


class Exploding:
    """Its policy hook raises: it must not disturb the other plugins."""

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="exploding", name="Exploding", description="raises",
                               config_schema=Schema, default_policy=ALLOW_ALL_FLAGS)

    @hookimpl
    def check_event(self, event):
        raise RuntimeError("boom in check_event")

    @hookimpl
    def deliver_event(self, event):
        raise RuntimeError("boom in deliver_event")

    @hookimpl
    def integration_status(self):
        raise KeyError("boom in integration_status")


# Broken plugins: each must be refused with a message naming it, the others still load.

class NotASchema:
    @hookimpl
    def integration_type(self):
        return IntegrationType(key="not-a-schema", name="x", description="x", config_schema=dict)

    @hookimpl
    def deliver_event(self, event):
        return Delivered()


class BadPolicy:
    @hookimpl
    def integration_type(self):
        return IntegrationType(key="bad-policy", name="x", description="x", config_schema=Schema,
                               default_policy=[{"effect": "allow", "resources": ["flg/*"], "actions": ["*"]}])

    @hookimpl
    def deliver_event(self, event):
        return Delivered()


class MisspelledHook:
    @hookimpl
    def integration_type(self):
        return IntegrationType(key="misspelled", name="x", description="x", config_schema=Schema)

    @hookimpl
    def deliver_event(self, event):
        return Delivered()

    @hookimpl
    def check_evnt(self, event):
        return Take()


class WrongArgument:
    @hookimpl
    def integration_type(self):
        return IntegrationType(key="wrong-arg", name="x", description="x", config_schema=Schema)

    @hookimpl
    def deliver_event(self, event, settings):
        return Delivered()


class NoDelivery:
    @hookimpl
    def integration_type(self):
        return IntegrationType(key="no-delivery", name="x", description="x", config_schema=Schema)


class RaisingDeclaration:
    @hookimpl
    def integration_type(self):
        raise ValueError("cannot declare")

    @hookimpl
    def deliver_event(self, event):
        return Delivered()


class BadKey:
    @hookimpl
    def integration_type(self):
        return IntegrationType(key="Bad Key!", name="x", description="x", config_schema=Schema)

    @hookimpl
    def deliver_event(self, event):
        return Delivered()


class InboxConfig(Schema):
    signing_secret = Secret(required=True)


class Inbox:
    """Receives its own webhooks: verifies a signature, returns one event per item."""

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="inbox", name="Inbox", description="inbound webhooks",
                               config_schema=InboxConfig, default_policy=[], sources=())

    @hookimpl
    def receive_webhook(self, request, config):
        from datetime import datetime, timezone

        from gateway import Event, Received, Rejected, verify_hmac_sha256

        if not verify_hmac_sha256(config["signing_secret"], request.body, request.header("X-Signature")):
            raise Rejected(401, "bad or missing X-Signature")
        body = request.json()
        if body.get("type") == "ping":
            return Received(message="pong")
        if body.get("type") != "items":
            return Received(ignored=f"type {body.get('type')!r} is not handled")
        return Received(events=[
            Event(source="inbox", source_id=str(item["id"]), kind="item",
                  occurred_at=datetime.now(timezone.utc), title=item.get("title", ""), data=item)
            for item in body["items"]
        ])

    @hookimpl
    def check_event(self, event):
        if event.data.get("wanted"):
            return Take()
        return Skip("the item is not wanted")

    @hookimpl
    def deliver_event(self, event):
        return Delivered()


class Leaky:
    """Its hooks raise with the integration's secret in the message: the gateway must not repeat it."""

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="leaky", name="Leaky", description="raises with its secret",
                               config_schema=RecorderConfig, default_policy=ALLOW_ALL_FLAGS)

    @hookimpl
    def check_event(self, event, config):
        raise ValueError(f"cannot use token {config['token']}")

    @hookimpl
    def deliver_event(self, event, config):
        raise ValueError(f"cannot use token {config['token']}")


class RehearsalConfig(Schema):
    dry_run = fields.Boolean(load_default=True)
    cooldown_seconds = fields.Float(load_default=None)


class Rehearsal:
    """Acts on flags, like a flag action: in dry run it skips with a skip no person may override, and
    its policy may not be overridden either; delivering records the event."""

    def __init__(self):
        self.delivered = []

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="rehearsal", name="Rehearsal", description="acts on flags, or rehearses",
                               config_schema=RehearsalConfig, default_policy=ALLOW_ALL_FLAGS,
                               policy_overridable=False)

    @hookimpl
    def check_event(self, event, config):
        if config["dry_run"]:
            return Skip(f"dry run: would act on flag {event.flag_key!r}", overridable=False)
        if config["cooldown_seconds"]:
            return Take(cooldown=Cooldown(f"flag/{event.flag_key}", config["cooldown_seconds"],
                                          f"acting on flag {event.flag_key!r}"))
        return Take()

    @hookimpl
    def deliver_event(self, event):
        self.delivered.append(event.source_id)
        return Delivered("acted")

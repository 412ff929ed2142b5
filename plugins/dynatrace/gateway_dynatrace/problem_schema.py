"""The config of the ``dynatrace-problems`` integration: the shared secret, the guard rails and the rules."""

from __future__ import annotations

import re
from typing import Any

import requests
from gateway import Secret, TargetURL
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from .problem_rules import GLOB, REGEX, SEVERITIES, TriggerError, compile_title_pattern, parse_triggers

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
KEY_MESSAGE = "a key: letters, digits, '.', '_' and '-', starting with a letter or digit"
MAX_RULES = 100
MAX_COOLDOWN_SECONDS = 7 * 24 * 3600


def _key(description: str) -> fields.String:
    return fields.String(required=True, validate=[validate.Length(min=1, max=256),
                                                  validate.Regexp(KEY_PATTERN, error=KEY_MESSAGE)],
                         metadata={"description": description})


def _trigger_name(description: str) -> fields.String:
    return fields.String(load_default=None, allow_none=True,
                         validate=validate.Regexp(r"^[A-Za-z0-9_.-]+$", error="a name listed in trigger_urls"),
                         metadata={"description": description})


class RuleSchema(Schema):
    """One rule: which problems it matches, and the flag it turns off."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"description": "The rule's name, shown in every decision it makes."})
    severities = fields.List(fields.String(validate=validate.OneOf(SEVERITIES)), load_default=list,
                             validate=validate.Length(max=len(SEVERITIES)),
                             metadata={"description": "Match problems of these severities ({ProblemSeverity}); "
                                                      "empty: any severity."})
    title_pattern = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500),
                                  metadata={"description": "Match problems whose title matches this pattern; "
                                                           "empty: any title."})
    title_pattern_syntax = fields.String(load_default=GLOB, validate=validate.OneOf((GLOB, REGEX)),
                                         metadata={"description": "glob (* and ?, whole title, any case) or "
                                                                  "regex (searched in the title)."})
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=256)), load_default=list,
                       validate=validate.Length(max=50),
                       metadata={"description": "Tags the impacted entities must all carry ({Tags}): "
                                                "key:value, or key for any value."})
    management_zones = fields.List(fields.String(validate=validate.Length(min=1, max=256)), load_default=list,
                                   validate=validate.Length(max=50),
                                   metadata={"description": "Match problems in at least one of these management "
                                                            "zones; empty: any zone."})
    project_key = _key("The flag platform project of the flag.")
    environment_key = _key("The environment in which the flag is turned off.")
    flag_key = _key("The flag to turn off while the problem is open.")
    turn_on_when_resolved = fields.Boolean(load_default=False,
                                           metadata={"description": "Turn the flag back on when Dynatrace "
                                                                    "reports the problem RESOLVED."})
    trigger = _trigger_name("Turn the flag off through this flag trigger (a name in trigger_urls) instead "
                            "of the flag platform's API.")
    resolve_trigger = _trigger_name("Turn the flag back on through this flag trigger (a name in "
                                    "trigger_urls); without it, through the API.")

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        pattern = data.get("title_pattern")
        if pattern and data.get("title_pattern_syntax") == REGEX:
            try:
                compile_title_pattern(pattern, REGEX)
            except re.error as exc:
                raise ValidationError(f"not a valid regular expression: {exc}", "title_pattern") from None
        if data.get("resolve_trigger") and not data.get("turn_on_when_resolved"):
            raise ValidationError("a resolve_trigger is used only with turn_on_when_resolved: set it to true, "
                                  "or leave resolve_trigger out", "resolve_trigger")


class ProblemsConfigSchema(Schema):
    """The ``dynatrace-problems`` integration's config."""

    shared_secret = Secret(
        required=True, min_length=16, validate=validate.Length(min=16, max=256),
        metadata={"description": "The value Dynatrace sends in the X-Flag-Gateway-Secret header (at least 16 "
                                 "characters; make it random)."})
    trigger_urls = Secret(
        load_default=None, allow_none=True, validate=validate.Length(max=20000),
        metadata={"description": "Flag trigger URLs rules may use instead of the API, as name=URL entries "
                                 "separated by spaces. Kept secret: a trigger URL is a credential."})
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "Record what each rule would do, and change no flag."})
    cooldown_seconds = fields.Integer(
        load_default=600, validate=validate.Range(min=0, max=MAX_COOLDOWN_SECONDS),
        metadata={"description": "After a flag is turned off (or on), the same action on the same flag is "
                                 "skipped for this many seconds; 0: no cooldown."})
    rules = fields.List(
        fields.Nested(RuleSchema), required=True, validate=validate.Length(min=1, max=MAX_RULES),
        metadata={"description": "Tried in order; the first rule that matches a problem decides."})

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        names = [rule["name"] for rule in data.get("rules") or []]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValidationError(f"rule names must differ; given more than once: {', '.join(repeated)}", "rules")
        try:
            triggers = parse_triggers(data.get("trigger_urls"))
        except TriggerError as exc:
            raise ValidationError(str(exc), "trigger_urls") from None
        for name, url in triggers.items():
            if not url.lower().startswith(("https://", "http://")):
                raise ValidationError(f"trigger {name!r} is not an http(s) URL", "trigger_urls")
            try:  # as every TargetURL: a host name is resolved when the config is saved, not when it loads
                TargetURL().deserialize(url)
            except ValidationError as exc:
                raise ValidationError(f"trigger {name!r}: {_without_url(exc, url)}", "trigger_urls") from None
        errors: dict[int, dict[str, list[str]]] = {}
        for index, rule in enumerate(data.get("rules") or []):
            for field in ("trigger", "resolve_trigger"):
                if rule.get(field) and rule[field] not in triggers:
                    errors.setdefault(index, {})[field] = [f"no trigger named {rule[field]!r} in trigger_urls"]
        if errors:
            raise ValidationError({"rules": errors})

    @post_load
    def _normalize(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        triggers = parse_triggers(data.get("trigger_urls"))
        if triggers:
            data["trigger_urls"] = " ".join(f"{name}={as_sent(url)}" for name, url in triggers.items())
        return data


def _without_url(error: ValidationError, url: str) -> str:
    """The guard's message with the trigger URL (a credential) left out: it is logged and answered
    whenever a stored config can no longer be used."""
    message = " ".join(str(m) for m in error.messages) if isinstance(error.messages, list) else str(error.messages)
    for form in sorted({repr(url), url, repr(as_sent(url)), as_sent(url)}, key=len, reverse=True):
        message = message.replace(form, "the URL")
    return message


def as_sent(url: str) -> str:
    """``url`` in the form the HTTP client sends it, so that the recorded request is cleaned of it."""
    return requests.Request("POST", url).prepare().url or url

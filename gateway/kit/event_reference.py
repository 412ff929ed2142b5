"""The ``Event`` reference (docs/event-reference.md), generated from the event model: every field,
its type, whether it may be missing, and what it means. ``python -m gateway.kit.event_reference``
writes it; a test fails when the document and the code disagree, or a field has no description."""

from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path

from gateway.events import Access, CustomProperty, Event, Member

MEANINGS: dict[type, dict[str, str]] = {
    Event: {
        "source": "Where the event came from: `launchdarkly` for the flag platform's webhook, `test` for a test event, or the key of the plugin whose `receive_webhook` made it.",
        "source_id": "The id the source gave the event (the audit-log entry's `_id`); a second event with the same source and id is a duplicate.",
        "kind": "What changed: the audit-log entry's `kind` (`flag`, `environment`, `project`, `segment`, ...), `unknown` when it has none; for other sources, what the plugin says.",
        "occurred_at": "When the change happened (timezone-aware, UTC; the entry's `date`, or the time it arrived when it has none). `occurred_at_ms` gives milliseconds since the epoch.",
        "title": "The entry's `title` as plain text, Markdown links and emphasis removed (\"Ada Lovelace turned on the flag New checkout flow in Production\").",
        "id": "The gateway's id of the stored event (set when a hook gets a stored event, as `deliver_event` does); None before it is stored.",
        "accesses": "Each action on each resource the change made (`updateOn` on `proj/p:env/e:flag/f`): what the integration's policy is applied to. Empty for other sources.",
        "project_key": "The project's key, from the resource of the accesses (`proj/<key>`). A key, not a display name.",
        "environment_key": "The environment's key (`env/<key>`): a key such as `production`, not its display name (\"Production\"). `*` or `~` for a change to every environment. When the change was made in several environments, the first one the integration's policy allowed (all of them are in `environments`).",
        "flag_key": "The flag's key (`flag/<key>`); None when the change is not to a flag.",
        "name": "The display name of what changed (the entry's `name`: the flag's name for a flag change).",
        "title_verb": "The entry's `titleVerb`: what was done, in words (\"turned on the flag\").",
        "description": "The entry's `description` (Markdown, as sent: the changes in detail).",
        "comment": "The comment the person left with the change.",
        "member": "Who made the change (see Member); None for changes by an access token or the system.",
        "target_url": "A link to what changed in the flag platform's UI, from the entry's title (the link whose text is the entry's name, else the last one).",
        "flag_tags": "The flag's tags (`currentVersion.tags`), for flag changes.",
        "custom_properties": "The flag's custom properties by key (`currentVersion.customProperties`), for flag changes; `custom_property_values(key)` gives one's values.",
        "scope_tags": "Tags by resource type (`flag`, `env`, `proj`, ...), from the changed item and from the `;tags` of the accesses' resources: what policy `tags` conditions match.",
        "scope_attributes": "Plain attributes (strings, numbers, booleans) of the changed item by resource type, from `currentVersion`: what policy attribute conditions match.",
        "data": "What another source's event carries (a Sentry error, for one); empty for flag-platform events.",
        "project_name": "The project's display name, read from the flag platform's API when the gateway is connected to it (`event-gateway connect launchdarkly`); filled in by the delivery worker before `deliver_event`. None without a connection, or when the API could not say (see `names_unavailable`).",
        "environment_name": "The display name (\"Production\") of `environment_key`'s environment, read like `project_name`, or without a connection from the webhook (see `environment_names`); None when unknown.",
        "names_unavailable": "Why a name is missing: `project_name` (no connection, the API down, an unknown project) or the name of an environment in `environments` that neither the API nor the webhook gives; None when every name was found. The event is delivered all the same.",
        "received_via": "How the gateway got the event: `webhook` (it was sent to the gateway), or `catch-up` (the webhook did not arrive, and the gateway found the change in the flag platform's audit log when it reconciled; `occurred_at` is still when the change happened). Events stored before this field existed read as `webhook`.",
        "raw": "The payload exactly as it was decoded (the audit-log entry). Do not rely on it where a field above says the same.",
        "environments": "The keys of the environments the change was made in (`env/<key>` of the accesses, in their order, each once; `*` or `~` for a change to every environment, see `every_environment`). For an event handed to an integration's plugin (`check_event`, `deliver_event`) only those the integration's policy allowed: a change to `test` and `production` reaches a production-only integration with `[\"production\"]`, and `environment_key` is then the first of them. Empty for other sources.",
        "environment_names": "Display names of the environments in `environments` by key: from the flag platform's API when connected, else from the webhook itself (`currentVersion.environments.<key>._environmentName`, flag changes only). A key without a known name is missing, and `names_unavailable` names it.",
    },
    Access: {
        "action": "The flag platform's action (`updateOn`, `updateRules`, `createFlag`, ...).",
        "resource": "The resource it acted on: `proj/<project>:env/<environment>:flag/<flag>`, each part possibly with `;tag,tag`.",
    },
    Member: {
        "id": "The member's id in the flag platform.",
        "email": "The member's e-mail address.",
        "first_name": "First name.",
        "last_name": "Last name.",
    },
    CustomProperty: {
        "name": "The property's display name (\"Dynatrace tags\").",
        "values": "Its values, as strings.",
    },
}

INTRO = """\
# The `Event` reference

Generated from `gateway/events.py` by `python -m gateway.kit.event_reference`; a test keeps it equal
to the code. What a hook gets as `event` (`check_event`, `deliver_event`) and what `test_event` and
`receive_webhook` return. Build one in a test with `gateway.testing.make_event(...)`, or from a
flag-platform webhook body with `gateway.testing.parse_flag_webhook(body)`, which reads it exactly as
the gateway does.

"May be missing" says what a field holds when the event does not carry it: `None`, an empty list
or mapping, or an empty string. Flag-platform events fill the flag fields as far as the audit-log
entry carries them; other sources leave them empty and use `data`.
"""


def _type(annotation: object) -> str:
    text = annotation if isinstance(annotation, str) else typing._type_repr(annotation)  # type: ignore[attr-defined]
    return text.replace("typing.", "").replace("datetime.datetime", "datetime").replace("gateway.events.", "")


def _missing(field: dataclasses.Field, type_text: str) -> str:
    if field.default is None:
        return "None"
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return "empty " + ("list" if type_text.startswith(("list", "tuple")) else "mapping")
    if field.default == "":
        return "empty string"
    if field.default == ():
        return "empty"
    return "never"


def table(cls: type) -> str:
    hints = typing.get_type_hints(cls)
    meanings = MEANINGS[cls]
    lines = ["| field | type | may be missing | meaning |", "| --- | --- | --- | --- |"]
    for field in dataclasses.fields(cls):
        type_text = _type(hints[field.name])
        shown = type_text.replace("|", "\\|")  # a table cell
        lines.append(f"| `{field.name}` | `{shown}` | {_missing(field, type_text)} | {meanings[field.name]} |")
    return "\n".join(lines)


def undocumented() -> list[str]:
    """Fields without a meaning, and meanings of fields that do not exist."""
    problems = []
    for cls, meanings in MEANINGS.items():
        names = {f.name for f in dataclasses.fields(cls)}
        problems += [f"{cls.__name__}.{n} has no meaning in MEANINGS" for n in sorted(names - set(meanings))]
        problems += [f"{cls.__name__}.{n} is in MEANINGS but not a field" for n in sorted(set(meanings) - names)]
    return problems


def render() -> str:
    parts = [INTRO, "## Event\n", table(Event), "",
             "Helpers: `occurred_at_ms` (int, milliseconds since the epoch), `custom_property_values(key)` "
             "(list of str, empty when the flag has no such property), `every_environment` (bool: an "
             "environment key in `environments` is `*` or `~`, a change to every environment of the project), "
             "`to_dict(include_raw=True)` and `Event.from_dict(data)`.\n",
             "## Access\n", table(Access), "", "## Member\n", table(Member), "",
             "`display_name`: the full name when known, else the e-mail address, else an empty string.\n",
             "## CustomProperty\n", table(CustomProperty), ""]
    return "\n".join(parts)


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "docs" / "event-reference.md"
    target.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()

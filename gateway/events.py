"""The normalized event: what every source turns an incoming webhook into."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


EVERY_ENVIRONMENT = frozenset({"*", "~"})
"""Environment keys of an access that mean every environment of the project."""


@dataclass(frozen=True)
class Access:
    """One action on one resource, as the flag platform lists it (``updateOn`` on ``proj/p:env/e:flag/f``)."""

    action: str
    resource: str


@dataclass(frozen=True)
class Member:
    """The person (or token) who made the change."""

    id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @property
    def display_name(self) -> str:
        """Full name when known, else the e-mail address, else an empty string."""
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return name or self.email or ""


@dataclass(frozen=True)
class CustomProperty:
    """A flag custom property: a display name and its values."""

    name: str
    values: tuple[str, ...] = ()


@dataclass
class Event:
    """A normalized event.

    ``source`` names where it came from (``launchdarkly``, or the key of the plugin whose receive hook
    produced it) and ``source_id`` is the id the source gave it, used to recognise duplicates.
    Flag-platform events fill the flag fields; other sources leave them empty and put what they carry
    in ``data``. ``raw`` is the payload exactly as it was decoded.

    ``project_name`` and ``environment_name`` (and ``name``, the flag's name, when the payload has
    none) come from the flag platform's API through the gateway's connection, filled in before the
    event is handed to ``deliver_event``. When they could not be read (no connection, the API down,
    an unknown project) they are None and ``names_unavailable`` says why; the event is sent all the same.

    ``environments`` lists the keys of the environments the change touched, and for an event handed
    to an integration's plugin, only those the integration's policy allowed (``environment_key`` is
    then the first of them); ``environment_names`` gives their display names where known.
    """

    source: str
    source_id: str
    kind: str
    occurred_at: datetime
    title: str = ""
    id: str | None = None
    accesses: list[Access] = field(default_factory=list)
    project_key: str | None = None
    environment_key: str | None = None
    flag_key: str | None = None
    name: str | None = None
    title_verb: str | None = None
    description: str | None = None
    comment: str | None = None
    member: Member | None = None
    target_url: str | None = None
    flag_tags: list[str] = field(default_factory=list)
    custom_properties: dict[str, CustomProperty] = field(default_factory=dict)
    scope_tags: dict[str, list[str]] = field(default_factory=dict)
    scope_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    project_name: str | None = None
    environment_name: str | None = None
    names_unavailable: str | None = None
    received_via: str = "webhook"
    raw: Any = None
    environments: list[str] = field(default_factory=list)
    environment_names: dict[str, str] = field(default_factory=dict)

    @property
    def every_environment(self) -> bool:
        """Whether the change is to every environment of the project (an access on ``env/*``)."""
        return any(key in EVERY_ENVIRONMENT for key in self.environments)

    @property
    def occurred_at_ms(self) -> int:
        """The time of the change in milliseconds since the epoch."""
        return int(self.occurred_at.timestamp() * 1000)

    def custom_property_values(self, key: str) -> list[str]:
        """Values of the flag custom property ``key`` (empty when the flag has none)."""
        prop = self.custom_properties.get(key)
        return list(prop.values) if prop else []

    def to_dict(self, *, include_raw: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reads it back."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in _FIELDS}
        out["occurred_at"] = self.occurred_at.astimezone(timezone.utc).isoformat()
        out["accesses"] = [{"action": a.action, "resource": a.resource} for a in self.accesses]
        member = self.member
        out["member"] = {f.name: getattr(member, f.name) for f in _MEMBER_FIELDS} if member else None
        out["custom_properties"] = {
            key: {"name": prop.name, "values": list(prop.values)}
            for key, prop in self.custom_properties.items()
        }
        out["flag_tags"] = list(self.flag_tags)
        out["scope_tags"] = {k: list(v) for k, v in self.scope_tags.items()}
        out["scope_attributes"] = {k: dict(v) for k, v in self.scope_attributes.items()}
        out["data"] = dict(self.data)
        out["environments"] = list(self.environments)
        out["environment_names"] = dict(self.environment_names)
        if not include_raw:
            out.pop("raw")
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Rebuild an event written by :meth:`to_dict`."""
        values = dict(data)
        values["occurred_at"] = datetime.fromisoformat(values["occurred_at"])
        values["accesses"] = [Access(**a) for a in values.get("accesses") or []]
        member = values.get("member")
        values["member"] = Member(**member) if member else None
        values["custom_properties"] = {
            key: CustomProperty(prop["name"], tuple(prop.get("values") or ()))
            for key, prop in (values.get("custom_properties") or {}).items()
        }
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


_FIELDS = dataclasses.fields(Event)
_MEMBER_FIELDS = dataclasses.fields(Member)  # flat strings: no deep copy needed (dataclasses.asdict's)

"""The integration's config: its marshmallow schema, the values it offers, and typed access to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway import Secret, TargetURL
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from .limits import SELECTOR_MAX_CHARS
from .selector import SelectorTooLong, entity_selector
from .tags import clean_tag, tag_problem

ENTITY_TYPES: tuple[str, ...] = (
    "APPLICATION",
    "APPLICATION_METHOD",
    "APPLICATION_METHOD_GROUP",
    "AUTO_SCALING_GROUP",
    "AUXILIARY_SYNTHETIC_TEST",
    "AWS_APPLICATION_LOAD_BALANCER",
    "AWS_AVAILABILITY_ZONE",
    "AWS_CREDENTIALS",
    "AWS_LAMBDA_FUNCTION",
    "AWS_NETWORK_LOAD_BALANCER",
    "AZURE_API_MANAGEMENT_SERVICE",
    "AZURE_APPLICATION_GATEWAY",
    "AZURE_COSMOS_DB",
    "AZURE_CREDENTIALS",
    "AZURE_EVENT_HUB",
    "AZURE_EVENT_HUB_NAMESPACE",
    "AZURE_FUNCTION_APP",
    "AZURE_IOT_HUB",
    "AZURE_LOAD_BALANCER",
    "AZURE_MGMT_GROUP",
    "AZURE_REDIS_CACHE",
    "AZURE_REGION",
    "AZURE_SERVICE_BUS_NAMESPACE",
    "AZURE_SERVICE_BUS_QUEUE",
    "AZURE_SERVICE_BUS_TOPIC",
    "AZURE_SQL_DATABASE",
    "AZURE_SQL_ELASTIC_POOL",
    "AZURE_SQL_SERVER",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_SUBSCRIPTION",
    "AZURE_TENANT",
    "AZURE_VM",
    "AZURE_VM_SCALE_SET",
    "AZURE_WEB_APP",
    "CF_APPLICATION",
    "CF_FOUNDATION",
    "CINDER_VOLUME",
    "CLOUD_APPLICATION",
    "CLOUD_APPLICATION_INSTANCE",
    "CLOUD_APPLICATION_NAMESPACE",
    "CONTAINER_GROUP",
    "CONTAINER_GROUP_INSTANCE",
    "CUSTOM_APPLICATION",
    "CUSTOM_DEVICE",
    "CUSTOM_DEVICE_GROUP",
    "DCRUM_APPLICATION",
    "DCRUM_SERVICE",
    "DCRUM_SERVICE_INSTANCE",
    "DEVICE_APPLICATION_METHOD",
    "DISK",
    "DOCKER_CONTAINER_GROUP_INSTANCE",
    "DYNAMO_DB_TABLE",
    "EBS_VOLUME",
    "EC2_INSTANCE",
    "ELASTIC_LOAD_BALANCER",
    "ENVIRONMENT",
    "EXTERNAL_SYNTHETIC_TEST_STEP",
    "GCP_ZONE",
    "GEOLOCATION",
    "GEOLOC_SITE",
    "GOOGLE_COMPUTE_ENGINE",
    "HOST",
    "HOST_GROUP",
    "HTTP_CHECK",
    "HTTP_CHECK_STEP",
    "HYPERVISOR",
    "KUBERNETES_CLUSTER",
    "KUBERNETES_NODE",
    "MOBILE_APPLICATION",
    "NETWORK_INTERFACE",
    "NEUTRON_SUBNET",
    "OPENSTACK_PROJECT",
    "OPENSTACK_REGION",
    "OPENSTACK_VM",
    "OS",
    "PROCESS_GROUP",
    "PROCESS_GROUP_INSTANCE",
    "RELATIONAL_DATABASE_SERVICE",
    "SERVICE",
    "SERVICE_INSTANCE",
    "SERVICE_METHOD",
    "SERVICE_METHOD_GROUP",
    "SWIFT_CONTAINER",
    "SYNTHETIC_LOCATION",
    "SYNTHETIC_TEST",
    "SYNTHETIC_TEST_STEP",
    "VIRTUALMACHINE",
    "VMWARE_DATACENTER",
)
"""The monitored entity types (Dynatrace ``meType``) the hosted LaunchDarkly integration offers."""

API_VERSIONS = ("auto", "v2", "v1")
EVENT_TYPES = ("CUSTOM_CONFIGURATION", "CUSTOM_DEPLOYMENT", "CUSTOM_INFO", "CUSTOM_ANNOTATION")
V1_EVENT_TYPE = "CUSTOM_CONFIGURATION"

DEFAULT_ENTITY_TYPE = "APPLICATION"
DEFAULT_API_VERSION = "auto"
DEFAULT_EVENT_TYPE = "CUSTOM_CONFIGURATION"

URL_FORMS = "https://<env-id>.live.dynatrace.com (SaaS) or https://<host>/e/<env-id> (Managed or ActiveGate)"


def environment_base_url(url: str) -> str:
    """The environment's base URL from what an operator entered: trailing slashes removed.

    Raises :class:`marshmallow.ValidationError` for a URL into the API (``.../api/...``), with a query
    or fragment, or on the ``apps.dynatrace.com`` platform host, saying what to enter instead.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if parts.query or parts.fragment:
        raise ValidationError(f"enter the environment's base URL without ?query or #fragment: {URL_FORMS}")
    segments = path.split("/")
    lowered = [segment.lower() for segment in segments]
    if "api" in lowered:
        base = "/".join(segments[: lowered.index("api")])
        suggestion = urlunsplit((parts.scheme, parts.netloc, base, "", ""))
        raise ValidationError(
            f"enter the environment's base URL, without /api: here {suggestion} (it looks like "
            f"{URL_FORMS}; the gateway adds /api/v2/events/ingest or /api/v1/events itself)"
        )
    host = parts.hostname or ""
    if host.endswith(".apps.dynatrace.com"):
        live = host[: -len(".apps.dynatrace.com")] + ".live.dynatrace.com"
        raise ValidationError(
            f"{host} is the Dynatrace platform web UI; API tokens are used on the environment's API "
            f"address: enter https://{live}"
        )
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class EnvironmentURL(TargetURL):
    """A Dynatrace environment base URL: a :class:`gateway.TargetURL` normalised by
    :func:`environment_base_url`."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        url = super()._deserialize(value.strip() if isinstance(value, str) else value, attr, data, **kwargs)
        return environment_base_url(url)


def _check_tag(tag: str) -> None:
    problem = tag_problem(tag)
    if problem:
        raise ValidationError(f"the tag {problem}, which a Dynatrace tag cannot hold")


def _check_token(token: str) -> None:
    if not token.strip():
        raise ValidationError("enter the Dynatrace access token")
    if any(char.isspace() for char in token):
        raise ValidationError(
            "enter the token alone (it starts dt0c01.), without spaces or an 'Api-Token ' prefix"
        )


class DynatraceConfigSchema(Schema):
    """Config of a Dynatrace integration."""

    api_token = Secret(
        required=True,
        validate=_check_token,
        metadata={
            "description": "Dynatrace access token. Events API v2 needs the scope events.ingest "
            "(Ingest events); v1 needs 'Access problem and event feed, metrics, and topology' (DataExport). "
            "With api_version auto, either will do."
        },
    )
    url = EnvironmentURL(
        required=True,
        metadata={
            "description": f"The Dynatrace environment's base URL: {URL_FORMS}. Without /api; a trailing "
            "slash is removed."
        },
    )
    entity_type = fields.String(
        load_default=DEFAULT_ENTITY_TYPE,
        validate=validate.OneOf(
            ENTITY_TYPES,
            error="{input} is not a monitored entity type the integration offers; use one of {choices}",
        ),
        metadata={
            "description": "The type of the monitored entities (Dynatrace meType) the events are "
            "attached to, for example APPLICATION, SERVICE, PROCESS_GROUP or HOST."
        },
    )
    tag = fields.String(
        load_default=None,
        allow_none=True,
        validate=_check_tag,
        metadata={
            "description": "A Dynatrace tag added to every event of this integration (value, key:value or "
            '[context]key:value). With it, flags without a "Dynatrace tags" custom property are sent too.'
        },
    )
    api_version = fields.String(
        load_default=DEFAULT_API_VERSION,
        validate=validate.OneOf(API_VERSIONS),
        metadata={
            "description": "auto (the default) sends to Events API v2 when the token has events.ingest, and "
            "to v1 when it has DataExport only, as the token lookup shows; v2 sends to the Events API v2 "
            "(/api/v2/events/ingest) always; v1 to the deprecated Events API v1 (/api/v1/events), as the "
            "older hosted integration did."
        },
    )
    event_type = fields.String(
        load_default=DEFAULT_EVENT_TYPE,
        validate=validate.OneOf(EVENT_TYPES),
        metadata={
            "description": "The Dynatrace event type of v2 events. v1 always sends CUSTOM_CONFIGURATION "
            "(with api_version auto, an event sent to v1 says so in a warning)."
        },
    )

    @pre_load
    def _clean_tag(self, data: Any, **kwargs: Any) -> Any:
        """Remove the tag's surrounding whitespace; a blank tag is no tag."""
        if isinstance(data, Mapping) and isinstance(data.get("tag"), str):
            return {**data, "tag": clean_tag(data["tag"])}
        return data

    @validates_schema
    def _check_combination(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Refuse v1 with another event type, and (for v2 and auto) a tag too long for the v2 entity
        selector. Fields
        left out of a partial load count as their defaults."""
        api_version = data.get("api_version", DEFAULT_API_VERSION)
        event_type = data.get("event_type", DEFAULT_EVENT_TYPE)
        if api_version == "v1" and event_type != V1_EVENT_TYPE:
            raise ValidationError(
                f"api_version v1 sends {V1_EVENT_TYPE} events only; use api_version v2 for {event_type}",
                "event_type",
            )
        if api_version != "v1" and data.get("tag"):  # auto may choose v2
            try:
                entity_selector(data.get("entity_type", DEFAULT_ENTITY_TYPE), [data["tag"]])
            except SelectorTooLong:
                raise ValidationError(
                    f"the tag is too long: the entity selector of Events API v2 would exceed the "
                    f"{SELECTOR_MAX_CHARS:,} characters Dynatrace accepts; shorten it, or set api_version v1",
                    "tag",
                ) from None


@dataclass(frozen=True)
class Settings:
    """A validated config, typed; absent optional values read as their defaults."""

    api_token: str
    url: str
    entity_type: str = DEFAULT_ENTITY_TYPE
    tag: str | None = None
    api_version: str = DEFAULT_API_VERSION
    event_type: str = DEFAULT_EVENT_TYPE

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Settings from the config the gateway hands to a hook."""
        return cls(
            api_token=config["api_token"],
            url=str(config["url"]).rstrip("/"),
            entity_type=config.get("entity_type") or DEFAULT_ENTITY_TYPE,
            tag=clean_tag(config.get("tag")),
            api_version=config.get("api_version") or DEFAULT_API_VERSION,
            event_type=config.get("event_type") or DEFAULT_EVENT_TYPE,
        )

"""Flag Event Gateway: carries feature-flag changes to the tools around them.

What this module exports is the public API: the application (``create_app``, ``EventGateway``) and
everything a plugin may use. Plugins import nothing else from ``gateway`` (``gateway.testing`` is public too, for their tests).
"""

from gateway import hooks
from gateway.app import create_app
from gateway.host.declarations import Batching, BatchItem, DeliveryRef, EventSource, IntegrationRef, IntegrationType, StatusCheck
from gateway.events import Access, CustomProperty, Event, Member
from gateway.extension import EventGateway
from gateway.host.fields import Secret, SecretURL, TargetURL
from gateway.flagplatform.flag_actions import FlagPlatform
from gateway.host.flag_holds import FlagHold, FlagHolds
from gateway.outbound.http import HttpClient, HttpResponse, TransportError
from gateway.host.inbound_request import InboundRequest, Received, Rejected
from gateway.linear_regex import UnsupportedPattern, compile_regex
from gateway.host.markers import PROJECT_NAME, hookimpl
from gateway.outcomes import Cooldown, Delivered, DeliveryResult, Failed, RetryLater, Skip, Take, Verdict
from gateway.signatures import hmac_sha256_hex, verify_hmac_sha256
from gateway.strict_json import InvalidJson
from gateway.strict_json import loads as strict_json_loads
from gateway.outbound.targets import TargetNotAllowed, check_target_url

from gateway.version import __version__

__all__ = [
    "PROJECT_NAME",
    "Access",
    "BatchItem",
    "Batching",
    "Cooldown",
    "CustomProperty",
    "Delivered",
    "DeliveryRef",
    "DeliveryResult",
    "Event",
    "EventGateway",
    "EventSource",
    "Failed",
    "FlagHold",
    "FlagHolds",
    "FlagPlatform",
    "HttpClient",
    "HttpResponse",
    "InboundRequest",
    "IntegrationRef",
    "InvalidJson",
    "IntegrationType",
    "Member",
    "Received",
    "Rejected",
    "RetryLater",
    "Secret",
    "SecretURL",
    "Skip",
    "StatusCheck",
    "Take",
    "TargetNotAllowed",
    "TargetURL",
    "TransportError",
    "UnsupportedPattern",
    "Verdict",
    "check_target_url",
    "compile_regex",
    "create_app",
    "hmac_sha256_hex",
    "hookimpl",
    "hooks",
    "strict_json_loads",
    "verify_hmac_sha256",
    "__version__",
]

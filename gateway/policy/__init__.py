"""The policy engine: LaunchDarkly's custom-role policy language, deciding which events to send.

A policy is a list of statements such as::

    [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]

Compile it once with :func:`compile_policy` (which raises :class:`PolicyError` with every
problem and where it is), then call :meth:`CompiledPolicy.evaluate` for each event. Any deny
wins, order never matters, and an event no statement allows is denied. Pure Python: no Flask,
no database.
"""

from gateway.policy.accesses import Access
from gateway.policy.engine import CompiledPolicy, PolicyDecision, compile_policy, denial_explainer
from gateway.policy.errors import PolicyError
from gateway.policy.resource_types import KNOWN_RESOURCE_TYPES

__all__ = [
    "KNOWN_RESOURCE_TYPES",
    "Access",
    "CompiledPolicy",
    "PolicyDecision",
    "PolicyError",
    "compile_policy",
    "denial_explainer",
]

"""The test event: a clearly labelled sample flag change sent on demand to check an integration.

It is a flag change (kind ``flag``, source ``test``) on the flag ``event-gateway-test`` of project
``event-gateway-test`` in environment ``production`` — so the default policy
(``proj/*:env/production:flag/*``) lets it through — and its title starts with ``[Test]``. Its
"Dynatrace tags" custom property holds :data:`TEST_TAG`, so the policy hook takes it even when the
integration has no tag; with a tag, the integration's tag is added as for every event. Tag an entity
``event-gateway-test`` in Dynatrace to see test events without touching a real tag.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from gateway import Access, CustomProperty, Event, IntegrationRef

from .tags import CUSTOM_PROPERTY_KEYS, CUSTOM_PROPERTY_NAME

TEST_SOURCE = "test"
TEST_TAG = "event-gateway-test"
TEST_PROJECT = "event-gateway-test"
TEST_ENVIRONMENT = "production"
TEST_FLAG = "event-gateway-test"


def sample_event(integration: IntegrationRef) -> Event:
    """A new test event for ``integration`` (a fresh ``source_id`` each time, the time now)."""
    resource = f"proj/{TEST_PROJECT}:env/{TEST_ENVIRONMENT}:flag/{TEST_FLAG}"
    return Event(
        source=TEST_SOURCE,
        source_id=f"test-{uuid.uuid4().hex}",
        kind="flag",
        occurred_at=datetime.now(timezone.utc),
        title="[Test] Flag Event Gateway sent a sample flag change to the Dynatrace integration "
        f"{integration.name}",
        accesses=[Access("updateOn", resource)],
        project_key=TEST_PROJECT,
        environment_key=TEST_ENVIRONMENT,
        flag_key=TEST_FLAG,
        name="Event Gateway test flag",
        title_verb="sent a test change of the flag",
        description="- Sample change sent on demand to check the integration; no flag was changed.",
        comment=f"Test event of integration {integration.id}",
        custom_properties={CUSTOM_PROPERTY_KEYS[0]: CustomProperty(CUSTOM_PROPERTY_NAME, (TEST_TAG,))},
    )

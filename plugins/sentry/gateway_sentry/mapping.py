"""Which LaunchDarkly environment a Sentry event's errors go to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mapping:
    """One entry of ``environment_mappings`` (``sentry_project`` is an id or a lower-case slug)."""

    sentry_project: str
    sentry_environment: str
    ld_project: str
    ld_environment: str

    @property
    def label(self) -> str:
        """``Sentry checkout/production → LaunchDarkly shop/production``, for messages."""
        return (
            f"Sentry {self.sentry_project}/{self.sentry_environment} → "
            f"LaunchDarkly {self.ld_project}/{self.ld_environment}"
        )


def mappings(config: dict[str, Any]) -> list[Mapping]:
    """The mappings of a validated config, in order."""
    return [Mapping(**entry) for entry in config["environment_mappings"]]


def find_mapping(
    candidates: Iterable[Mapping],
    project_id: str | None,
    project_slug: str | None,
    environment: str | None,
) -> Mapping | None:
    """The mapping for a Sentry event's project and environment, or None.

    A mapping naming the project by id wins over one naming it by slug.
    """
    same_environment = [m for m in candidates if m.sentry_environment == environment]
    for wanted in (project_id, project_slug.lower() if project_slug else None):
        if wanted:
            for mapping in same_environment:
                if mapping.sentry_project == wanted:
                    return mapping
    return None


def describe_project(project_id: str | None, project_slug: str | None) -> str:
    """The event's project for a message: ``checkout (4504123456789012)``, or what is known of it."""
    if project_id and project_slug:
        return f"{project_slug} ({project_id})"
    return project_slug or project_id or "(unknown project)"

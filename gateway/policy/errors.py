"""The one exception the policy engine raises for invalid policies."""

from __future__ import annotations

from collections.abc import Mapping


class PolicyError(ValueError):
    """A policy failed validation.

    ``errors`` maps a path into the raw policy (``"policy"``, ``"policy[1]"``,
    ``"policy[1].resources[0]"``, ...) to what is wrong there. Every problem found is reported,
    not just the first; ``str(error)`` joins them as ``"path: message; path: message"``.
    """

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = dict(errors)
        super().__init__("; ".join(f"{path}: {message}" for path, message in self.errors.items()))

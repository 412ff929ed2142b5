"""The pytest fixtures of the plugin author kit, registered with pytest when the gateway is installed
(entry point ``pytest11``): ``plugin_harness``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def plugin_harness() -> Iterator[Any]:
    """Load a plugin in-process: ``plugin_harness(my_plugin, config={...})`` returns a
    :class:`gateway.testing.PluginHarness`, closed when the test ends."""
    from gateway.kit.harness import PluginHarness

    made: list[PluginHarness] = []

    def make(plugin: Any, **options: Any) -> PluginHarness:
        harness = PluginHarness(plugin, **options)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()

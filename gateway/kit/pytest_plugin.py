"""The pytest fixtures of the plugin author kit, registered with pytest when the gateway is installed
(entry point ``pytest11``): ``plugin_harness``, and the ``end_to_end`` mark for tests that start
other processes (a gateway, a browser), which a quick run leaves out with ``-m "not end_to_end"``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "end_to_end: starts another process (a gateway, a Python environment, a browser); "
                   "a quick run leaves these out with -m \"not end_to_end\"")


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

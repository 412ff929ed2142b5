"""docs/event-reference.md is generated from the event model and stays equal to it."""

from __future__ import annotations

import dataclasses

from gateway import Event
from gateway.kit import event_reference

from .conftest import ROOT


def test_every_field_has_a_meaning():
    assert event_reference.undocumented() == []


def test_the_document_is_what_the_code_generates():
    document = (ROOT / "docs" / "event-reference.md").read_text()
    assert document == event_reference.render(), "run: python -m gateway.kit.event_reference"


def test_every_field_appears_with_its_type():
    document = (ROOT / "docs" / "event-reference.md").read_text()
    for field in dataclasses.fields(Event):
        assert f"| `{field.name}` | `" in document
    assert "| `environment_key` | `str \\| None` | None |" in document

"""An access is a value: equal by content, hashable, never changed once made."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.policy import Access


def test_an_access_is_an_immutable_value():
    access = Access("updateOn", "proj/p:env/e:flag/f")
    assert access == Access("updateOn", "proj/p:env/e:flag/f") and access != Access("updateOff", access.resource)
    assert len({access, Access("updateOn", "proj/p:env/e:flag/f")}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        access.action = "deleteFlag"

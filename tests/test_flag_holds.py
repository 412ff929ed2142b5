"""Flag holds (gateway.FlagHolds): which flags this gateway turned off and for what, one hold per flag
and environment across integrations, as plugins see them through ``integration.flag_holds``."""

from __future__ import annotations

import pytest

from gateway import FlagHold, FlagHolds
from gateway.host.state import get_state

from .conftest import AUTH, add_integration


def holds_of(app, integration_id) -> FlagHolds:
    state = get_state(app)
    return state.integrations.active(state.db.integrations.get(integration_id)).ref.flag_holds


def test_a_hold_is_kept_taken_over_and_released(app, client):
    one = add_integration(client, "recorder", name="one", config={"token": "t1"})["id"]
    two = add_integration(client, "recorder", name="two", config={"token": "t2"})["id"]
    first, second = holds_of(app, one), holds_of(app, two)
    assert first.holder("shop", "production", "checkout") is None
    first.hold("shop", "production", "checkout", cause="-123_V2", label="P-1 'High failure rate'")
    held = second.holder("shop", "production", "checkout")
    assert isinstance(held, FlagHold)
    assert (held.cause, held.label, held.integration_id) == ("-123_V2", "P-1 'High failure rate'", one)
    assert second.holder("shop", "staging", "checkout") is None
    second.hold("shop", "production", "checkout", cause="-456_V2")
    assert first.holder("shop", "production", "checkout").cause == "-456_V2"
    assert first.holder("shop", "production", "checkout").label == "-456_V2"
    first.release("shop", "production", "checkout")
    assert second.holder("shop", "production", "checkout") is None


def test_holds_go_with_the_integration_that_made_them(app, client):
    one = add_integration(client, "recorder", config={"token": "t1"})["id"]
    holds_of(app, one).hold("shop", "production", "checkout", cause="-1_V2")
    assert client.delete(f"/api/v1/integrations/{one}", headers=AUTH).status_code in (200, 204)
    other = add_integration(client, "recorder", name="other", config={"token": "t2"})["id"]
    assert holds_of(app, other).holder("shop", "production", "checkout") is None


@pytest.mark.parametrize("keys, cause", [(("", "production", "f"), "c"), (("shop", "production", "f"), ""),
                                         (("shop", "production", "f"), "x" * 401)])
def test_bad_keys_and_causes_are_refused(app, client, keys, cause):
    one = add_integration(client, "recorder", config={"token": "t1"})["id"]
    with pytest.raises(ValueError):
        holds_of(app, one).hold(*keys, cause=cause)

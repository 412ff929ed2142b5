"""``event-gateway plugins`` and ``GET /api/v1/plugins`` say the same, in the same shape: ``name`` is
the display name everywhere, ``entry_point`` the entry-point name, and URL fields are JSON Schema
``"format": "uri"``."""

from __future__ import annotations

import json

import pytest

from . import plugins_for_tests as p
from .conftest import AUTH

SHAPE = {"items", "refused", "filtered"}


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=["plugins", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def api(app, query=""):
    response = app.test_client().get("/api/v1/plugins" + query, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def listed_app(make_app):
    return make_app({"GATEWAY_PLUGINS": "recorder,webhook,bad-policy"}, entry_points=True,
                    plugins=(("recorder", p.Recorder()), ("bad-policy", p.BadPolicy()), ("picky", p.Picky())))


def test_cli_and_api_answer_the_same_document(listed_app):
    assert cli(listed_app) == cli(listed_app, "list") == api(listed_app) == api(listed_app, "?all=false")
    assert cli(listed_app, "--all") == cli(listed_app, "list", "--all") == api(listed_app, "?all=true")


def test_the_top_level_shape_does_not_change_with_all(listed_app):
    assert set(cli(listed_app)) == set(cli(listed_app, "--all")) == SHAPE
    default, everything = cli(listed_app), cli(listed_app, "--all")
    assert "launchdarkly" not in {i["key"] for i in default["items"]}
    assert "launchdarkly" in {i["key"] for i in everything["items"]}
    assert default["refused"] == everything["refused"] and default["filtered"] == everything["filtered"]


def test_name_is_the_display_name_and_entry_point_the_entry_point_name(listed_app):
    items = {i["key"]: i for i in cli(listed_app, "--all")["items"]}
    assert items["recorder"]["name"] == "Recorder" and items["recorder"]["entry_point"] == "recorder"
    assert items["webhook"]["name"] == "Generic webhook" and items["webhook"]["entry_point"] == "webhook"
    assert items["launchdarkly"]["entry_point"] is None and items["launchdarkly"]["builtin"] is True
    body = cli(listed_app)
    [refused] = body["refused"]
    assert refused["entry_point"] == "bad-policy" and "name" not in refused and "default_policy" in refused["error"]
    filtered = {f["entry_point"] for f in body["filtered"]}
    assert {"picky", "dynatrace", "sentry"} <= filtered
    assert all("name" not in f for f in body["filtered"])


def test_url_fields_are_json_schema_uri(listed_app):
    items = {i["key"]: i for i in api(listed_app)["items"]}
    assert items["webhook"]["config_schema"]["properties"]["url"]["format"] == "uri"
    assert items["recorder"]["config_schema"]["properties"]["url"]["format"] == "uri"
    assert '"format": "url"' not in json.dumps(api(listed_app, "?all=true"))


def test_a_wrong_all_value_is_a_json_400(listed_app):
    response = listed_app.test_client().get("/api/v1/plugins?all=maybe", headers=AUTH)
    assert response.status_code == 400 and response.is_json
    assert "'all' must be true or false" in response.get_json()["error"]

"""The status checks (requests-mock): token lookup answers for v1-only, v2, expired and disabled
tokens, and whether an entity carries the integration's tag."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests
from gateway import IntegrationRef, StatusCheck

from gateway_dynatrace import plugin
from gateway_dynatrace.checks import status_checks

BASE_URL = "https://abc12345.live.dynatrace.com"  # the config fixture's
TOKEN = "dt0c01.SAMPLETOKENID.SAMPLESECRETPARTSAMPLESECRETPARTSAMPLESECRETPART"

LOOKUP = f"{BASE_URL}/api/v2/apiTokens/lookup"
ENTITIES = f"{BASE_URL}/api/v2/entities"
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def token(scopes, enabled=True, expires=None, name="gateway"):
    return {"id": "dt0c01.SAMPLETOKENID", "name": name, "enabled": enabled, "personalAccessToken": False,
            "owner": "ada@example.com", "creationDate": "2026-01-01T00:00:00.000Z",
            "expirationDate": expires, "scopes": scopes}


@pytest.fixture(autouse=True)
def same_as_the_config(config):
    assert (config["url"], config["api_token"]) == (BASE_URL, TOKEN)


def checks(config, http) -> dict[str, StatusCheck]:
    return {check.name: check for check in status_checks(config, http, now=NOW)}


def test_the_lookup_sends_the_token_in_the_body_and_the_header(config, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["events.ingest"]))
    checks(config, http)
    sent = requests_mock.last_request
    assert sent.json() == {"token": TOKEN}
    assert sent.headers["Authorization"] == f"Api-Token {TOKEN}"


def test_a_v2_token_with_events_ingest_is_ok(config, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["events.ingest", "metrics.ingest"], expires="2027-01-01T00:00:00.000Z"))
    [check] = checks(config, http).values()
    assert check.state == "ok"
    assert check.message == "token 'gateway' is enabled and has events.ingest, valid until 2027-01-01T00:00:00+00:00"


def test_a_v1_only_token_with_api_v2_says_how_to_fix_it(config, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["DataExport"]))
    check = checks(config, http)["token"]
    assert check.state == "error"
    assert "has only DataExport" in check.message
    assert "Add events.ingest to the token, or set api_version v1" in check.message


def test_a_v1_only_token_is_right_for_api_v1(v1_config, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["DataExport"]))
    assert checks(v1_config, http)["token"].state == "ok"


def test_a_v2_only_token_with_api_v1_says_how_to_fix_it(v1_config, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["events.ingest"]))
    check = checks(v1_config, http)["token"]
    assert check.state == "error" and "add DataExport to the token, or set api_version v2" in check.message


def test_a_token_without_either_scope(config, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["metrics.read"]))
    check = checks(config, http)["token"]
    assert check.state == "error" and "lacks events.ingest (Ingest events)" in check.message


def test_an_expired_token(config, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["events.ingest"], expires="2026-05-31T12:00:00.000Z"))
    check = checks(config, http)["token"]
    assert check.state == "error"
    assert "expired at 2026-05-31T12:00:00+00:00" in check.message and "create a new token" in check.message


def test_a_token_about_to_expire_is_a_warning(config, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["events.ingest"], expires="2026-06-03T00:00:00.000Z"))
    check = checks(config, http)["token"]
    assert check.state == "warning" and "expires at 2026-06-03" in check.message


def test_a_disabled_token(config, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["events.ingest"], enabled=False))
    check = checks(config, http)["token"]
    assert check.state == "error" and "is disabled" in check.message and "enable it" in check.message


def test_an_unknown_token(config, http, requests_mock, answer):
    requests_mock.post(LOOKUP, status_code=401, text=answer("ingest-401-token"))
    check = checks(config, http)["token"]
    assert check.state == "error" and "does not know the token (401)" in check.message
    assert TOKEN not in check.message


def test_no_answer_is_a_warning(config, http, requests_mock):
    requests_mock.post(LOOKUP, exc=requests.ConnectTimeout("slow"))
    check = checks(config, http)["token"]
    assert check.state == "warning" and "cannot reach Dynatrace" in check.message


def test_not_a_dynatrace_environment(config, http, requests_mock):
    requests_mock.post(LOOKUP, status_code=404, text="<html>not here</html>")
    assert "not a Dynatrace environment's base URL" in checks(config, http)["token"].message


@pytest.fixture
def tagged(config):
    return {**config, "entity_type": "SERVICE", "tag": "team:checkout"}


def test_no_entity_carrying_the_tag_is_an_error(tagged, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["events.ingest", "entities.read"]))
    requests_mock.get(ENTITIES, json={"totalCount": 0, "pageSize": 1, "entities": []})
    check = checks(tagged, http)["entities"]
    assert check.state == "error"
    assert check.message.startswith("no SERVICE carries tag 'team:checkout': events would attach to nothing")
    assert requests_mock.last_request.qs["entityselector"] == ['type(service),tag("team:checkout")']


def test_entities_carrying_the_tag_are_counted(tagged, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["events.ingest", "entities.read"]))
    requests_mock.get(ENTITIES, json={"totalCount": 3, "entities": [{"entityId": "SERVICE-1"}]})
    assert checks(tagged, http)["entities"] == StatusCheck("entities", "ok", "3 SERVICE entities carry tag 'team:checkout'")


def test_without_entities_read_the_entities_are_not_checked(tagged, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["events.ingest"]))
    check = checks(tagged, http)["entities"]
    assert check.state == "ok" and "add entities.read to have it checked" in check.message
    assert [r.method for r in requests_mock.request_history] == ["POST"]


def test_without_an_integration_tag_there_is_no_entity_check(config, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["events.ingest", "entities.read"]))
    assert list(checks(config, http)) == ["token"]


def test_the_hook_runs_the_checks(config, http, requests_mock):
    requests_mock.post(LOOKUP, json=token(["events.ingest"]))
    ref = IntegrationRef(id="i-1", name="Dynatrace production", plugin="dynatrace")
    [check] = plugin.integration_status(config=config, http=http, integration=ref)
    assert check.name == "token" and check.state == "ok"
    assert TOKEN not in http.exchanges[0].excerpt


@pytest.mark.parametrize(("scopes", "state", "says"), [
    (["DataExport"], "ok", "has DataExport: api_version auto sends to Events API v1"),
    (["events.ingest", "DataExport"], "ok", "has events.ingest: api_version auto sends to Events API v2"),
    (["metrics.read"], "error", "has neither events.ingest"),
])
def test_with_api_version_auto_the_check_says_which_version_the_events_go_to(config, http, requests_mock,
                                                                            scopes, state, says):
    requests_mock.post(LOOKUP, json=token(scopes))
    check = checks({**config, "api_version": "auto"}, http)["token"]
    assert check.state == state and says in check.message


def test_auto_chooses_by_the_tokens_scopes():
    from gateway_dynatrace.api_choice import choose, other_version
    assert choose(["DataExport"]).version == "v1"
    assert choose(["events.ingest", "DataExport"]).version == "v2"
    assert choose(None, "cannot reach Dynatrace").version == "v2"
    assert other_version("v2", ["DataExport"]).version == "v1"
    assert other_version("v1", ["events.ingest"]).version == "v2"
    assert other_version("v2", ["events.ingest"]) is None and other_version("v2", None) is None

"""The OpenAPI document as the API answers (issue 9, item 13): lists, error answers, OPTIONS."""

from __future__ import annotations

from .conftest import AUTH, add_integration


def _document(client):
    return client.get("/api/v1/openapi.json", headers=AUTH).get_json()


def _ref(response):
    return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]


def test_lists_are_documented_as_they_answer(client):
    document = _document(client)
    schemas = document["components"]["schemas"]
    for path, name in [("/api/v1/integrations", "IntegrationList"), ("/api/v1/plugins", "PluginList"),
                       ("/api/v1/events", "EventPage"), ("/api/v1/deliveries", "DeliveryPage")]:
        assert _ref(document["paths"][path]["get"]["responses"]["200"]) == name
        answer = client.get(path, headers=AUTH).get_json()
        assert set(answer) == set(schemas[name]["properties"]), path
        assert schemas[name]["properties"]["items"]["type"] == "array"


def test_error_answers_are_documented(client):
    paths = _document(client)["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401"} <= codes, (method, path)
            if "requestBody" in operation:
                assert {"413", "415"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
    assert "409" in paths["/api/v1/integrations/{integration_id}"]["delete"]["responses"]
    assert "409" in paths["/api/v1/deliveries/{delivery_id}/retry"]["post"]["responses"]


def test_answers_hold_exactly_the_documented_fields(client):
    recorder = add_integration(client, "inbox", config={"signing_secret": "inbox-secret-0123456789"})
    schema = _document(client)["components"]["schemas"]["Integration"]
    assert set(recorder) <= set(schema["properties"]) and set(schema["required"]) <= set(recorder)
    assert schema["additionalProperties"] is False


def test_options_allows_exactly_the_routes_methods(client):
    cases = {
        "/api/v1/integrations": "GET, HEAD, POST, OPTIONS",
        "/api/v1/integrations/some-id": "GET, HEAD, PATCH, DELETE, OPTIONS",
        "/api/v1/deliveries/some-id/retry": "POST, OPTIONS",
        "/api/v1/openapi.json": "GET, HEAD, OPTIONS",
        "/webhooks/launchdarkly": "POST, OPTIONS",
    }
    for path, allow in cases.items():
        response = client.options(path, headers=AUTH)
        assert response.status_code == 204 and response.headers["Allow"] == allow, path
    assert client.options("/api/v1/nothing", headers=AUTH).status_code == 404

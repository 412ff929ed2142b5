"""A fake Dynatrace on 127.0.0.1, as the end-to-end tests will use: config and delivery over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import requests
from gateway.testing import make_delivery_ref
from gateway import Delivered, HttpClient

from gateway_dynatrace import plugin
from gateway_dynatrace.schema import DynatraceConfigSchema


class FakeDynatrace(BaseHTTPRequestHandler):
    """Answers ``POST /e/<env>/api/v2/events/ingest`` with one OK result and keeps what it got."""

    received: ClassVar[list[tuple[str, dict[str, str], dict]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, dict(self.headers), body))
        answer = json.dumps(
            {"reportCount": 1, "eventIngestResults": [{"correlationId": "f1", "status": "OK"}]}
        )
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def fake_dynatrace() -> Iterator[str]:
    FakeDynatrace.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeDynatrace)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_delivery_to_a_local_fake_dynatrace(fake_dynatrace, production_event, monkeypatch):
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "1")
    config = DynatraceConfigSchema().load(
        {"api_token": "dt0c01.LOCAL.TOKEN", "url": fake_dynatrace + "/e/local-env/", "api_version": "v2"}
    )
    http = HttpClient(requests.Session(), allow_private=True)

    result = plugin.deliver_event(event=production_event, config=config, http=http, delivery=make_delivery_ref())

    assert result == Delivered(
        summary="Dynatrace attached the event to 1 entity (correlation ids f1)",
        details={"api": "v2", "reportCount": 1, "correlationIds": ["f1"]},
    )
    [(path, headers, body)] = FakeDynatrace.received
    assert path == "/e/local-env/api/v2/events/ingest"
    assert headers["Authorization"] == "Api-Token dt0c01.LOCAL.TOKEN"
    assert body["entitySelector"] == 'type(APPLICATION),tag("checkout-service","web-frontend")'
    assert http.exchanges[0].status == 201

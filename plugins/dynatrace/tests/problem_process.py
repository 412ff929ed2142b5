"""End-to-end material of the dynatrace-problems tests: the gateway as a subprocess taking problem
notifications, a sender that posts them as Dynatrace's custom integration does, and a wait for the
decision an event got."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from gateway.testing import GatewayProcess, wait_until

from problem_helpers import SECRET


@contextmanager
def problems_gateway(folder: str, *, plugins: str = "dynatrace-problems",
                     retry_schedule: str = "0,0.2,0.2,0.2") -> Iterator[GatewayProcess]:
    """One process with one delivery worker: a flag-change webhook sent back by the flag platform finds
    an integration just added (another process would read it within about a second)."""
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": plugins, "GATEWAY_WORKERS": "1",
           "GATEWAY_PROCESSES": "1", "GATEWAY_RETRY_SCHEDULE": retry_schedule}
    with GatewayProcess(folder, env=env) as process:
        yield process


class DynatraceSender:
    """Posts problem notifications to the gateway as Dynatrace's custom integration does: the filled-in
    JSON template, with the custom header carrying the shared secret."""

    def __init__(self, gateway_process: GatewayProcess, integration_id: str, secret: str = SECRET):
        self.url = f"{gateway_process.url}/webhooks/integrations/{integration_id}"
        self.secret = secret

    def send(self, body: dict | bytes, secret: str | None = None) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Dynatrace",
                   "X-Flag-Gateway-Secret": secret or self.secret}
        return requests.post(self.url, data=data, headers=headers, timeout=10)

    def send_accepted(self, body: dict) -> str:
        """Sends ``body``, checks it was accepted, and returns the id of the one event it made."""
        answer = self.send(body)
        assert answer.status_code == 202, answer.text
        return only_event(answer)["event_id"]


def only_event(answer: requests.Response) -> dict:
    assert answer.status_code in (200, 202), answer.text
    [result] = answer.json()["events"]
    return result


def decision(gateway_process: GatewayProcess, event_id: str, status: str) -> dict:
    """The event's first decision, once it has ``status``."""
    def read():
        found = gateway_process.admin("GET", f"/api/v1/events/{event_id}").json()["decisions"]
        return found and found[0]["status"] == status and found[0]
    return wait_until(read, 15, message=f"decision {status}")

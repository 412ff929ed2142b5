"""Failed authentication is throttled per client address: after FAILURES_ALLOWED wrong tokens within
WINDOW_SECONDS (admin API, UI sign-in and a protected /metrics counted together), that address is
answered 429 with Retry-After for BLOCK_SECONDS, the right token included; the episode is logged
once and counted in /metrics; other addresses are not affected. A pre-fork server's processes share
the counts."""

from __future__ import annotations

import logging
import multiprocessing

import pytest

from gateway.runtime import auth_throttle
from gateway.runtime.auth_throttle import BLOCK_SECONDS, FAILURES_ALLOWED, AuthThrottle
from gateway.host.state import get_state

from .conftest import ADMIN_TOKEN, AUTH
from .ui_support import CSRF

WRONG = {"Authorization": "Bearer not-the-admin-token-0123"}
ATTACKER = {"REMOTE_ADDR": "203.0.113.7"}
NEIGHBOUR = {"REMOTE_ADDR": "203.0.113.8"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(app):
    clock = Clock()
    get_state(app).auth_throttle.clock = clock
    return clock


def sign_in(client, token, environ):
    page = client.get("/ui/sign-in", environ_base=environ)
    csrf = CSRF.search(page.get_data(as_text=True)).group(1)
    return client.post("/ui/sign-in", data={"csrf_token": csrf, "token": token}, environ_base=environ)


def episode_lines(caplog):
    return [r for r in caplog.records if r.name == "gateway.runtime.auth_throttle" and "refused" in r.getMessage()]


def test_wrong_admin_tokens_are_throttled_per_address(client, clock, caplog):
    for _ in range(FAILURES_ALLOWED):
        assert client.get("/api/v1/events", headers=WRONG, environ_base=ATTACKER).status_code == 401
    throttled = client.get("/api/v1/events", headers=WRONG, environ_base=ATTACKER)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) == BLOCK_SECONDS
    assert "too many failed" in throttled.get_json()["error"]
    # the right token too, from that address, until the block ends
    assert client.get("/api/v1/events", headers=AUTH, environ_base=ATTACKER).status_code == 429
    assert client.get("/api/v1/events", headers=AUTH, environ_base=NEIGHBOUR).status_code == 200
    for _ in range(50):
        client.get("/api/v1/events", headers=WRONG, environ_base=ATTACKER)
    [line] = episode_lines(caplog)  # once per episode
    assert "203.0.113.7" in line.getMessage()
    clock.now += BLOCK_SECONDS - 1
    later = client.get("/api/v1/events", headers=AUTH, environ_base=ATTACKER)
    assert later.status_code == 429 and later.headers["Retry-After"] == "1"
    clock.now += 1
    assert client.get("/api/v1/events", headers=AUTH, environ_base=ATTACKER).status_code == 200


def test_failures_spread_over_more_than_the_window_are_not_throttled(client, clock):
    for _ in range(3 * FAILURES_ALLOWED):
        assert client.get("/api/v1/events", headers=WRONG, environ_base=ATTACKER).status_code == 401
        clock.now += auth_throttle.WINDOW_SECONDS / (FAILURES_ALLOWED - 1)


def test_ui_sign_in_is_throttled_too_and_shares_the_count(client, clock):
    for _ in range(FAILURES_ALLOWED - 1):
        assert sign_in(client, "wrong", ATTACKER).status_code == 401
    assert client.get("/api/v1/events", headers=WRONG, environ_base=ATTACKER).status_code == 401
    page = sign_in(client, ADMIN_TOKEN, ATTACKER)
    assert page.status_code == 429 and page.headers["Retry-After"] == str(BLOCK_SECONDS)
    assert "Too many failed sign-ins" in page.get_data(as_text=True)


def test_metrics_count_failures_and_throttled_requests(client, clock):
    for _ in range(FAILURES_ALLOWED + 2):
        client.get("/api/v1/events", headers=WRONG, environ_base=ATTACKER)
    sign_in(client, "wrong", NEIGHBOUR)
    text = client.get("/metrics").get_data(as_text=True)
    assert f'gateway_auth_failures_total{{door="api"}} {float(FAILURES_ALLOWED)}' in text
    assert 'gateway_auth_failures_total{door="ui"} 1.0' in text
    assert 'gateway_auth_throttled_total{door="api"} 2.0' in text
    assert "gateway_auth_throttle_episodes_total 1.0" in text


def _fail_in_child(throttle: AuthThrottle, times: int) -> None:
    for _ in range(times):
        throttle.failed("api", "198.51.100.1")


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_processes_of_a_pre_fork_server_share_the_counts():
    throttle = AuthThrottle()
    throttle.share()
    child = multiprocessing.get_context("fork").Process(target=_fail_in_child, args=(throttle, FAILURES_ALLOWED))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert throttle.wait("api", "198.51.100.1") == BLOCK_SECONDS
    assert throttle.wait("api", "198.51.100.2") is None


def test_many_addresses_do_not_push_a_blocked_one_out():
    throttle = AuthThrottle()
    for _ in range(FAILURES_ALLOWED):
        throttle.failed("api", "198.51.100.1")
    for number in range(20000):
        throttle.failed("api", f"10.{number // 65536}.{number // 256 % 256}.{number % 256}")
    assert throttle.wait("api", "198.51.100.1") is not None


def test_no_address_is_throttled_as_one():
    throttle = AuthThrottle()
    for _ in range(FAILURES_ALLOWED):
        throttle.failed("api", None)
    assert throttle.wait("api", None) is not None and throttle.wait("api", "192.0.2.1") is None


def test_logging_is_quiet_for_single_failures(client, caplog):
    caplog.set_level(logging.INFO)
    client.get("/api/v1/events", headers=WRONG, environ_base=ATTACKER)
    assert episode_lines(caplog) == []


def test_requests_without_a_token_are_no_guesses(client, clock):
    for _ in range(3 * FAILURES_ALLOWED):
        assert client.get("/api/v1/events", environ_base=ATTACKER).status_code == 401
    assert client.get("/api/v1/events", headers=AUTH, environ_base=ATTACKER).status_code == 200


def test_the_throttle_can_be_turned_off(make_app):
    client = make_app({"GATEWAY_AUTH_FAILURES_ALLOWED": "0"}).test_client()
    for _ in range(3 * FAILURES_ALLOWED):
        assert client.get("/api/v1/events", headers=WRONG, environ_base=ATTACKER).status_code == 401
    assert client.get("/api/v1/events", headers=AUTH, environ_base=ATTACKER).status_code == 200


def test_the_number_of_failures_allowed_is_a_setting(make_app):
    client = make_app({"GATEWAY_AUTH_FAILURES_ALLOWED": "2"}).test_client()
    assert client.get("/api/v1/events", headers=WRONG, environ_base=ATTACKER).status_code == 401
    assert client.get("/api/v1/events", headers=WRONG, environ_base=ATTACKER).status_code == 401
    assert client.get("/api/v1/events", headers=AUTH, environ_base=ATTACKER).status_code == 429


def test_wrong_metrics_tokens_count_too(make_app):
    client = make_app({"GATEWAY_METRICS_TOKEN": "metrics-scrape-token-0123456789"}).test_client()
    for _ in range(FAILURES_ALLOWED):
        assert client.get("/metrics", headers=WRONG, environ_base=ATTACKER).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer metrics-scrape-token-0123456789"},
                      environ_base=ATTACKER).status_code == 429

"""The conformance check finds what a plugin gets wrong and says what to change; ``event-gateway
plugins check`` runs it from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway.testing import check_plugin

from . import conformance_plugins as c
from . import plugins_for_tests as p
from .conftest import ROOT


def findings(report, check):
    return [f for f in report.findings if f.check == check]


def only_error(report, check):
    [finding] = [f for f in report.errors if f.check == check]
    return finding.message


def test_a_well_behaved_plugin_passes():
    report = check_plugin(c.Base(), name="base")
    report.assert_passed()
    assert report.warnings == []
    assert {f.check for f in report.findings} >= {"load", "declaration", "config schema", "default policy",
                                                  "config", "test_event", "secrets"}


def test_every_answer_taken_as_delivered_is_an_error_for_each():
    report = check_plugin(c.AlwaysDelivered(), name="always")
    assert {f.check for f in report.errors} == {"deliver 3xx", "deliver 4xx", "deliver 429", "deliver 5xx"}
    assert "only a 2xx means delivered" in only_error(report, "deliver 3xx")
    assert "RetryLater(reason, after=response.retry_after)" in only_error(report, "deliver 429")
    assert "gateway.RetryLater" in only_error(report, "deliver 5xx")
    with pytest.raises(AssertionError, match="FAILED"):
        report.assert_passed()


def test_ignoring_retry_after_is_found():
    report = check_plugin(c.IgnoresRetryAfter(), name="ignores")
    assert [f.check for f in report.errors] == ["deliver 429"]
    assert "pass after=response.retry_after" in only_error(report, "deliver 429")


def test_a_secret_in_the_records_is_found():
    report = check_plugin(c.LeaksInDetails(), name="leaks")
    message = only_error(report, "secrets")
    assert "token in the details of the 2xx attempt" in message and "Delivered(details=...)" in message


def test_a_test_event_the_policy_skips_is_found():
    message = only_error(check_plugin(c.StagingTestEvent(), name="staging"), "test_event")
    assert "denied" in message and "make it an event the default policy allows" in message


def test_sending_nowhere_is_found():
    report = check_plugin(c.SendsNowhere(), name="nowhere")
    assert "sent nothing to the fake service" in only_error(report, "deliver 2xx")


def test_a_credential_not_declared_secret_is_found():
    message = only_error(check_plugin(c.CredentialNotSecret(), name="plain"), "config schema")
    assert "'api_token' looks like a credential" in message and "gateway.Secret" in message


def test_a_nested_secret_is_found():
    message = only_error(check_plugin(c.NestedSecret(), name="nested"), "config schema")
    assert "'accounts.password' is inside a nested field" in message


def test_an_unmarked_hook_is_found():
    message = only_error(check_plugin(c.UnmarkedCheck(), name="unmarked"), "hooks")
    assert "check_event() is defined but not marked" in message and "@gateway.hookimpl" in message


def test_a_refused_plugin_stops_the_check_with_the_gateway_reason():
    report = check_plugin(p.BadPolicy(), name="bad-policy")
    assert [f.check for f in report.findings] == ["load"]
    assert "default_policy is invalid" in only_error(report, "load")


def test_a_config_the_check_cannot_build_asks_for_one():
    report = check_plugin(c.NeedsConfig(), name="needs")
    message = only_error(report, "config")
    assert "config.channel" in message and "{service_url}" in message and "****" in message
    check_plugin(c.NeedsConfig(), name="needs",
                 config={"url": "{service_url}/in", "token": "t0ken-value", "channel": "#flags"}).assert_passed()


def test_no_test_event_and_no_event_warns_that_deliveries_were_not_checked():
    class NoSample(c.Base):
        key = "no-sample"
        test_event = None

    report = check_plugin(NoSample(), name="no-sample")
    assert report.passed and {f.check for f in report.warnings} == {"hooks", "delivery"}
    report = check_plugin(NoSample(), name="no-sample", event=c.sample_event())
    assert findings(report, "deliver 2xx")[0].level == "ok"


def run_check(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "gateway", "plugins", "check", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.mark.end_to_end
def test_cli_check_exits_1_with_the_findings():
    result = run_check("tests.conformance_plugins:ALWAYS_DELIVERED", "--format", "text")
    assert result.returncode == 1
    assert "[error] deliver 429" in result.stdout


@pytest.mark.end_to_end
def test_cli_check_of_an_unknown_plugin_says_what_to_give():
    result = run_check("no-such-plugin")
    assert result.returncode != 0 and "no installed plugin 'no-such-plugin'" in result.stderr
    assert "module path" in result.stderr


@pytest.mark.end_to_end
def test_cli_check_takes_config_and_event_files(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"url": "{service_url}", "token": "t0ken-value",
                                                      "channel": "#flags"}))
    body = ROOT / "examples" / "payloads" / "flag-turned-on.json"
    result = run_check("tests.conformance_plugins:NEEDS_CONFIG", "--config", f"@{tmp_path / 'config.json'}",
                       "--event", f"@{body}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["passed"] is True
    # the check's own throw-away gateway is not reported as a change to the user's database
    assert "schema upgraded" not in result.stderr and "accepted unsigned" not in result.stderr
    bad = run_check("tests.conformance_plugins:NEEDS_CONFIG", "--event", '{"_id": "x", "accesses": []}')
    assert bad.returncode == 2 and "the gateway refuses this webhook body" in bad.stderr


def test_annotations_that_disagree_with_the_specification_are_found():
    report = check_plugin(c.WrongTypes(), name="wrong-types")
    messages = [f.message for f in report.errors if f.check == "signatures"]
    assert any("annotates 'http' as Session, but the gateway passes HttpClient" in m for m in messages)
    assert any("is annotated to return str" in m for m in messages)
    assert [f.level for f in findings(check_plugin(c.Base(), name="base"), "signatures")] == ["ok"]


def test_credential_names():
    from gateway.kit.conformance import looks_like_credential

    for name in ("api_token", "client_secret", "password", "sentry_dsn", "apiKey", "api_key", "basic_auth",
                 "private_key", "accessToken"):
        assert looks_like_credential(name), name
    for name in ("author", "event_key", "project_key", "url", "tokenizer_mode", "authority"):
        assert not looks_like_credential(name), name

"""The mutation tool (tools/mutation.py) on its own: what counts as a kill, keys that do not move
with the lines, network strings that stay networks, and which tests a mutant is run against."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("mutation_tool", ROOT / "tools" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_a_kill_is_a_failing_test_and_says_which(tool):
    record = tool.TestRecord(exit_code=1, passed=["t.py::a"],
                             failures=[("t.py::b", "AssertionError", "assert 1 == 2")])
    assert tool.classify(record) == ("killed", "t.py::b: AssertionError: assert 1 == 2")
    missing_raise = tool.TestRecord(exit_code=1, failures=[("t.py::c", "Failed", "DID NOT RAISE <class 'X'>")])
    assert tool.classify(missing_raise)[0] == "killed"


def test_a_kill_is_told_by_the_first_assertion_even_after_a_failure_of_another_kind(tool):
    record = tool.TestRecord(exit_code=1, failures=[("t.py::a", "TypeError", "crashed"),
                                                   ("t.py::b", "Failed", "DID NOT RAISE <class 'X'>")])
    assert tool.classify(record) == ("killed", "t.py::b: Failed: DID NOT RAISE <class 'X'>")
    crashed = tool.TestRecord(exit_code=1, failures=[("t.py::a", "TypeError", "crashed"), ("t.py::c", "KeyError", "k")])
    assert tool.classify(crashed) == ("killed", "t.py::a: TypeError: crashed")


def test_an_exception_group_counts_as_an_assertion_when_one_of_its_exceptions_is(tool):
    group = ExceptionGroup("two failures", [ValueError("v"), ExceptionGroup("inner", [AssertionError("a")])])
    assert tool._exception_kind(group) == ("AssertionError", "a")
    assert tool._exception_kind(ExceptionGroup("one", [KeyError("k")])) == ("KeyError", "'k'")
    assert tool._exception_kind(ValueError("plain\nsecond line")) == ("ValueError", "plain")


@pytest.mark.parametrize("record, imports, outcome", [
    ({"exit_code": 2, "collection_errors": [("t.py", "ImportError: cannot import name 'x'")]}, True, "invalid"),
    ({"exit_code": 1, "collection_errors": [("t.py", "TypeError")], "failures": [("t.py::a", "E", "")]}, True,
     "invalid"),
    ({}, False, "invalid"),  # the mutated module does not import
    ({"exit_code": 1, "errors": [("t.py::a", "OSError", "fixture broke")]}, True, "error"),
    ({"exit_code": 5}, True, "error"),  # no test ran
    ({"exit_code": 4}, True, "error"),
    ({"exit_code": 0, "passed": ["t.py::a"]}, True, "survived"),
])
def test_what_is_not_a_failing_test_is_no_kill(tool, record, imports, outcome):
    assert tool.classify(tool.TestRecord(**record), imports)[0] == outcome


MODULE = '''\
import ipaddress

NETS = (ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv6Network("::1/128"))
LIMIT = 3


def check(value):
    if value > LIMIT:
        raise ValueError("too big")
    return value == 1 or value == 1
'''


def test_keys_do_not_change_when_lines_move(tool):
    keys = [m.key for m in tool.mutants_of("gateway/example.py", MODULE)]
    moved = "from __future__ import annotations\n\nimport os\nimport re\n" + MODULE.replace("\n\n\ndef", "\n\n\n\ndef")
    assert [m.key for m in tool.mutants_of("gateway/example.py", moved)] == keys
    assert len(set(keys)) == len(keys)  # the same change twice in the same code is numbered
    assert "gateway/example.py::check: == -> != (comparison 0) in value == 1 #2" in keys
    assert "gateway/example.py::check: > -> >= (comparison 0) in value > LIMIT" in keys
    assert "gateway/example.py::<module>: 3 -> 4 in LIMIT = 3" in keys


def test_a_network_string_loses_the_upper_half_of_its_range_and_stays_a_network(tool):
    mutants = {m.key: m for m in tool.mutants_of("gateway/example.py", MODULE)}
    narrowed = mutants["gateway/example.py::<module>: '10.0.0.0/8' -> '10.0.0.0/9' in ipaddress.IPv4Network('10.0.0.0/8')"]
    single = mutants["gateway/example.py::<module>: '::1/128' -> '::2/128' in ipaddress.IPv6Network('::1/128')"]
    namespace: dict = {}
    exec(compile(tool.mutated_source(narrowed, MODULE), "example", "exec"), namespace)
    assert str(namespace["NETS"][0]) == "10.0.0.0/9"
    exec(compile(tool.mutated_source(single, MODULE), "example", "exec"), namespace)
    assert str(namespace["NETS"][1]) == "::2/128"
    assert not any("XX" in key for key in mutants if "/8" in key or "/128" in key)


def test_a_mutant_runs_the_tests_that_executed_its_line_or_at_import_every_test_of_the_module(tool):
    mutants = {m.key: m for m in tool.mutants_of("gateway/example.py", MODULE)}
    in_function = mutants["gateway/example.py::check: > -> >= (comparison 0) in value > LIMIT"]
    at_import = mutants["gateway/example.py::<module>: 3 -> 4 in LIMIT = 3"]
    assert in_function.runtime and not at_import.runtime
    line = MODULE.splitlines().index("    if value > LIMIT:") + 1
    test_map = tool.TestMap(lines={"gateway/example.py": {line: ["t.py::big"], line + 2: ["t.py::small"]}},
                            durations={}, failed=[])
    assert test_map.tests_for(in_function) == ["t.py::big"]
    assert test_map.tests_for(at_import) == ["t.py::big", "t.py::small"]
    no_coverage = tool.TestMap(lines=None, durations={"t.py::big": 1.0, "u.py::other": 1.0}, failed=[])
    assert no_coverage.tests_for(in_function) == ["t.py::big", "u.py::other"]
    only_imported = tool.TestMap(lines={"gateway/example.py": {1: [], 3: []}},
                                 durations={"t.py::big": 1.0, "u.py::other": 1.0}, failed=[])
    assert only_imported.tests_for(at_import) == ["t.py::big", "u.py::other"]
    assert only_imported.tests_for(in_function) == []


def test_listed_survivors_are_read_from_the_document(tool):
    listed = tool.documented_survivors()
    assert listed and all(key.startswith("gateway/") and "::" in key for key in listed)


def test_the_report_fails_on_an_unlisted_survivor_and_counts_kills_by_assertion_apart(tool, tmp_path):
    listed = "gateway/outbound/targets.py::<module>: 1024 -> 1025 in PARSED_URLS = 1024"
    assert listed in tool.documented_survivors()
    outcomes = [tool.Outcome(listed, "gateway/outbound/targets.py", 31, "survived", "", 3, 1.0),
                tool.Outcome("gateway/outbound/targets.py::f: a", "gateway/outbound/targets.py", 1, "killed", "", 3, 1.0, "AssertionError"),
                tool.Outcome("gateway/outbound/targets.py::f: b", "gateway/outbound/targets.py", 2, "killed", "", 3, 1.0, "TypeError"),
                tool.Outcome("gateway/outbound/targets.py::f: c", "gateway/outbound/targets.py", 3, "invalid", "no import", 3, 1.0)]
    assert tool.report({"gateway/outbound/targets.py": outcomes}, tmp_path, complete=False) == 0
    text = (tmp_path / "report.md").read_text()
    assert "| gateway/outbound/targets.py | 4 | 1 | 1 | 1 | 1 | 1 | 0 | 0 |" in text
    assert text.split("## Killed otherwise (a test failed, but on no assertion)\n\n")[1].split("\n\n")[0] \
        == "- `gateway/outbound/targets.py::f: b` (line 2; )"
    unlisted = tool.Outcome("gateway/outbound/targets.py::f: d", "gateway/outbound/targets.py", 4, "survived", "", 3, 1.0)
    assert tool.report({"gateway/outbound/targets.py": [*outcomes, unlisted]}, tmp_path, complete=False) == 1


def test_a_mutant_is_first_run_against_the_file_holding_most_of_its_tests(tool):
    wanted = ["tests/test_a.py::one", "tests/test_b.py::one", "tests/test_b.py::two", "tests/test_c.py::one"]
    assert tool.first_file(wanted) == "tests/test_b.py"
    assert tool.first_file(["tests/test_c.py::x", "tests/test_a.py::y"]) == "tests/test_a.py"  # a tie: by name
    assert tool.first_file(["tests/test_a.py::one", "tests/test_a.py::two"]) is None  # one file: one run


def test_the_map_is_made_of_the_in_process_tests_unless_told(tool):
    assert tool.IN_PROCESS == "not end_to_end"
    args = tool._pytest_args("/copy", ["tests"], tool.IN_PROCESS)
    assert args[args.index("-m") + 1] == "not end_to_end" and args[-1] == "tests"
    assert "-m" not in tool._pytest_args("/copy", ["tests"])
    # a map made of other tests is another map
    assert tool._source_hash(["tests"], tool.IN_PROCESS) != tool._source_hash(["tests"], None)


def _result(failures=(), imports=True):
    return {"imports": imports, "record": {"exit_code": 1 if failures else 0, "passed": [], "errors": [],
                                           "collection_errors": [], "durations": {},
                                           "failures": [[n, "AssertionError", "boom"] for n in failures]}}


class FakeRuns:
    """Stands in for the forked test runs: ``fails_together`` fail in a run of several files,
    ``fails_alone`` also when run alone."""

    def __init__(self, fails_together, fails_alone):
        self.fails_together, self.fails_alone, self.calls = list(fails_together), set(fails_alone), []

    def __call__(self, files, wanted, limit):
        self.calls.append((list(files), list(wanted)))
        if len(wanted) == 1 and len(files) == 1:
            return True, _result([t for t in wanted if t in self.fails_alone]), 1.0
        return True, _result([t for t in self.fails_together if t in wanted][:1]), 10.0


WANTED = ["tests/test_a.py::one", "tests/test_b.py::flaky", "tests/test_b.py::two", "tests/test_c.py::slow"]
FILES = ["tests/test_a.py", "tests/test_b.py", "tests/test_c.py"]


def test_a_kill_in_a_run_of_several_files_counts_when_the_test_fails_alone_too(tool):
    runs = FakeRuns(["tests/test_b.py::two"], ["tests/test_b.py::two"])
    found = tool.run_of_several_files(runs, WANTED, FILES, {})
    assert tool._kill(tool._record(found.payload))[0] == "tests/test_b.py::two"
    assert found.not_reproduced == [] and not found.undecided
    assert runs.calls[1] == (["tests/test_b.py"], ["tests/test_b.py::two"])  # run again alone
    assert len(runs.calls) == 2


def test_a_test_that_fails_in_the_long_run_but_passes_alone_is_left_out(tool):
    runs = FakeRuns(["tests/test_b.py::flaky"], [])
    found = tool.run_of_several_files(runs, WANTED, FILES, {})
    assert found.payload["record"]["failures"] == [] and found.not_reproduced == ["tests/test_b.py::flaky"]
    assert "tests/test_b.py::flaky" not in found.wanted and len(found.wanted) == 3
    assert runs.calls[2] == (FILES, [t for t in WANTED if t != "tests/test_b.py::flaky"])
    # a file none of whose tests are left is not collected again
    runs = FakeRuns(["tests/test_a.py::one"], [])
    found = tool.run_of_several_files(runs, WANTED, FILES, {})
    assert runs.calls[2][0] == ["tests/test_b.py", "tests/test_c.py"]


def test_a_real_kill_behind_a_test_that_passes_alone_is_still_found(tool):
    runs = FakeRuns(["tests/test_b.py::flaky", "tests/test_c.py::slow"], ["tests/test_c.py::slow"])
    found = tool.run_of_several_files(runs, WANTED, FILES, {})
    assert tool._kill(tool._record(found.payload))[0] == "tests/test_c.py::slow"
    assert found.not_reproduced == ["tests/test_b.py::flaky"] and not found.undecided


def test_a_mutant_whose_failures_never_repeat_alone_is_undecided(tool, monkeypatch):
    monkeypatch.setattr(tool, "MAX_NOT_REPRODUCED", 2)
    runs = FakeRuns(WANTED, [])
    found = tool.run_of_several_files(runs, WANTED, FILES, {})
    assert found.undecided and found.not_reproduced == WANTED[:3]
    assert tool.reproduced(None, "tests/test_a.py::one") is False  # no result: nothing repeated
    assert tool.reproduced(_result(["tests/test_a.py::one"], imports=False), "tests/test_a.py::one") is False


def test_a_test_that_forks_passes_in_a_run_forked_from_the_runners_thread(tool, tmp_path):
    """The runner forks each test run from a thread of its pool; a test that forks a process of its
    own (the auth throttle's, shared by a pre-fork server's processes) must not see that process
    fail at its exit for joining the runner's threads."""
    import multiprocessing
    from concurrent.futures import ThreadPoolExecutor

    code = tmp_path / "exitcode"

    def test_run() -> None:
        tool._child_setup(str(tmp_path))
        child = multiprocessing.get_context("fork").Process(target=int)
        child.start()
        child.join(20)
        code.write_text(str(child.exitcode))
        os._exit(0)

    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(tool._fork, test_run, (), 30).result() is True
    assert code.read_text() == "0"

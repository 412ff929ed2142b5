"""Mutation testing of the security core: change the code one small step at a time, run the tests
that guard it, and list every change ("mutant") that no test notices.

    python tools/mutation.py                                  # every module below
    python tools/mutation.py gateway/outbound/pinning.py gateway/policy/limits.py --jobs 2
    python tools/mutation.py --list gateway/outbound/targets.py        # the mutants' keys, nothing run

Each mutant is one operator change made on the syntax tree: a comparison turned (``==`` and
``!=``, ``<`` and ``<=``, ``in`` and ``not in``, ``is`` and ``is not``), ``and`` and ``or``
swapped, a ``not`` or a unary minus dropped, an arithmetic or bitwise operator swapped, a constant
changed (a number plus one, a boolean flipped, a string wrapped in ``XX``; a string that is an IP
network loses the upper half of its range, ``10.0.0.0/8`` becoming ``10.0.0.0/9``, so that it stays
a network), a return value replaced by ``None``, a ``raise`` or a call statement removed, ``break``
and ``continue`` swapped. Docstrings, annotations, ``__all__`` and the literal text of f-strings are
left alone.

Which tests guard which line comes from coverage: the tests are run once on the unchanged code with
coverage.py recording, per line of the mutated modules, which tests executed it (``--map-tests``
chooses the test files; by default the whole suite). The map is made of the tests that run in their
own process, those not marked ``end_to_end`` (``make test-quick``'s selection): the others start
servers, environments, browsers and clusters, and a mutant they alone would kill is one that the
in-process tests miss, which is worth knowing. ``--end-to-end`` makes the map of every test, as CI
runs them; it makes the run hours longer on a small machine. The map is kept in ``build/mutation/cache/``
under a hash of the sources and tests, and made again when they change. A mutant inside a function
is tested by the tests that executed its line; one made at import time (a module-level constant, a
decorator, a default) by every test that executed the module, or by every test of the map when no
test executed it while running (its code all ran at import, while the tests were collected). Without
coverage.py every test file of the suite is run for every mutant. When a mutant's tests are in several
files, it is first run against the one file that holds the most of them (:func:`first_file`); only
if no test of that file fails on an assertion is it run against them all, quickest files first.
A test that fails in that long run must fail again when run alone on the mutant for the kill to
count (:func:`reproduced`): on a busy machine a timing test of another module can fail there
whatever the mutant. One that passes alone is left out and the others run again; when one more
than :data:`MAX_NOT_REPRODUCED` passes alone, the mutant is reported as an ``error``, undecided.

The run happens in a copy of the project (``build/mutation/``), never in the working tree: the
copy's ``gateway`` package is first on the import path, so the tests and the installed plugins
import the mutated module. Each test run is a fork of the runner, which has the third-party
libraries imported already (and never the gateway), so a run costs only the tests. Hypothesis runs
derandomised, without deadlines and without health checks there (``HYPOTHESIS_PROFILE=mutation``,
see ``conftest.py``).

What becomes of a mutant:

- ``killed``: a test failed; the test and the failure are recorded in ``results.json``. The report
  counts two kinds apart: killed by an assertion (an ``assert`` failed, or a ``pytest.raises`` did
  not get its exception), and killed otherwise (a test failed only on another exception that the
  mutated code raised under it). The tests run until the first failure on an assertion, so a kill is
  counted as one by an assertion whenever any selected test fails on one;
- ``survived``: every selected test passed, or no test executes the mutated line;
- ``invalid``: the mutated module cannot be imported, or none of the tests can be collected: no
  test said anything about the change, so it is not a kill (a test file whose collection alone
  fails on a mutant made inside a function is left out, and the other tests are run);
- ``error``: a fixture failed (setup or teardown) but no test did; not a kill either;
- ``timeout``: the tests ran past their time limit (three times their time on the unchanged code,
  plus 30 s).

Every survivor must be listed, with why it is equivalent, in ``docs/mutation-survivors.md`` (a line
holding the mutant's key in backticks). A key names the module, the function or class, the change
and the code it is made in, never a line number, so it stays the same when code above it moves; a
module that moves to another path is followed by replacing its path in the document. The run exits
1 when a survivor is not listed, or when a listed mutant of a module that was run is no longer a
survivor. The report is written to ``build/mutation/report.md``, and why each mutant died to
``build/mutation/results.json``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import ipaddress
import json
import os
import queue
import re
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SURVIVORS_DOC = ROOT / "docs" / "mutation-survivors.md"
WORK = ROOT / "build" / "mutation"
MAP_FORMAT = 1

# The modules (or package folders) that are mutated.
MODULES: tuple[str, ...] = (
    "gateway/outbound/targets.py",
    "gateway/outbound/addresses.py",
    "gateway/outbound/pinning.py",
    "gateway/signatures.py",
    "gateway/policy",
    "gateway/delivery/schedule.py",
)
# The tests of the map unless --end-to-end is given: those that run in the test's own process.
IN_PROCESS = "not end_to_end"
# Where the tests are (as `make test` runs them).
TEST_ROOTS: tuple[str, ...] = ("tests", "plugins/dynatrace/tests", "plugins/sentry/tests",
                               "examples/event-gateway-webhook/tests")

COMPARE_SWAPS = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
                 ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
               ast.Mod: ast.Mult, ast.Pow: ast.Mult, ast.BitOr: ast.BitAnd, ast.BitAnd: ast.BitOr,
               ast.BitXor: ast.BitOr, ast.LShift: ast.RShift, ast.RShift: ast.LShift}
SYMBOLS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in",
           ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
           ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.BitOr: "|", ast.BitAnd: "&",
           ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>", ast.And: "and", ast.Or: "or"}
SNIPPET = 72  # longest code text in a key


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to ROOT
    index: int  # position of the node in ast.walk order
    variant: int  # which change of that node
    key: str  # stable name: path, function or class, change, code (and #n when repeated)
    line: int  # for people reading the report; not part of the key
    lines: tuple[int, ...]  # the lines whose coverage says which tests run the mutated code
    runtime: bool  # inside a function body (else it takes effect when the module is imported)


# --- making mutants ---------------------------------------------------------------------------

def _skipped_nodes(tree: ast.AST) -> set[int]:
    """Docstrings, annotations, ``__all__``, ``from __future__`` imports and the literal text of
    f-strings (message wording): changing them changes no behaviour."""
    skipped: set[int] = set()

    def skip(node: ast.AST | None) -> None:
        if node is not None:
            skipped.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                skip(body[0])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            skip(node.returns)
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs,
                        node.args.vararg, node.args.kwarg]:
                if arg is not None:
                    skip(arg.annotation)
        if isinstance(node, ast.AnnAssign):
            skip(node.annotation)
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            skip(node)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            skip(node)
        if isinstance(node, ast.JoinedStr):
            skipped.update(id(v) for v in node.values if isinstance(v, ast.Constant))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            skip(node)  # attribute docstrings
    return skipped


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """``value`` as an IP network when it is written as one (``10.0.0.0/8``)."""
    if "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value)
    except ValueError:
        return None


def _narrowed(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """The network without the upper half of its range; a single address becomes the next one."""
    if network.prefixlen < network.max_prefixlen:
        return f"{network.network_address}/{network.prefixlen + 1}"
    return f"{network.network_address + 1}/{network.prefixlen}"


def _changes(node: ast.AST) -> list[str]:
    """What can be changed in ``node``, described; the order matches :func:`_apply`."""
    if isinstance(node, ast.Compare):
        return [f"{SYMBOLS[type(op)]} -> {SYMBOLS[COMPARE_SWAPS[type(op)]]} (comparison {i})"
                for i, op in enumerate(node.ops) if type(op) in COMPARE_SWAPS]
    if isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        return [f"{SYMBOLS[type(node.op)]} -> {SYMBOLS[other]}"]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.Invert)):
        return [f"unary {type(node.op).__name__} dropped"]
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BINOP_SWAPS:
        return [f"{SYMBOLS[type(node.op)]} -> {SYMBOLS[BINOP_SWAPS[type(node.op)]]}"]
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            return [f"{value} -> {not value}"]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return [f"{value!r} -> {value + 1!r}"]
        if isinstance(value, str):
            network = _network(value)
            if network is not None:
                return [f"{_short(value)} -> {_short(_narrowed(network))}"]
            return [f"{_short(value)} -> 'XX...XX'"]
        if isinstance(value, bytes):
            return [f"{_short(value)} -> b'XX...XX'"]
    if isinstance(node, ast.Return) and node.value is not None \
            and not (isinstance(node.value, ast.Constant) and node.value.value is None):
        return ["return value -> None"]
    if isinstance(node, ast.Raise):
        return ["raise removed"]
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return ["call statement removed"]
    if isinstance(node, ast.Break):
        return ["break -> continue"]
    if isinstance(node, ast.Continue):
        return ["continue -> break"]
    return []


def _short(value) -> str:
    text = repr(value).replace("`", "'")
    return text if len(text) <= 40 else text[:37] + "..."


def _apply(node: ast.AST, variant: int) -> ast.AST | None:
    """Change ``node`` in place; return a node to put in its place, or None to keep it."""
    if isinstance(node, ast.Compare):
        positions = [i for i, op in enumerate(node.ops) if type(op) in COMPARE_SWAPS]
        i = positions[variant]
        node.ops[i] = COMPARE_SWAPS[type(node.ops[i])]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        return node.operand
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        node.op = BINOP_SWAPS[type(node.op)]()
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            node.value = not value
        elif isinstance(value, (int, float)):
            node.value = value + 1
        elif isinstance(value, str):
            network = _network(value)
            node.value = _narrowed(network) if network is not None else f"XX{value}XX"
        else:
            node.value = b"XX" + value + b"XX"
    elif isinstance(node, ast.Return):
        node.value = ast.Constant(None)
    elif isinstance(node, (ast.Raise, ast.Expr)):
        return ast.Pass()
    elif isinstance(node, ast.Break):
        return ast.Continue()
    elif isinstance(node, ast.Continue):
        return ast.Break()
    return None


@dataclass
class _Place:
    qualname: str
    runtime: bool
    parent: ast.AST | None
    statement: ast.stmt | None


def _places(tree: ast.Module) -> dict[int, _Place]:
    """For each node: the function or class it is in, whether it runs when that function is called
    (rather than when the module is imported), its parent and the statement it belongs to."""
    places: dict[int, _Place] = {}

    def visit(node: ast.AST, qualname: str, runtime: bool, parent: ast.AST | None, statement: ast.stmt | None):
        if isinstance(node, ast.stmt):
            statement = node
        places[id(node)] = _Place(qualname or "<module>", runtime, parent, statement)
        inner = qualname
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            inner = f"{qualname}.{node.name}" if qualname else node.name
        for name, value in ast.iter_fields(node):
            in_body = runtime or (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                                  and name == "body")
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    visit(child, inner, in_body, node, statement)

    visit(tree, "", False, None, None)
    return places


def _code(node: ast.AST) -> str:
    text = ast.unparse(node).split("\n")[0]
    return " ".join(text.split()).replace("`", "'")


def _snippet(node: ast.AST, places: dict[int, _Place]) -> str:
    """The code a change is made in: the node's own code; for a constant, the code around it
    (``frozen=True``, ``MAX_STATEMENTS = 200``, ``('10.0.0.0/8', 'private')``), wider while short
    (but not past a keyword argument)."""
    text = _code(node)
    if isinstance(node, ast.Constant):
        current = node
        while current is node or len(text) < 20:
            parent = places[id(current)].parent
            if parent is None or isinstance(parent, ast.Module):
                break
            current = parent
            text = _code(current)
            if isinstance(current, (ast.stmt, ast.keyword)):
                break
    return text if len(text) <= SNIPPET else text[:SNIPPET - 3] + "..."


def mutants_of(path: str, source: str | None = None) -> list[Mutant]:
    """Every mutant of the module at ``path`` (its text ``source``, read from the project when not given)."""
    source = (ROOT / path).read_text() if source is None else source
    tree = ast.parse(source, path)
    skipped = _skipped_nodes(tree)
    places = _places(tree)
    found = []
    seen: dict[str, int] = {}
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skipped:
            continue
        for variant, change in enumerate(_changes(node)):
            place = places[id(node)]
            key = f"{path}::{place.qualname}: {change} in {_snippet(node, places)}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key = f"{key} #{seen[key]}"
            line = getattr(node, "lineno", 0)
            lines = set(range(line, getattr(node, "end_lineno", line) + 1))
            if place.statement is not None:
                lines.add(place.statement.lineno)  # coverage counts a statement on its first line
            found.append(Mutant(path, index, variant, key, line, tuple(sorted(lines)), place.runtime))
    return found


def mutated_source(mutant: Mutant, source: str | None = None) -> str:
    """The module's text with ``mutant`` made (``source``: as for :func:`mutants_of`)."""
    source = (ROOT / mutant.path).read_text() if source is None else source
    tree = ast.parse(source, mutant.path)
    nodes = list(ast.walk(tree))
    target = nodes[mutant.index]
    replacement = _apply(target, mutant.variant)
    if replacement is not None:
        for parent in nodes:
            for name, value in ast.iter_fields(parent):
                if value is target:
                    setattr(parent, name, replacement)
                elif isinstance(value, list):
                    for i, item in enumerate(value):
                        if item is target:
                            value[i] = replacement
    return ast.unparse(ast.fix_missing_locations(tree))


def module_files(selected: list[str]) -> list[str]:
    """The files of :data:`MODULES` that ``selected`` (paths or folders; empty: all) names."""
    files = []
    for target in MODULES:
        paths = sorted((ROOT / target).rglob("*.py")) if (ROOT / target).is_dir() else [ROOT / target]
        for path in paths:
            relative = str(path.relative_to(ROOT))
            if not selected or any(relative == s or relative.startswith(s.rstrip("/") + "/") for s in selected):
                files.append(relative)
    return files


# --- running tests in a fork ------------------------------------------------------------------

@dataclass
class TestRecord:
    """What one pytest run said, test by test."""

    exit_code: int | None = None
    passed: list[str] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # nodeid, exception type, message
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # setup/teardown failures
    collection_errors: list[tuple[str, str]] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)


def _first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


# A failed assert (``AssertionError``, also what ``pytest.raises(..., match=...)`` raises on another
# message), or ``pytest.raises`` / ``pytest.fail`` that did not get what it expected (``Failed``).
# Only these are kills by an assertion; any other exception in a test (the mutated code crashed
# under it) is counted apart as "killed otherwise".
ASSERTIONS = ("AssertionError", "Failed")


def _exception_kind(exc: BaseException) -> tuple[str, str]:
    """The type name and first line of ``exc``; for an exception group (Hypothesis reports several
    distinct failures as one), the first assertion inside it, else its first exception."""
    if isinstance(exc, BaseExceptionGroup):
        leaves: list[BaseException] = []

        def flatten(group: BaseExceptionGroup) -> None:
            for inner in group.exceptions:
                flatten(inner) if isinstance(inner, BaseExceptionGroup) else leaves.append(inner)

        flatten(exc)
        chosen = next((e for e in leaves if type(e).__name__ in ASSERTIONS), leaves[0] if leaves else exc)
        if chosen is not exc:
            return _exception_kind(chosen)
    return type(exc).__name__, _first_line(str(exc))


class _Recorder:
    """A pytest plugin that fills a :class:`TestRecord`; with ``stop_on_assertion``, the run stops
    at the first test that fails on an assertion (a failure of another kind lets the other tests
    run, so that an assertion further on can still make the kill). With ``out``, the record is
    written there after each failure too, so that a run stopped at its time limit still says which
    tests failed before."""

    def __init__(self, record: TestRecord, stop_on_assertion: bool = False, out: str | None = None):
        self.record = record
        self.stop_on_assertion = stop_on_assertion
        self.out = out
        self.session = None
        self.exceptions: dict[tuple[str, str], tuple[str, str]] = {}

    def pytest_sessionstart(self, session):
        self.session = session

    def pytest_collectreport(self, report):
        if report.failed:
            self.record.collection_errors.append((report.nodeid, _first_line(report.longreprtext)))

    def _makereport(self, item, call):
        if call.excinfo is not None:
            self.exceptions[(item.nodeid, call.when)] = _exception_kind(call.excinfo.value)

    def pytest_runtest_logreport(self, report):
        record = self.record
        record.durations[report.nodeid] = record.durations.get(report.nodeid, 0.0) + report.duration
        if report.failed:
            kind, message = self.exceptions.get((report.nodeid, report.when), ("?", _first_line(report.longreprtext)))
            (record.failures if report.when == "call" else record.errors).append((report.nodeid, kind, message))
            if self.out is not None:
                _write_result(self.out, {"record": asdict(record), "imports": True, "partial": True})
            if self.stop_on_assertion and report.when == "call" and kind in ASSERTIONS and self.session is not None:
                self.session.shouldstop = f"{report.nodeid} failed on an assertion"
        elif report.when == "call" and report.passed:
            record.passed.append(report.nodeid)


def _recorder_hooks():
    import pytest

    class Recorder(_Recorder):
        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_makereport(self, item, call):
            self._makereport(item, call)

    return Recorder


def _kill(record: TestRecord) -> tuple[str, str, str] | None:
    """The failure that kills: the first on an assertion, else the first of any kind."""
    return next((f for f in record.failures if f[1] in ASSERTIONS), record.failures[0] if record.failures else None)


MAX_NOT_REPRODUCED = 3
"""How many failing tests of a mutant's run of several files may pass alone (and be left out); one
more makes the mutant undecided (``error``) rather than killed."""


def reproduced(payload: dict[str, Any] | None, nodeid: str) -> bool:
    """Whether the run of ``nodeid`` alone on the mutant (its result ``payload``) failed it again."""
    if payload is None or not payload["imports"]:
        return False
    return any(failure[0] == nodeid for failure in _record(payload).failures)


def time_limit(durations: dict[str, float], tests: list[str]) -> float:
    """How long a run of ``tests`` may take: three times their time on the unchanged code, plus 30 s."""
    return 3 * sum(durations.get(t, 1.0) for t in tests) + 30


@dataclass
class SeveralFiles:
    """What :func:`run_of_several_files` found: its last run (``finished``, ``payload``, ``limit``),
    the tests it ran last, and those it left out."""

    finished: bool
    payload: dict[str, Any] | None
    limit: float
    wanted: list[str]
    left_out: list[str]
    not_reproduced: list[str]
    seconds: float

    @property
    def undecided(self) -> bool:
        """More failing tests passed alone than :data:`MAX_NOT_REPRODUCED`: no kill repeats alone."""
        return len(self.not_reproduced) > MAX_NOT_REPRODUCED


def run_of_several_files(run: Callable[[list[str], list[str], float], tuple[bool, dict[str, Any] | None, float]],
                         wanted: list[str], files_to_run: list[str], durations: dict[str, float]) -> SeveralFiles:
    """Run a mutant's ``wanted`` tests of ``files_to_run`` (``run(files, tests, limit)`` gives whether
    it finished, its result and its seconds). A test file whose collection the mutant breaks says
    nothing about it: the others are run without it. A test that fails is run again alone, and a
    kill counts only when it fails there too (:func:`reproduced`); one that passes alone is left out
    and the others run again, at most :data:`MAX_NOT_REPRODUCED` times."""
    left_out: list[str] = []
    not_reproduced: list[str] = []
    seconds = 0.0
    while True:
        limit = time_limit(durations, wanted)
        finished, payload, took = run(files_to_run, wanted, limit)
        seconds += took
        broken = {c[0] for c in payload["record"]["collection_errors"]} if payload and payload["imports"] else set()
        if broken and broken <= set(files_to_run) and broken != set(files_to_run):
            left_out += sorted(broken)
            files_to_run = [f for f in files_to_run if f not in broken]
            wanted = [t for t in wanted if t.split("::")[0] not in broken]
            continue
        failing = _kill(_record(payload)) if payload and payload["imports"] and not broken else None
        if failing is None or len(files_to_run) < 2:
            break
        nodeid = failing[0]
        _, alone, took = run([nodeid.split("::")[0]], [nodeid], time_limit(durations, [nodeid]))
        seconds += took
        if reproduced(alone, nodeid):
            break
        not_reproduced.append(nodeid)
        if len(not_reproduced) > MAX_NOT_REPRODUCED:
            break
        wanted = [t for t in wanted if t != nodeid]
        files_to_run = [f for f in files_to_run if any(t.startswith(f + "::") for t in wanted)]
    return SeveralFiles(finished, payload, limit, wanted, left_out, not_reproduced, seconds)


def first_file(wanted: list[str]) -> str | None:
    """The test file a mutant is first run against alone when its tests are in several files: the
    one that holds the most of them (the module's own test file, as a rule; a tie goes to the first
    by name). Collecting every file whose tests execute a line costs seconds, and most mutants fail
    an assertion of that one file; only a mutant it does not kill that way is run against them all."""
    files = sorted({t.split("::")[0] for t in wanted})
    if len(files) < 2:
        return None
    return max(files, key=lambda f: sum(1 for t in wanted if t.startswith(f + "::")))


class _Selector:
    """A pytest plugin that keeps only the wanted tests."""

    def __init__(self, wanted: set[str]):
        self.wanted = wanted

    def pytest_collection_modifyitems(self, config, items):
        kept = [item for item in items if item.nodeid in self.wanted]
        dropped = [item for item in items if item.nodeid not in self.wanted]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept


class _ContextSwitcher:
    """A pytest plugin that tells coverage which test is running."""

    def __init__(self, cov):
        self.cov = cov

    def pytest_runtest_setup(self, item):
        self.cov.switch_context(item.nodeid)

    def pytest_runtest_logfinish(self, nodeid, location):
        self.cov.switch_context("")


def classify(record: TestRecord, mutant_imports: bool = True) -> tuple[str, str]:
    """What a mutant's test run says: ``killed`` only when a test failed; ``invalid`` when the
    module cannot be imported or the tests cannot be collected; ``error`` when only fixtures failed
    (or no test ran); ``survived`` when every test passed. Returns the outcome and why."""
    if not mutant_imports:
        return "invalid", "the mutated module cannot be imported"
    if record.collection_errors:
        nodeid, message = record.collection_errors[0]
        return "invalid", f"collection of {nodeid or 'the tests'} failed: {message}"
    if record.failures:
        nodeid, kind, message = _kill(record)
        return "killed", f"{nodeid}: {kind}: {message}"
    if record.errors:
        nodeid, kind, message = record.errors[0]
        return "error", f"{nodeid} (fixture): {kind}: {message}"
    if record.exit_code == 0 and record.passed:
        return "survived", f"{len(record.passed)} tests passed"
    return "error", f"pytest exited {record.exit_code} and no test failed"


def _child_setup(copy_root: str) -> None:
    # No bytecode cache: a mutant of the same size written within the same second as the last one
    # would otherwise run the last one's cached bytecode.
    sys.dont_write_bytecode = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.chdir(copy_root)
    sys.path.insert(0, copy_root)
    os.environ.pop("GATEWAY_ALLOW_PRIVATE_TARGETS", None)
    os.environ["HYPOTHESIS_PROFILE"] = "mutation"
    # Forked from a thread of the runner's pool, this process still lists that pool's threads, its
    # own among them, for concurrent.futures to join at exit; a process a test forks from here
    # would then fail at its exit ("cannot join current thread") with exit code 1, whatever the
    # mutant: a kill that is not one. The threads are not in this process, so there is nothing to join.
    import concurrent.futures.thread

    concurrent.futures.thread._threads_queues.clear()


def _pytest_args(copy_root: str, files: list[str], marks: str | None = None) -> list[str]:
    # One rootdir and ini file whatever the files: the plugins' own setup.cfg would change the test ids.
    args = ["-q", "-p", "no:cacheprovider", "--rootdir", copy_root, "-c", str(Path(copy_root) / "setup.cfg")]
    if marks:
        args += ["-m", marks]
    return [*args, *files]


def _write_result(out: str, payload: dict[str, Any]) -> None:
    partial = Path(out + ".part")  # whole or not there: the run may be stopped at its time limit
    partial.write_text(json.dumps(payload))
    partial.replace(out)


def _tests_in_child(copy_root: str, files: list[str], wanted: list[str] | None, module: str | None, out: str) -> None:
    _child_setup(copy_root)
    record = TestRecord()
    try:
        if module is not None:  # a mutant made at import time: does the module still import?
            import importlib

            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001 - any failure to import makes the mutant invalid
                record.collection_errors.append((module, f"{type(exc).__name__}: {_first_line(str(exc))}"))
                _write_result(out, {"record": asdict(record), "imports": False})
                os._exit(0)
        import pytest

        plugins: list[Any] = [_recorder_hooks()(record, stop_on_assertion=True, out=out)]
        if wanted is not None:
            plugins.append(_Selector(set(wanted)))
        record.exit_code = int(pytest.main(_pytest_args(copy_root, files), plugins=plugins))
        _write_result(out, {"record": asdict(record), "imports": True})
    finally:
        os._exit(0)


def _map_in_child(copy_root: str, test_paths: list[str], include: list[str], out: str, marks: str | None) -> None:
    """Run ``test_paths`` (those of them that ``marks`` selects) on the unchanged copy, recording
    which test executed which line of the ``include`` files (when coverage.py is there)."""
    _child_setup(copy_root)
    record = TestRecord()
    lines: dict[str, dict[str, list[str]]] = {}
    try:
        import pytest

        plugins: list[Any] = [_recorder_hooks()(record)]
        cov = None
        try:
            import coverage
        except ImportError:
            pass
        else:
            cov = coverage.Coverage(data_file=None, include=[str(Path(copy_root) / p) for p in include],
                                    config_file=False)
            plugins.append(_ContextSwitcher(cov))
            cov.start()
        record.exit_code = int(pytest.main(_pytest_args(copy_root, test_paths, marks), plugins=plugins))
        if cov is not None:
            cov.stop()
            data = cov.get_data()
            for measured in data.measured_files():
                relative = str(Path(measured).resolve().relative_to(Path(copy_root).resolve()))
                lines[relative] = {str(number): sorted(c for c in contexts if c)
                                   for number, contexts in data.contexts_by_lineno(measured).items()}
        _write_result(out, {"record": asdict(record), "lines": lines if cov is not None else None})
    finally:
        os._exit(0)


def _fork(target, args: tuple, timeout: float) -> bool:
    """Run ``target(*args)`` in a forked child; False when it ran past ``timeout`` (and was killed)."""
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(target=target, args=args)
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return False
    return True


def _record(payload: dict[str, Any]) -> TestRecord:
    raw = payload["record"]
    return TestRecord(exit_code=raw["exit_code"], passed=raw["passed"],
                      failures=[tuple(f) for f in raw["failures"]], errors=[tuple(e) for e in raw["errors"]],
                      collection_errors=[tuple(c) for c in raw["collection_errors"]], durations=raw["durations"])


# --- the test map -----------------------------------------------------------------------------

@dataclass
class TestMap:
    """Which tests executed which line of each mutated module, and how long each test takes."""

    lines: dict[str, dict[int, list[str]]] | None  # None: no coverage; every test guards every module
    durations: dict[str, float]
    failed: list[str]

    def module_tests(self, path: str) -> list[str]:
        """The tests that executed a line of ``path`` while they ran; when none did (a module whose
        code all runs at import, during the collection of the tests, such as a dataclass that only
        declares fields), every test of the map."""
        if self.lines is None:
            return sorted(self.durations)
        executed = {t for tests in self.lines.get(path, {}).values() for t in tests}
        return sorted(executed) if executed else sorted(self.durations)

    def tests_for(self, mutant: Mutant) -> list[str]:
        """The tests that can notice ``mutant``: those that executed its line when it is inside a
        function, every test of its module when it takes effect at import time."""
        if self.lines is None or not mutant.runtime:
            return self.module_tests(mutant.path)
        covered = self.lines.get(mutant.path, {})
        return sorted({t for line in mutant.lines for t in covered.get(line, [])})


def _source_hash(test_paths: list[str], marks: str | None) -> str:
    digest = hashlib.sha256(f"{MAP_FORMAT} {' '.join(test_paths)} -m {marks}".encode())
    for folder in ("gateway", "plugins", "examples", "tests"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".cfg", ".json") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    for name in ("conftest.py", "setup.cfg"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:20]


def test_map(slot: Path, test_paths: list[str], work: Path, marks: str | None = None) -> TestMap:
    """The map for the current sources: from the cache, or made by running ``test_paths`` (those
    of them that the pytest mark expression ``marks`` selects)."""
    cache = work / "cache" / f"testmap-{_source_hash(test_paths, marks)}.json"
    if cache.exists():
        payload = json.loads(cache.read_text())
        print(f"test map: {cache.relative_to(ROOT) if cache.is_relative_to(ROOT) else cache} (cached)", flush=True)
    else:
        print(f"test map: running {' '.join(test_paths)}{f' (-m {marks!r})' if marks else ''} once on the unchanged code"
              f"{'' if _has_coverage() else ' (coverage.py is not installed: every test guards every module)'}",
              flush=True)
        out = slot / "map.json"
        started = time.monotonic()
        if not _fork(_map_in_child, (str(slot / "repo"), test_paths, module_files([]), str(out), marks),
                     timeout=4 * 3600):
            raise SystemExit("the test map run did not finish in 4 hours")
        payload = json.loads(out.read_text())
        print(f"test map made in {time.monotonic() - started:.0f}s", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        if payload["record"]["exit_code"] not in (0, 1) and not payload["record"]["passed"]:
            problems = [f"{n}: {m}" for n, m in payload["record"]["collection_errors"]]
            raise SystemExit(f"the test map run failed (pytest exit {payload['record']['exit_code']})"
                             + "".join(f"\n  {p}" for p in problems))
        cache.write_text(json.dumps(payload))
    record = _record(payload)
    lines = None
    if payload["lines"] is not None:
        lines = {path: {int(n): tests for n, tests in by_line.items()} for path, by_line in payload["lines"].items()}
    failed = sorted({f[0] for f in record.failures} | {e[0] for e in record.errors})
    passed = set(record.passed)
    durations = {t: d for t, d in record.durations.items() if t in passed}
    return TestMap(lines, durations, failed)


def _has_coverage() -> bool:
    try:
        import coverage  # noqa: F401
    except ImportError:
        return False
    return True


# --- the run ----------------------------------------------------------------------------------

def _copy_project(destination: Path) -> None:
    if destination.exists():
        shutil.rmtree(destination)
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "__pycache__", ".pytest_cache", ".hypothesis",
                                    "*.egg-info", "instance")
    shutil.copytree(ROOT, destination / "repo", ignore=ignore)
    shared = (ROOT.parent / "shared").resolve()
    (destination / "shared").symlink_to(shared, target_is_directory=True)


PRELOAD = ("flask", "sqlalchemy", "requests", "urllib3", "marshmallow", "pluggy", "waitress", "cryptography",
           "apispec", "prometheus_client", "hypothesis", "requests_mock", "pytest", "click", "werkzeug", "coverage")


def _preload() -> None:
    """Import the third-party libraries once, so that each test run (a fork of this process) only
    imports the gateway and the tests. The gateway itself is never imported here."""
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def documented_survivors() -> set[str]:
    """The mutant keys listed in docs/mutation-survivors.md."""
    if not SURVIVORS_DOC.exists():
        return set()
    return {key for key in re.findall(r"`(gateway/[^`]+)`", SURVIVORS_DOC.read_text()) if "::" in key}


@dataclass
class Outcome:
    key: str
    module: str
    line: int
    outcome: str  # killed, survived, invalid, error, timeout
    why: str
    tests: int
    seconds: float
    failure: str = ""  # a killed mutant's failing test's exception type (AssertionError, Failed, ...)


def _dotted(path: str) -> str:
    return path[:-3].replace("/", ".").removesuffix(".__init__")


def run(selected: list[str], jobs: int, work: Path = WORK, keys: set[str] | None = None,
        test_paths: list[str] | None = None, end_to_end: bool = False) -> int:
    files = module_files(selected)
    if not files:
        print(f"no module of {', '.join(MODULES)} matches {' '.join(selected)}")
        return 2
    test_paths = test_paths or [p for p in TEST_ROOTS if (ROOT / p).exists()]
    _preload()
    slots = [work / f"slot{i}" for i in range(jobs)]
    free: queue.Queue[Path] = queue.Queue()
    for slot in slots:
        _copy_project(slot)
        free.put(slot)
    tests = test_map(slots[0], test_paths, work, None if end_to_end else IN_PROCESS)
    broken = [t for t in tests.failed if any(t in tests.module_tests(path) for path in files)] \
        if tests.lines is not None else tests.failed
    if broken:
        print("these tests fail on the unchanged code; fix them first:\n  " + "\n  ".join(broken))
        return 2
    results: dict[str, list[Outcome]] = {}
    for path in files:
        mutants = [m for m in mutants_of(path) if keys is None or m.key in keys]
        if not mutants:
            continue
        guarding = tests.module_tests(path)
        print(f"{path}: {len(mutants)} mutants, {len(guarding)} tests execute it", flush=True)
        module_started = time.monotonic()
        original = (ROOT / path).read_text()

        def attempt(mutant: Mutant) -> Outcome:
            wanted = tests.tests_for(mutant)
            if not wanted:
                return Outcome(mutant.key, path, mutant.line, "survived", "no test executes this code", 0, 0.0)
            # The quickest test files first: the run stops at the first failing assertion, so a
            # mutant a quick unit test kills costs only that test.
            files_to_run = sorted({t.split("::")[0] for t in wanted},
                                  key=lambda f: (sum(tests.durations.get(t, 1.0) for t in wanted
                                                     if t.startswith(f + "::")), f))
            spent = 0.0
            first = first_file(wanted)
            if first is not None:
                first_wanted = [t for t in wanted if t.startswith(first + "::")]
                limit = time_limit(tests.durations, first_wanted)
                _, payload, spent = run_tests(mutant, [first], first_wanted, limit)
                if payload is not None and payload["imports"]:
                    record = _record(payload)
                    kill = _kill(record)
                    if kill is not None and kill[1] in ASSERTIONS and not record.collection_errors:
                        outcome, why = classify(record)
                        return Outcome(mutant.key, path, mutant.line, outcome, why, len(first_wanted), spent,
                                       kill[1])
            runs = run_of_several_files(lambda f, w, limit: run_tests(mutant, f, w, limit), wanted, files_to_run,
                                        tests.durations)
            finished, payload, limit, wanted = runs.finished, runs.payload, runs.limit, runs.wanted
            left_out, not_reproduced, seconds = runs.left_out, runs.not_reproduced, spent + runs.seconds
            if not finished and not (payload and payload["record"]["failures"]):
                return Outcome(mutant.key, path, mutant.line, "timeout", f"ran past {limit:.0f}s", len(wanted), seconds)
            if payload is None:
                return Outcome(mutant.key, path, mutant.line, "error", "the test run left no result", len(wanted),
                               seconds)
            record = _record(payload)
            outcome, why = classify(record, payload["imports"])
            if not finished:  # tests had failed before the run was stopped at its time limit
                why += f" (the run was then stopped at {limit:.0f}s)"
            if left_out:
                why += f" (left out, their collection failed on the mutant: {', '.join(left_out)})"
            if not_reproduced:
                why += f" (left out, they failed in the whole run but passed alone: {', '.join(not_reproduced)})"
                if runs.undecided:
                    outcome = "error"  # still no kill that a test repeats alone
            kill = _kill(record) if outcome == "killed" else None
            return Outcome(mutant.key, path, mutant.line, outcome, why, len(wanted), seconds, kill[1] if kill else "")

        def run_tests(mutant: Mutant, files_to_run: list[str], wanted: list[str], limit: float):
            slot = free.get()  # a copy no other run is using
            target = slot / "repo" / path
            out = slot / "result.json"
            started = time.monotonic()
            try:
                out.unlink(missing_ok=True)
                target.write_text(mutated_source(mutant))
                module = None if mutant.runtime else _dotted(path)
                finished = _fork(_tests_in_child, (str(slot / "repo"), files_to_run, wanted, module, str(out)), limit)
                payload = json.loads(out.read_text()) if out.exists() else None
            finally:
                target.write_text(original)
                free.put(slot)
            return finished, payload, time.monotonic() - started

        outcomes: list[Outcome] = []
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for result in pool.map(attempt, mutants):
                outcomes.append(result)
                if result.outcome in ("survived", "error", "timeout"):
                    print(f"  {result.outcome}: {result.key} (line {result.line}; {result.why})", flush=True)
                elif len(outcomes) % 25 == 0:
                    print(f"  {len(outcomes)}/{len(mutants)}", flush=True)
        results[path] = outcomes
        counts = {name: sum(1 for o in outcomes if o.outcome == name)
                  for name in ("killed", "survived", "invalid", "error", "timeout")}
        print("  " + ", ".join(f"{name} {count}" for name, count in counts.items())
              + f" ({time.monotonic() - module_started:.0f}s)", flush=True)
    return report(results, work, complete=keys is None)


def _column(outcome: Outcome) -> str:
    """Where the report counts ``outcome``: a kill by an assertion or otherwise, or its outcome."""
    if outcome.outcome == "killed":
        return "asserted" if outcome.failure in ASSERTIONS else "otherwise"
    return outcome.outcome


def report(results: dict[str, list[Outcome]], work: Path = WORK, complete: bool = True) -> int:
    documented = documented_survivors()
    columns = ("asserted", "otherwise", "survived", "invalid", "error", "timeout")
    lines = ["# Mutation run", "",
             "A kill by an assertion: a test failed on an assert or on a `pytest.raises` that did not get its "
             "exception. Killed otherwise: no test failed on an assertion, but one failed on another exception "
             "the mutated code raised under it.", "",
             "| module | mutants | killed by an assertion | killed otherwise | survived | listed as equivalent "
             "| invalid | error | timed out |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    undocumented: list[Outcome] = []
    stale: list[str] = []
    total = dict.fromkeys(("mutants", "listed", *columns), 0)
    for path, outcomes in results.items():
        count = {name: sum(1 for o in outcomes if _column(o) == name) for name in columns}
        survivors = [o for o in outcomes if o.outcome == "survived"]
        listed = [o for o in survivors if o.key in documented]
        undocumented.extend(o for o in survivors if o.key not in documented)
        if complete:
            alive = {o.key for o in survivors}
            stale.extend(k for k in sorted(documented) if k.startswith(path + "::") and k not in alive)
        lines.append(f"| {path} | {len(outcomes)} | {count['asserted']} | {count['otherwise']} | {count['survived']} "
                     f"| {len(listed)} | {count['invalid']} | {count['error']} | {count['timeout']} |")
        total["mutants"] += len(outcomes)
        total["listed"] += len(listed)
        for name in columns:
            total[name] += count[name]
    lines.append(f"| **all** | {total['mutants']} | {total['asserted']} | {total['otherwise']} | {total['survived']} "
                 f"| {total['listed']} | {total['invalid']} | {total['error']} | {total['timeout']} |")
    lines += ["", "## Survivors not listed in docs/mutation-survivors.md", ""]
    lines += [f"- `{o.key}` (line {o.line}; {o.why})" for o in undocumented] or ["none"]
    lines += ["", "## Listed in docs/mutation-survivors.md but no longer surviving", ""]
    lines += [f"- `{key}`" for key in stale] or ["none"]
    everything = [o for outcomes in results.values() for o in outcomes]
    lines += ["", "## Killed otherwise (a test failed, but on no assertion)", ""]
    lines += [f"- `{o.key}` (line {o.line}; {o.why})" for o in everything if _column(o) == "otherwise"] or ["none"]
    lines += ["", "## Invalid, error and timed-out mutants (not kills)", ""]
    lines += [f"- {o.outcome}: `{o.key}` (line {o.line}; {o.why})" for o in everything
              if o.outcome in ("invalid", "error", "timeout")] or ["none"]
    work.mkdir(parents=True, exist_ok=True)
    (work / "report.md").write_text("\n".join(lines) + "\n")
    (work / "results.json").write_text(json.dumps([asdict(o) for o in everything], indent=1) + "\n")
    print("\n".join(lines))
    return 1 if undocumented or stale else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="only these modules or folders (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--list", action="store_true", help="only list the mutants' keys")
    parser.add_argument("--keys", type=Path, help="only the mutants whose keys this file lists, one a line")
    parser.add_argument("--map-tests", nargs="+", metavar="PATH",
                        help=f"the test files or folders the test map is made from (default: {' '.join(TEST_ROOTS)})")
    parser.add_argument("--end-to-end", action="store_true",
                        help="make the test map with the end_to_end tests too (hours longer; see above)")
    parser.add_argument("--work", type=Path, default=WORK, help=f"folder of the copies and the report (default {WORK})")
    args = parser.parse_args(argv)
    if args.list:
        for path in module_files(args.modules):
            for mutant in mutants_of(path):
                print(mutant.key)
        return 0
    keys = set(args.keys.read_text().split("\n")) - {""} if args.keys else None
    return run(args.modules, max(1, args.jobs), args.work.resolve(), keys, args.map_tests, args.end_to_end)


if __name__ == "__main__":
    sys.exit(main())

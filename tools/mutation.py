"""Mutation testing of the security core: change the code one small step at a time, run the tests
that guard it, and list every change ("mutant") that no test notices.

    python tools/mutation.py                 # every module below
    python tools/mutation.py gateway/outbound/targets.py --jobs 2

Each mutant is one operator change made on the syntax tree: a comparison turned (``==`` and
``!=``, ``<`` and ``<=``, ``in`` and ``not in``, ``is`` and ``is not``), ``and`` and ``or``
swapped, a ``not`` or a unary minus dropped, an arithmetic or bitwise operator swapped, a constant
changed (a number plus one, a boolean flipped, a string wrapped in ``XX``), a return value replaced
by ``None``, a ``raise`` or a call statement removed, ``break`` and ``continue`` swapped.
Docstrings, annotations, ``__all__`` and the literal text of f-strings are left alone.

The run happens in a copy of the project (``build/mutation/``), never in the working tree: the
copy's ``gateway`` package is first on the import path, so the tests and the installed plugins
import the mutated module. Each test run is a fork of the runner, which has the third-party
libraries imported already (and never the gateway), so a run costs only the tests. A mutant is killed when a test fails or the run exceeds its time limit.

Every survivor must be listed, with why it is equivalent, in ``docs/mutation-survivors.md`` (a
line holding the mutant's key in backticks). The run exits 1 when a survivor is not listed there.
The report of the last run is written to ``build/mutation/report.md``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import queue
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SURVIVORS_DOC = ROOT / "docs" / "mutation-survivors.md"
WORK = ROOT / "build" / "mutation"

# module (or package folder) -> the tests that guard it
TARGETS: dict[str, list[str]] = {
    "gateway/outbound/targets.py": ["tests/test_targets.py", "tests/test_pinning.py", "tests/test_target_urls_api.py",
                           "tests/test_delivery_http.py"],
    "gateway/outbound/addresses.py": ["tests/test_targets.py", "tests/test_target_urls_api.py"],
    "gateway/signatures.py": ["tests/test_signatures.py", "plugins/sentry/tests/test_signature.py"],
    "gateway/policy": ["tests/test_policy_globs.py", "tests/test_policy_accesses.py", "tests/test_policy_engine_edges.py",
                       "tests/test_policy_resource_types.py",
                       "tests/test_policy_engine.py",
                       "tests/test_policy_properties.py",
                       "tests/test_policy_api.py"],
    "gateway/delivery/schedule.py": ["tests/test_delivery_schedule.py"],
}

COMPARE_SWAPS = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
                 ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
               ast.Mod: ast.Mult, ast.Pow: ast.Mult, ast.BitOr: ast.BitAnd, ast.BitAnd: ast.BitOr,
               ast.BitXor: ast.BitOr, ast.LShift: ast.RShift, ast.RShift: ast.LShift}
SYMBOLS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in",
           ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
           ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.BitOr: "|", ast.BitAnd: "&",
           ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>", ast.And: "and", ast.Or: "or"}


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to ROOT
    index: int  # position of the node in ast.walk order
    variant: int  # which change of that node
    line: int
    col: int
    change: str

    @property
    def key(self) -> str:
        return f"{self.path}:{self.line}:{self.col} {self.change}"


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
            node.value = f"XX{value}XX"
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


def mutants_of(path: str) -> list[Mutant]:
    tree = ast.parse((ROOT / path).read_text(), path)
    skipped = _skipped_nodes(tree)
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skipped:
            continue
        for variant, change in enumerate(_changes(node)):
            found.append(Mutant(path, index, variant, getattr(node, "lineno", 0), getattr(node, "col_offset", 0), change))
    return found


def mutated_source(mutant: Mutant) -> str:
    tree = ast.parse((ROOT / mutant.path).read_text(), mutant.path)
    nodes = list(ast.walk(tree))
    target = nodes[mutant.index]
    replacement = _apply(target, mutant.variant)
    if replacement is not None:
        for parent in nodes:
            for field, value in ast.iter_fields(parent):
                if value is target:
                    setattr(parent, field, replacement)
                elif isinstance(value, list):
                    for i, item in enumerate(value):
                        if item is target:
                            value[i] = replacement
    return ast.unparse(ast.fix_missing_locations(tree))


def _copy_project(destination: Path) -> None:
    if destination.exists():
        shutil.rmtree(destination)
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "__pycache__", ".pytest_cache", ".hypothesis",
                                    "*.egg-info", "instance")
    shutil.copytree(ROOT, destination / "repo", ignore=ignore)
    shared = (ROOT.parent / "shared").resolve()
    (destination / "shared").symlink_to(shared, target_is_directory=True)


PRELOAD = ("flask", "sqlalchemy", "requests", "urllib3", "marshmallow", "pluggy", "waitress", "cryptography",
           "apispec", "prometheus_client", "hypothesis", "requests_mock", "pytest", "click", "werkzeug")


def _preload() -> None:
    """Import the third-party libraries once, so that each test run (a fork of this process) only
    imports the gateway and the tests. The gateway itself is never imported here."""
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _pytest_in_child(copy_root: str, tests: list[str]) -> None:
    # No bytecode cache: a mutant of the same size written within the same second as the last one
    # would otherwise run the last one's cached bytecode.
    sys.dont_write_bytecode = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.chdir(copy_root)
    sys.path.insert(0, copy_root)
    os.environ.pop("GATEWAY_ALLOW_PRIVATE_TARGETS", None)
    import pytest

    code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", *tests])
    os._exit(int(code))


def _run_tests(copy_root: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    """Run ``tests`` against the copy in a forked child; ``survived`` when they all pass."""
    import multiprocessing

    started = time.monotonic()
    child = multiprocessing.get_context("fork").Process(target=_pytest_in_child, args=(str(copy_root), tests))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return "timeout", time.monotonic() - started
    return ("survived" if child.exitcode == 0 else "killed"), time.monotonic() - started


def documented_survivors() -> set[str]:
    if not SURVIVORS_DOC.exists():
        return set()
    return set(re.findall(r"`(gateway/[^`]+)`", SURVIVORS_DOC.read_text()))


def run(selected: list[str], jobs: int, work: Path = WORK, keys: set[str] | None = None) -> int:
    modules: list[tuple[str, list[str]]] = []
    for target, tests in TARGETS.items():
        if selected and not any(target.startswith(s.rstrip("/")) or s.startswith(target) for s in selected):
            continue
        if (ROOT / target).is_dir():
            for path in sorted((ROOT / target).rglob("*.py")):
                relative = str(path.relative_to(ROOT))
                if not selected or any(relative.startswith(s.rstrip("/")) for s in selected):
                    modules.append((relative, tests))
        else:
            modules.append((target, tests))
    _preload()
    slots = [work / f"slot{i}" for i in range(jobs)]
    free: queue.Queue[Path] = queue.Queue()
    for slot in slots:
        _copy_project(slot)
        free.put(slot)
    results: dict[str, list[tuple[Mutant, str]]] = {}
    baseline: dict[tuple[str, ...], float] = {}
    for path, tests in modules:
        key = tuple(tests)
        if key not in baseline:
            outcome, seconds = _run_tests(slots[0] / "repo", tests, timeout=900)
            if outcome != "survived":
                print(f"the tests {' '.join(tests)} do not pass on the unchanged code: fix that first")
                return 2
            baseline[key] = seconds
        mutants = [m for m in mutants_of(path) if keys is None or m.key in keys]
        if not mutants:
            continue
        limit = baseline[key] * 3 + 15
        print(f"{path}: {len(mutants)} mutants (tests take {baseline[key]:.1f}s)", flush=True)
        original = (ROOT / path).read_text()

        def attempt(numbered: tuple[int, Mutant]) -> tuple[Mutant, str]:
            _, mutant = numbered
            slot = free.get()  # a copy no other run is using
            target = slot / "repo" / mutant.path
            try:
                target.write_text(mutated_source(mutant))
                outcome, _ = _run_tests(slot / "repo", list(tests), timeout=limit)
            finally:
                target.write_text(original)
                free.put(slot)
            return mutant, outcome

        outcomes = []
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for mutant, outcome in pool.map(attempt, enumerate(mutants)):
                outcomes.append((mutant, outcome))
                if outcome == "survived":
                    print(f"  survived: {mutant.key}", flush=True)
                elif len(outcomes) % 25 == 0:
                    print(f"  {len(outcomes)}/{len(mutants)}", flush=True)
        results[path] = outcomes
        survived = sum(1 for _, o in outcomes if o == "survived")
        print(f"  killed {len(outcomes) - survived}, survived {survived}", flush=True)
    return report(results, work)


def report(results: dict[str, list[tuple[Mutant, str]]], work: Path = WORK) -> int:
    documented = documented_survivors()
    lines = ["# Mutation run", "", "| module | mutants | killed | timed out | survived | listed as equivalent |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    undocumented: list[Mutant] = []
    total = {"mutants": 0, "killed": 0, "timeout": 0, "survived": 0, "listed": 0}
    for path, outcomes in results.items():
        killed = sum(1 for _, o in outcomes if o == "killed")
        timeout = sum(1 for _, o in outcomes if o == "timeout")
        survivors = [m for m, o in outcomes if o == "survived"]
        listed = [m for m in survivors if m.key in documented]
        undocumented.extend(m for m in survivors if m.key not in documented)
        lines.append(f"| {path} | {len(outcomes)} | {killed} | {timeout} | {len(survivors)} | {len(listed)} |")
        for name, value in (("mutants", len(outcomes)), ("killed", killed), ("timeout", timeout),
                            ("survived", len(survivors)), ("listed", len(listed))):
            total[name] += value
    lines.append(f"| **all** | {total['mutants']} | {total['killed']} | {total['timeout']} | {total['survived']} "
                 f"| {total['listed']} |")
    lines += ["", "## Survivors not listed in docs/mutation-survivors.md", ""]
    lines += [f"- `{m.key}`" for m in undocumented] or ["none"]
    work.mkdir(parents=True, exist_ok=True)
    (work / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if undocumented else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="only these modules or folders (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument("--keys", type=Path, help="only the mutants whose keys this file lists, one a line")
    parser.add_argument("--work", type=Path, default=WORK, help=f"folder of the copies and the report (default {WORK})")
    args = parser.parse_args(argv)
    if args.list:
        for target in TARGETS:
            paths = sorted((ROOT / target).rglob("*.py")) if (ROOT / target).is_dir() else [ROOT / target]
            for path in paths:
                for mutant in mutants_of(str(path.relative_to(ROOT))):
                    print(mutant.key)
        return 0
    keys = set(args.keys.read_text().split("\n")) - {""} if args.keys else None
    return run(args.modules, max(1, args.jobs), args.work, keys)


if __name__ == "__main__":
    sys.exit(main())

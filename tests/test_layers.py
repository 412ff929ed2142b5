"""The import directions of gateway/ (docs/architecture.md) hold: the contracts in ``.importlinter``,
checked with import-linter. A change that imports against a direction fails here, with the chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# In a process of its own: import-linter configures logging, which would silence the gateway's loggers
# for the tests that run after this one.
LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))")


def test_the_import_contracts_are_kept():
    result = subprocess.run([sys.executable, "-c", LINT, str(ROOT / ".importlinter")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_of_the_map_is_in_the_layers():
    """A new package or top-level module of gateway/ gets a place in the layers (and the map)."""
    config = (ROOT / ".importlinter").read_text()
    layers = config.split("layers =", 1)[1].split("[importlinter:contract:", 1)[0]
    listed = {name.strip() for line in layers.splitlines() for name in line.replace("|", ":").split(":")}
    unlisted_ok = {"__init__", "__main__", "hooks", "testing", "kit"}  # public faces and the kit, outside the layers
    present = {p.stem for p in (ROOT / "gateway").iterdir()
               if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "py.typed"}
    assert present - unlisted_ok <= listed, sorted(present - unlisted_ok - listed)


def test_no_import_circle_anywhere_in_the_gateway():
    """No module reaches itself through imports, counting imports inside functions (type-check-only
    imports aside). The contracts see circles between siblings; this sees the rest, such as a route
    module importing its own package (import a blueprint from ``api/blueprint.py`` or ``ui/blueprint.py``)."""
    import grimp

    graph = grimp.build_graph("gateway", exclude_type_checking_imports=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert not circles, "\n".join(" <-> ".join(circle) for circle in circles)

"""The import directions of gateway/ (docs/architecture.md) hold: the contracts in ``.importlinter``,
checked with import-linter. A change that imports against a direction fails here, with the chain."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_are_kept(capsys):
    status = lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert status == 0, report


def test_every_package_of_the_map_is_in_the_layers():
    """A new package or top-level module of gateway/ gets a place in the layers (and the map)."""
    config = (ROOT / ".importlinter").read_text()
    layers = config.split("layers =", 1)[1].split("[importlinter:contract:", 1)[0]
    listed = {name.strip() for line in layers.splitlines() for name in line.replace("|", ":").split(":")}
    unlisted_ok = {"__init__", "__main__", "hooks", "testing", "kit"}  # public faces and the kit, outside the layers
    present = {p.stem for p in (ROOT / "gateway").iterdir()
               if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "py.typed"}
    assert present - unlisted_ok <= listed, sorted(present - unlisted_ok - listed)

"""``event-gateway plugins``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..state import get_state
from .output import emit


@click.command("plugins")
@click.option("--all", "show_all", is_flag=True, help="Also list built-in, refused and filtered-out plugins.")
@with_appcontext
def plugins(show_all: bool) -> None:
    """List installed plugins (JSON: key, distribution, version, hooks)."""
    state = get_state()
    items = [
        {"key": p.key, "name": p.name, "kind": p.kind, "distribution": p.distribution,
         "version": p.version, "hooks": p.hooks}
        for p in sorted(state.host.plugins.values(), key=lambda p: p.key)
        if show_all or not p.builtin
    ]
    if not show_all:
        emit(items)
        return
    emit({
        "loaded": items,
        "refused": [{"name": r.name, "distribution": r.distribution, "version": r.version, "error": r.error}
                    for r in state.host.refused],
        "filtered": [{"name": f.name, "distribution": f.distribution, "version": f.version,
                      "reason": "not listed in GATEWAY_PLUGINS"} for f in state.host.filtered],
    })

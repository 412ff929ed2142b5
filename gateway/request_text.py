"""The request's own text (path, query parameters, form fields) refused when it holds a NUL.

PostgreSQL cannot store a NUL character (``\\x00``) in text, and a NUL written to a log can cut the
line short for the tools that read it, so a request that carries one anywhere is refused with a 400
before it reaches a view, on every database. JSON bodies are checked by :mod:`gateway.strict_json`.
"""

from __future__ import annotations

from flask import request

NUL = "\x00"


def _printable(name: str) -> str:
    return name.replace(NUL, "\\u0000")


def nul_problem(forms: bool = False) -> str | None:
    """What holds a NUL in the request's path or query (and, with ``forms``, its form fields), said
    without the NUL itself; None when nothing does."""
    if NUL in request.path:
        return "the path holds a NUL character (\\u0000), which is refused"
    sources = [("query parameter", request.args)]
    if forms and request.method == "POST":
        sources.append(("form field", request.form))
    for where, values in sources:
        for key, value in values.items(multi=True):
            if NUL in key or NUL in value:
                return f"the {where} {_printable(key)!r} holds a NUL character (\\u0000), which is refused"
    return None

"""The answer to a request that needs the database while it is unavailable: 503 with ``Retry-After``.

:func:`install` registers :func:`answer_unavailable` on the app itself (not on a blueprint), so
every route — webhooks, the admin API, and any blueprint added later — answers the same way. The
body is JSON: ``{"error": "...", "reason": "...", "retry_after": N}``; nothing the request would
have stored was stored (its transaction was rolled back). An error that does not mean the database
is unavailable is left to Flask, unchanged.
"""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy.exc import SQLAlchemyError

from gateway.host.state import get_state
from gateway.store.unavailable import unavailable


def answer_unavailable(error: SQLAlchemyError):
    problem = unavailable(error)
    if problem is None:
        raise error  # not ours to answer: Flask's usual handling
    watch = get_state().db_watch
    watch.refused(problem, ours=watch.seen(error))
    seconds = watch.retry_after
    response = jsonify(
        error=f"database unavailable: {problem.description}; the request was not carried out and nothing "
              f"was stored. Try again in {seconds} s",
        reason=problem.reason, retry_after=seconds)
    response.status_code = 503
    response.headers["Retry-After"] = str(seconds)
    response.headers["Cache-Control"] = "no-store"
    return response


def install(app: Flask) -> None:
    app.register_error_handler(SQLAlchemyError, answer_unavailable)

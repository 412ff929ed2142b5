"""The answer to a request that needs the database while it is unavailable: 503 with ``Retry-After``.

:func:`install` registers :func:`answer_unavailable` on the app itself (not on a blueprint), so
every route — webhooks, the admin API, and any blueprint added later — answers the same way; it
also leaves :func:`outage_answer` in ``app.extensions`` for the blueprints' own database-error
handler (:func:`gateway.responses.handle_database_error`), which would otherwise win. The
body is JSON: ``{"error": "...", "reason": "...", "retry_after": N}``; nothing the request would
have stored was stored (its transaction was rolled back). An error that does not mean the database
is unavailable is left to Flask, unchanged.
"""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy.exc import SQLAlchemyError

from gateway.host.state import get_state
from gateway.responses import OUTAGE_ANSWER
from gateway.store.unavailable import unavailable


def outage_answer(error: SQLAlchemyError):
    """The 503 answer when ``error`` means the database is unavailable, else None."""
    problem = unavailable(error)
    if problem is None:
        return None
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


def answer_unavailable(error: SQLAlchemyError):
    response = outage_answer(error)
    if response is None:
        raise error  # not ours to answer: Flask's usual handling
    return response


def install(app: Flask) -> None:
    app.register_error_handler(SQLAlchemyError, answer_unavailable)
    app.extensions[OUTAGE_ANSWER] = outage_answer

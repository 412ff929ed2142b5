"""JSON answers and errors shared by the blueprints."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect


log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered as ``{"error": message}`` (plus ``errors`` for field errors)."""

    def __init__(self, status: int, message: str, errors: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def error_response(status: int, message: str, errors: dict[str, Any] | None = None):
    body: dict[str, Any] = {"error": message}
    if errors is not None:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    return response


def refuse_nul() -> None:
    """A blueprint's ``before_request``: a 400 when the path or a query parameter holds a NUL
    (:mod:`gateway.request_text`)."""
    from gateway.request_text import nul_problem

    problem = nul_problem()
    if problem:
        raise ApiError(400, problem)


def handle_api_error(exc: ApiError):
    return error_response(exc.status, exc.message, exc.errors)


def handle_http_exception(exc: HTTPException):
    """Any HTTP error (werkzeug's or Flask's) as ``{"error": ...}``, keeping its headers (``Allow``,
    ``Retry-After``, ...)."""
    if exc.code is None:  # a wrapped response, not an error
        return exc
    response = error_response(exc.code, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def handle_uncaught(exc: Exception):
    """An error no other handler took: logged with its traceback, answered as a JSON 500 that says
    nothing about it (no message, no value), so nothing internal reaches the sender."""
    log.error("unhandled error answering %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, "internal error; the gateway's log has the details")


def answer_errors_as_json(target) -> None:
    """Make every error answer of ``target`` (a blueprint, or the standalone app) JSON: HTTP errors
    keep their status and message, anything else is a logged 500."""
    target.register_error_handler(ApiError, handle_api_error)
    target.register_error_handler(HTTPException, handle_http_exception)
    target.register_error_handler(Exception, handle_uncaught)
    target.register_error_handler(SQLAlchemyError, handle_database_error)


OUTAGE_ANSWER = "event_gateway.outage_answer"
"""Key in ``app.extensions`` of the app's answer to a database error: the 503 while the database is
unavailable, or None for any other error (installed by :func:`gateway.runtime.outage.answer.install`)."""


def handle_database_error(error: SQLAlchemyError):
    """A database error: 503 with ``Retry-After`` when the database is unavailable (a blueprint's
    handler wins over the app's, so the app's outage answer is asked here too), else a logged 500."""
    answer = current_app.extensions.get(OUTAGE_ANSWER)
    response = answer(error) if answer is not None else None
    if response is None:
        return handle_uncaught(error)
    return response


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def allowed_methods() -> list[str]:
    """The methods the request's path answers, by the gateway's real routes (a blueprint's catch-all
    route, which takes every method only to answer JSON errors, does not count)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ALL_METHODS:
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except (NotFound, MethodNotAllowed, RequestRedirect):
            continue
        if not endpoint.endswith(".unmatched"):
            allowed.append(method)
    return allowed


def answer_options():
    """A blueprint's ``before_request`` for ``OPTIONS``: ``Allow`` lists exactly the methods of the
    path's real routes (Flask's own answer would list every method of the catch-all route too)."""
    if request.method != "OPTIONS":
        return None
    allowed = allowed_methods()
    if not allowed or allowed == ["OPTIONS"]:
        return None  # no real route here: the catch-all answers 404
    response = current_app.response_class(status=204)
    response.headers["Allow"] = ", ".join(allowed)
    return response


def unmatched(path: str = ""):
    """The view of a blueprint's catch-all route: a JSON 405 (with ``Allow``) when another route has
    this path, a JSON 404 otherwise. Without it, Flask answers these with HTML."""
    allowed = [method for method in allowed_methods() if method != request.method]
    if allowed:
        response = error_response(405, f"{request.method} is not allowed here; use {', '.join(allowed)}")
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return error_response(404, f"nothing at {request.path}")

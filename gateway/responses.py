"""JSON answers and errors shared by the blueprints."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from werkzeug.exceptions import HTTPException


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


def handle_api_error(exc: ApiError):
    return error_response(exc.status, exc.message, exc.errors)


def handle_http_exception(exc: HTTPException):
    response = error_response(exc.code or 500, exc.description or exc.name)
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response

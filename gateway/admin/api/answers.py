"""Answering through the documented schemas: every JSON answer of the admin API is dumped by the
marshmallow schema that the OpenAPI document shows for it, so the two cannot drift apart."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import jsonify
from marshmallow import Schema

from gateway.admin import schemas


@lru_cache(maxsize=None)
def _schema(name: str) -> Schema:
    return getattr(schemas, f"{name}Schema")()


def answer(name: str, data: Any, status: int = 200):
    """``data`` dumped by the schema called ``name`` (``"Integration"`` for ``IntegrationSchema``)."""
    response = jsonify(_schema(name).dump(data))
    response.status_code = status
    return response

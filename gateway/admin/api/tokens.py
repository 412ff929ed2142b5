"""``/api/v1/tokens``: named tokens with a role: list, create (the secret is answered once), revoke."""

from __future__ import annotations

from gateway.admin import tokens
from gateway.host.state import get_state
from gateway.admin.api import serialize
from gateway.admin.api.blueprint import bp, json_body
from gateway.admin.api.answers import answer


def _shown(row) -> dict:
    data = tokens.shown(row)
    for key in ("created_at", "revoked_at", "last_used_at"):
        data[key] = serialize.iso(data[key])
    return data


@bp.get("/tokens")
def list_tokens():
    return answer("TokenList", {"items": [_shown(row) for row in get_state().db.api_tokens.list()]})


@bp.post("/tokens")
def create_token():
    row, secret = tokens.create_token(get_state(), json_body(), "api")
    return answer("TokenCreated", {**_shown(row), "token": secret}, 201)


@bp.delete("/tokens/<token>")
def revoke_token(token: str):
    tokens.revoke_token(get_state(), token, "api")
    return "", 204

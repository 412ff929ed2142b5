"""Named API tokens (``api_tokens``): created with a role, found by their SHA-256, revoked.

Only the hash of a token is stored. Revoking keeps the row (``revoked_at``), ends the web UI
sessions signed in with the token (in the same transaction), and a revoked token is never found again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select, update

from gateway.store import audit_log
from gateway.store.base import DriverStatement, Repository, new_id, reading, writing
from gateway.store.tables import api_tokens, ui_sessions


@dataclass(frozen=True)
class TokenRow:
    id: str
    name: str
    role: str
    created_at: float
    created_by: str
    revoked_at: float | None
    last_used_at: float | None
    last_used_origin: str | None


def _row(mapping) -> TokenRow:
    return TokenRow(id=mapping.id, name=mapping.name, role=mapping.role, created_at=mapping.created_at,
                    created_by=mapping.created_by, revoked_at=mapping.revoked_at,
                    last_used_at=mapping.last_used_at, last_used_origin=mapping.last_used_origin)


_SHOWN = [api_tokens.c.id, api_tokens.c.name, api_tokens.c.role, api_tokens.c.created_at, api_tokens.c.created_by,
          api_tokens.c.revoked_at, api_tokens.c.last_used_at, api_tokens.c.last_used_origin]


# run as plain SQL: SQLAlchemy's work per execution costs more than the indexed read itself
_FIND_LIVE = DriverStatement(select(*_SHOWN).where(api_tokens.c.token_hash == bindparam("token_hash"),
                                                   api_tokens.c.revoked_at.is_(None)))


class NameTaken(ValueError):
    """A live token already has this name."""


class ApiTokenStore(Repository):
    def create(self, *, name: str, role: str, token_hash: str, created_by: str, at: float,
               audit: dict | None = None) -> TokenRow:
        """A new token; :class:`NameTaken` when a live (not revoked) token has the name. ``audit``: an
        audit log entry written in the same transaction."""
        with writing(self.engine) as connection:
            taken = connection.execute(select(api_tokens.c.id).where(
                api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))).first()
            if taken is not None:
                raise NameTaken(name)
            token_id = new_id()
            connection.execute(api_tokens.insert().values(
                id=token_id, name=name, role=role, token_hash=token_hash, created_at=at, created_by=created_by))
            if audit is not None:
                audit_log.insert(connection, **audit)
        return TokenRow(token_id, name, role, at, created_by, None, None, None)

    def list(self, *, include_revoked: bool = False) -> list[TokenRow]:
        query = select(*_SHOWN).order_by(api_tokens.c.created_at, api_tokens.c.id)
        if not include_revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        with reading(self.engine) as connection:
            return [_row(r) for r in connection.execute(query)]

    def find_live(self, token_hash: str) -> TokenRow | None:
        """The live token with this hash (one indexed look-up, on every request), or None."""
        with reading(self.engine) as connection:
            found = _FIND_LIVE.execute(connection, {"token_hash": token_hash}).first()
        return _row(found) if found is not None else None

    def get(self, id_or_name: str) -> TokenRow | None:
        """A live token by id, else by name."""
        with reading(self.engine) as connection:
            for column in (api_tokens.c.id, api_tokens.c.name):
                found = connection.execute(select(*_SHOWN).where(
                    column == id_or_name, api_tokens.c.revoked_at.is_(None))).first()
                if found is not None:
                    return _row(found)
        return None

    def revoke(self, token_id: str, at: float, audit: dict | None = None) -> bool:
        """Revoke a live token and end its web UI sessions; False when there was no live token.
        ``audit``: an audit log entry written in the same transaction (when it was revoked)."""
        with writing(self.engine) as connection:
            done = connection.execute(update(api_tokens).where(
                api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None)).values(revoked_at=at)).rowcount > 0
            connection.execute(delete(ui_sessions).where(ui_sessions.c.token_id == token_id))
            if done and audit is not None:
                audit_log.insert(connection, **audit)
        return done

    def used(self, token_id: str, at: float, origin: str) -> None:
        """Record a use (the caller keeps this to about once a minute per token)."""
        with writing(self.engine) as connection:
            connection.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(
                last_used_at=at, last_used_origin=origin))

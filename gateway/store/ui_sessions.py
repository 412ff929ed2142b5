"""Signed-in web UI sessions (``ui_sessions``): started at sign-in, ended at sign-out or expiry.

Only the SHA-256 of a session id is stored; the id itself lives in the browser's signed cookie.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from gateway.store.base import Repository, reading, writing
from gateway.store.tables import ui_sessions


class UiSessionStore(Repository):
    def start(self, id_hash: str, *, started_at: float, expires_at: float, token_id: str | None = None,
              token_name: str = "admin", role: str = "admin") -> None:
        """Record a new session signed in with a token (default: the admin token), and forget the
        sessions that have expired."""
        with writing(self.engine) as connection:
            connection.execute(delete(ui_sessions).where(ui_sessions.c.expires_at < started_at))
            connection.execute(ui_sessions.insert().values(id_hash=id_hash, started_at=started_at,
                                                           expires_at=expires_at, token_id=token_id,
                                                           token_name=token_name, role=role))

    def who(self, id_hash: str, at: float) -> tuple[str | None, str, str] | None:
        """The live session's token id, name and role (sessions from before roles: the admin token's),
        or None when it is not live."""
        with reading(self.engine) as connection:
            found = connection.execute(
                select(ui_sessions.c.expires_at, ui_sessions.c.token_id, ui_sessions.c.token_name, ui_sessions.c.role)
                .where(ui_sessions.c.id_hash == id_hash)).first()
        if found is None or at > found.expires_at:
            return None
        return found.token_id, found.token_name or "admin", found.role or "admin"

    def end(self, id_hash: str) -> bool:
        """End the session; False when there was none to end."""
        with writing(self.engine) as connection:
            return connection.execute(delete(ui_sessions).where(ui_sessions.c.id_hash == id_hash)).rowcount > 0

"""``gateway_meta``: facts about the database every node reads (see ``gateway/runtime/node_agreement.py``)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from gateway.store.tables import meta


def read(connection: Connection, key: str) -> str | None:
    return connection.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def write(connection: Connection, key: str, value: str) -> None:
    """Set ``key`` (the caller holds the start-up lock, so no one else writes it meanwhile)."""
    connection.execute(delete(meta).where(meta.c.key == key))
    connection.execute(insert(meta).values(key=key, value=value))


def forget(connection: Connection, key: str) -> bool:
    return bool(connection.execute(delete(meta).where(meta.c.key == key)).rowcount)

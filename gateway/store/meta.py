"""``gateway_meta``: facts about the database every node reads (see ``gateway/runtime/node_agreement.py``), and
the catch-up's cursor and lease (``gateway/runtime/catchup.py``)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.store.tables import meta


def read(connection: Connection, key: str) -> str | None:
    return connection.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def write(connection: Connection, key: str, value: str) -> None:
    """Set ``key`` (the caller holds a lock that keeps other writers of it out meanwhile: the start-up
    lock, or the catch-up's lock on the connection row)."""
    connection.execute(delete(meta).where(meta.c.key == key))
    connection.execute(insert(meta).values(key=key, value=value))


def forget(connection: Connection, key: str) -> bool:
    return bool(connection.execute(delete(meta).where(meta.c.key == key)).rowcount)


def compare_and_set(connection: Connection, key: str, expected: str | None, value: str) -> bool:
    """Set ``key`` to ``value`` only if it still holds ``expected`` (None: is absent); False when
    another writer changed it first. For values several processes or nodes take turns at."""
    if expected is not None:
        changed = connection.execute(update(meta).where(meta.c.key == key, meta.c.value == expected)
                                     .values(value=value))
        return changed.rowcount == 1
    try:
        with connection.begin_nested():
            connection.execute(insert(meta).values(key=key, value=value))
    except IntegrityError:
        return False
    return True

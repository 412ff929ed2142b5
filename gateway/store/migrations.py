"""Schema versions. The schema is created on first start and upgraded in place on later ones.

Each entry of :data:`STEPS` brings the schema from version ``n`` to ``n + 1``; a release that changes
the schema appends a step (never edits one). :func:`upgrade` runs the missing steps in order, each in
its own transaction, and records the version in ``gateway_meta``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, select

from . import tables


_V1_TABLES = ("gateway_meta", "integrations", "events", "deliveries", "attempts")


def _create_v1(connection: Connection) -> None:
    tables.metadata.create_all(connection, tables=[tables.metadata.tables[name] for name in _V1_TABLES])


def _compact_skips_v2(connection: Connection) -> None:
    """Skip decisions as one row per event and reason naming a set of integrations (the skipped
    ``deliveries`` rows of earlier versions stay as they are and are read as before)."""
    for table in (tables.integration_sets, tables.integration_set_members, tables.skips):
        table.create(connection)


STEPS: list[Callable[[Connection], None]] = [_create_v1, _compact_skips_v2]
LATEST = len(STEPS)


def current_version(connection: Connection) -> int:
    """The schema version recorded in the database (0 for an empty database)."""
    if not inspect(connection).has_table(tables.meta.name):
        return 0
    value = connection.execute(
        select(tables.meta.c.value).where(tables.meta.c.key == "schema_version")
    ).scalar()
    return int(value) if value is not None else 0


def upgrade(engine) -> int:
    """Run the steps the database lacks; returns the version it is at afterwards."""
    with engine.begin() as connection:
        version = current_version(connection)
    if version > LATEST:
        raise RuntimeError(
            f"the database is at schema version {version}, newer than this gateway knows ({LATEST}); upgrade the gateway"
        )
    while version < LATEST:
        with engine.begin() as connection:
            if current_version(connection) != version:  # another process upgraded meanwhile
                version = current_version(connection)
                continue
            STEPS[version](connection)
            version += 1
            if version == 1:
                connection.execute(tables.meta.insert().values(key="schema_version", value=str(version)))
            else:
                connection.execute(
                    tables.meta.update()
                    .where(tables.meta.c.key == "schema_version")
                    .values(value=str(version))
                )
    return version

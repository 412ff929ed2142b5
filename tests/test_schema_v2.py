"""A database at schema version 1 is upgraded in place to version 2 (the connection and the stored
check results), keeping what it holds."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, select

from gateway.store import Database, migrations, tables


def test_a_version_1_database_gets_the_new_tables(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    old = [t for t in tables.metadata.sorted_tables if t.name not in ("connections", "check_results")]
    with engine.begin() as connection:
        tables.metadata.create_all(connection, tables=old)
        connection.execute(tables.meta.insert().values(key="schema_version", value="1"))
        connection.execute(tables.integrations.insert().values(
            id="i1", plugin="p", name="kept", enabled=True, config="{}", policy="[]", created_at=1.0, updated_at=1.0))
    engine.dispose()
    database = Database(url)
    try:
        assert database.upgrade() == migrations.LATEST == 2
        names = set(inspect(database.engine).get_table_names())
        assert {"connections", "check_results"} <= names
        assert database.integrations.get("i1").name == "kept"
        with database.engine.connect() as connection:
            assert connection.execute(select(tables.meta.c.value)).scalar() == "2"
        assert database.upgrade() == 2  # nothing left to do
    finally:
        database.dispose()

"""Revision 0003 (the flag-platform connection and the stored check results) upgrades a database at
0002 in place, keeping what it holds."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from gateway.store import Database, migrations
from gateway.store.base import writing
from gateway.store.tables import integrations


def test_a_database_at_0002_gets_the_new_tables(fresh_database_url):
    url = fresh_database_url()
    database = Database(url)
    try:
        with writing(database.engine) as connection:
            command.upgrade(migrations.alembic_config(connection), "0002")
            connection.execute(integrations.insert().values(
                id="i1", plugin="p", name="kept", enabled=True, config="{}", policy="[]", created_at=1.0,
                updated_at=1.0))
        assert database.revision() == "0002"
        assert not {"connections", "check_results"} & set(inspect(database.engine).get_table_names())
        assert database.upgrade() == migrations.head()  # 0003, and the revisions after it
        assert "0003" in [r.revision for r in migrations.history()]
        assert {"connections", "check_results"} <= set(inspect(database.engine).get_table_names())
        assert database.integrations.get("i1").name == "kept"
    finally:
        database.dispose()

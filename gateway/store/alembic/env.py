"""Alembic's environment for the gateway's schema.

The gateway runs Alembic itself (``gateway.store.migrations``): it hands over a connection already
inside the start-up transaction and lock (``config.attributes["connection"]``), so the migrations run
in that transaction. Offline (``--sql``) mode is not used.
"""

from alembic import context

from gateway.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with 'event-gateway db upgrade' (the gateway passes the connection)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()

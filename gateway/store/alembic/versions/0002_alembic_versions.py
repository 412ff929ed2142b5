"""Alembic keeps the schema version from here on: the old ``schema_version`` row goes.

``gateway_meta`` stays, for facts every node must agree on (the secret key's fingerprint, the admin
token's hash).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

meta = sa.table("gateway_meta", sa.column("key", sa.String), sa.column("value", sa.Text))


def upgrade() -> None:
    op.execute(meta.delete().where(meta.c.key == "schema_version"))


def downgrade() -> None:
    op.execute(meta.insert().values(key="schema_version", value="1"))

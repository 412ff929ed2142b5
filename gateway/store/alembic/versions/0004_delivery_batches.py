"""Deliveries retried together by a plugin's ``deliver_batch`` share a batch id.

``deliveries.batch_id`` (nullable): set on the deliveries of one batch that are to be retried; a
worker that claims one of them claims the others of the batch too, so the batch is attempted again
as it was (and a plugin can send it under the same payload id).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("batch_id", sa.String(36)))
    op.create_index("ix_deliveries_batch", "deliveries", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_batch", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("batch_id")

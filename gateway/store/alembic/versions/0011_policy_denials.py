"""Policy denials stored once per event: ``policy_revisions`` (every policy a denial names, by
content) and ``integration_set_members.policy_id`` (the revision that denied a member of a set of
denials); ``ix_skips_set`` also orders by time, for an integration's skips newest first;
``ix_deliveries_age`` (status, created_at) finds the oldest waiting delivery without reading the queue.

Frozen: never edit it, add a revision.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_revisions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("integration_set_members") as batch:
        batch.add_column(sa.Column("policy_id", sa.String(32), nullable=True))
        batch.create_foreign_key("fk_integration_set_members_policy_id_policy_revisions", "policy_revisions",
                                 ["policy_id"], ["id"])
    op.drop_index("ix_skips_set", table_name="skips")
    op.create_index("ix_skips_set", "skips", ["set_id", "created_at"])
    op.create_index("ix_deliveries_age", "deliveries", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_age", table_name="deliveries")
    op.drop_index("ix_skips_set", table_name="skips")
    op.create_index("ix_skips_set", "skips", ["set_id"])
    with op.batch_alter_table("integration_set_members") as batch:
        batch.drop_constraint("fk_integration_set_members_policy_id_policy_revisions", type_="foreignkey")
        batch.drop_column("policy_id")
    op.drop_table("policy_revisions")

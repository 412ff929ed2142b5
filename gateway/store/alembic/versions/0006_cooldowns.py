"""Cooldowns claimed by events (``gateway.Cooldown``): one row per integration and key, removed
with the integration.

Frozen: never edit it, add a revision.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cooldowns",
        sa.Column("integration_id", sa.String(36), sa.ForeignKey("integrations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.Column("claimed_until", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cooldowns")

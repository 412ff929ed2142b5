"""Skip decisions stored compactly: one ``skips`` row per event and reason, naming a set of
integrations (``integration_sets``, members in ``integration_set_members``, written once per set).
Skipped ``deliveries`` rows of earlier releases stay as they are and are read as before.

Frozen: never edit it, add a revision.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integration_sets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "integration_set_members",
        sa.Column("set_id", sa.String(32), sa.ForeignKey("integration_sets.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("integration_id", sa.String(36), sa.ForeignKey("integrations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("plugin", sa.String(100), nullable=False),
    )
    op.create_index("ix_integration_set_members_integration", "integration_set_members", ["integration_id"])
    op.create_table(
        "skips",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("set_id", sa.String(32), sa.ForeignKey("integration_sets.id"), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_skips_event", "skips", ["event_id"])
    op.create_index("ix_skips_set", "skips", ["set_id"])
    op.create_index("ix_skips_created", "skips", ["created_at"])


def downgrade() -> None:
    op.drop_table("skips")
    op.drop_table("integration_set_members")
    op.drop_table("integration_sets")

"""The history of an event's decisions taken again by hand (``decision_history``): replays, which
decide again with the current policy, plugin check and cooldown, and overrides, which send an event
despite named denials; each row keeps the decision it replaced.

Frozen: never edit it, add a revision.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decision_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("integration_id", sa.String(36), sa.ForeignKey("integrations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("overrode", sa.Text),
        sa.Column("previous_status", sa.String(20)),
        sa.Column("previous_reason", sa.Text),
        sa.Column("delivery_id", sa.String(36)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_decision_history_event", "decision_history", ["event_id", "created_at"])


def downgrade() -> None:
    op.drop_table("decision_history")

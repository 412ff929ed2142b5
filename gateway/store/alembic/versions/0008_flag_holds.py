"""What this gateway turned off, and for what (``flag_holds``: one row per flag and environment, the
integration that turned it off, the cause and when), removed with the integration.

Frozen: never edit it, add a revision.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flag_holds",
        sa.Column("flag", sa.String(800), primary_key=True),
        sa.Column("integration_id", sa.String(36), sa.ForeignKey("integrations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("cause", sa.String(400), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("held_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("flag_holds")

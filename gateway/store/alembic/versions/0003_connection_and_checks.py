"""The flag-platform connection and the stored results of the background checks.

``connections``: one row per flag platform (``launchdarkly``): its config as JSON, its secrets (API
token, webhook secrets) as one Fernet token, and what the gateway knows of the webhook it wired.
``check_results``: the last result of the checks of each integration (``integration:<id>``) and of
the connection (``connection:launchdarkly``), with its time.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("key", sa.String(50), primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("secrets", sa.Text),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "check_results",
        sa.Column("subject", sa.String(100), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("checks", sa.Text, nullable=False),
        sa.Column("checked_at", sa.Float, nullable=False),
        sa.Column("subject_updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("check_results")
    op.drop_table("connections")

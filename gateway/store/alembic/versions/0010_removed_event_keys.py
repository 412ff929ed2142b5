"""The de-duplication keys of events that retention removed (``removed_event_keys``: the key, the
removed event's id, when it was removed), kept longer than the events so that a webhook replayed
after its event was removed is still a duplicate.

Frozen: never edit it, add a revision.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "removed_event_keys",
        sa.Column("dedupe_key", sa.String(400), primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("removed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_removed_event_keys_removed", "removed_event_keys", ["removed_at"])


def downgrade() -> None:
    op.drop_table("removed_event_keys")

"""``ix_events_source`` and ``ix_events_kind``: the events of one source, or of one kind, newest
first, read (and counted) through an index rather than by walking every event.

Frozen: never edit it, add a revision.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_source", "events", ["source", "received_at", "id"])
    op.create_index("ix_events_kind", "events", ["kind", "received_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_kind", table_name="events")
    op.drop_index("ix_events_source", table_name="events")

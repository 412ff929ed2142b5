"""``ix_deliveries_lease``: the deliveries in flight by when their lease runs out, a partial index of
the in-flight rows only. Each claim looks for an expired lease first; through ``ix_deliveries_age``
PostgreSQL read, by a bitmap scan, every index entry every delivery left while it was in flight
(until a vacuum): 24 ms a claim after 50,000 deliveries, where this index takes 0.02 ms.

Frozen: never edit it, add a revision.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

IN_FLIGHT = sa.text("status = 'in_flight'")


def upgrade() -> None:
    op.create_index("ix_deliveries_lease", "deliveries", ["lease_expires_at"],
                    postgresql_where=IN_FLIGHT, sqlite_where=IN_FLIGHT)


def downgrade() -> None:
    op.drop_index("ix_deliveries_lease", table_name="deliveries")

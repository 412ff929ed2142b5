"""Named API tokens with roles (``api_tokens``, hashes only), who signed in to each web UI session
(``ui_sessions.token_id``, ``token_name``, ``role``), and the stored audit log (``audit_log``).

Frozen: never edit it, add a revision.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("revoked_at", sa.Float),
        sa.Column("last_used_at", sa.Float),
        sa.Column("last_used_origin", sa.String(20)),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    )
    op.create_index("ix_api_tokens_name", "api_tokens", ["name"])
    # Sessions from before roles were signed in with the admin token.
    op.add_column("ui_sessions", sa.Column("token_id", sa.String(36)))
    op.add_column("ui_sessions", sa.Column("token_name", sa.String(100)))
    op.add_column("ui_sessions", sa.Column("role", sa.String(20)))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20)),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("object", sa.String(200)),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at", "id"])
    op.create_index("ix_audit_log_object", "audit_log", ["object", "at"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    with op.batch_alter_table("ui_sessions") as batch:
        batch.drop_column("role")
        batch.drop_column("token_name")
        batch.drop_column("token_id")
    op.drop_table("api_tokens")

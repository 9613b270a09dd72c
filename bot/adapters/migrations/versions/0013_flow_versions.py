"""Flow versions: each proposed flow content, its approval, and which version and
A/B variant each conversation, turn and consent ran under.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from bot.adapters.tables import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Where a conversation, a turn and a consent name the flow version and variant.
_NAMED = ("conversations", "inbox_messages", "consents")


def upgrade() -> None:
    op.create_table(
        "flow_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flow", sa.String(100), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", UTCDateTime()),
        sa.Column("comment", sa.Text),
        sa.UniqueConstraint("flow", "seq", name="uq_flow_versions_seq"),
    )
    op.create_index("ix_flow_versions_status", "flow_versions", ["flow", "status"])
    for table in _NAMED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("flow_version_id", sa.Integer))
            batch.add_column(sa.Column("variant", sa.String(64)))


def downgrade() -> None:
    for table in _NAMED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("variant")
            batch.drop_column("flow_version_id")
    op.drop_index("ix_flow_versions_status", "flow_versions")
    op.drop_table("flow_versions")

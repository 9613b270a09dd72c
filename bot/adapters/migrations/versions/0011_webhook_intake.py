"""Webhook intake: each Twilio webhook is acknowledged after one insert here; the
ingest drain makes inbox messages and status events of it afterwards.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from bot.adapters.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_intake",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("dedup_key", sa.String(64), unique=True),
        sa.Column("lane", sa.String(64)),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("failed_at", UTCDateTime()),
        sa.Column("failure", sa.String(200)),
    )
    op.create_index("ix_webhook_intake_lane", "webhook_intake", ["lane", "id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_intake_lane", "webhook_intake")
    op.drop_table("webhook_intake")

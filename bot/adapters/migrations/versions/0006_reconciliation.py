"""Reconciliation runs: each comparison of gangway's messages with the provider's.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from bot.adapters.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COUNTS = (
    "provider_inbound",
    "provider_outbound",
    "gangway_inbound",
    "gangway_outbound",
    "not_handed_over",
    "not_in_gangway",
    "not_at_provider",
)


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("slot", sa.String(64), unique=True),
        sa.Column("range_start", UTCDateTime(), nullable=False),
        sa.Column("range_end", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("outcome", sa.String(16), nullable=False),
        *(sa.Column(name, sa.Integer) for name in _COUNTS),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("reconciliation_runs")

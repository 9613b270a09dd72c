"""At most one open handoff per conversation, held by the database itself.

The code looked for an open handoff before opening one, but two processes could both
look, both find none and both open one. A partial unique index on the conversation of
handoffs that are not closed makes the second insert fail instead.

A database that already holds such twins is cleaned up first, the same way on every
run: per conversation the oldest open handoff (lowest id) stays open, and the others
are closed now, their summary naming the handoff they duplicated.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from bot.adapters.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX = "uq_handoffs_one_open"
OPEN = "status <> 'closed'"

_handoffs = sa.table(
    "handoffs",
    sa.column("id", sa.Integer),
    sa.column("conversation_id", sa.String),
    sa.column("status", sa.String),
    sa.column("summary", sa.Text),
    sa.column("updated_at", UTCDateTime()),
    sa.column("closed_at", UTCDateTime()),
)


def _close_duplicates() -> None:
    conn = op.get_bind()
    now = datetime.now(UTC)
    rows = conn.execute(
        sa.select(_handoffs.c.id, _handoffs.c.conversation_id, _handoffs.c.summary)
        .where(_handoffs.c.status != "closed")
        .order_by(_handoffs.c.conversation_id, _handoffs.c.id)
    ).all()
    kept: dict[str, int] = {}
    for handoff_id, conversation_id, summary in rows:
        if conversation_id not in kept:
            kept[conversation_id] = handoff_id
            continue
        try:
            data = json.loads(summary or "{}")
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        data["closed_reason"] = f"duplicate of handoff {kept[conversation_id]}"
        conn.execute(
            sa.update(_handoffs)
            .where(_handoffs.c.id == handoff_id)
            .values(status="closed", closed_at=now, updated_at=now, summary=json.dumps(data))
        )


def upgrade() -> None:
    _close_duplicates()
    op.create_index(
        INDEX,
        "handoffs",
        ["conversation_id"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="handoffs")

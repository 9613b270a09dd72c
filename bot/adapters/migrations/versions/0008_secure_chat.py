"""The built-in secure chat: chats, device sessions and messages.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

from bot.adapters.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secure_chats",
        sa.Column(
            "conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), primary_key=True
        ),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("last_prospect_seen_at", UTCDateTime()),
        sa.Column("prospect_left_at", UTCDateTime()),
        sa.Column("notice_sent_at", UTCDateTime()),
    )
    op.create_table(
        "secure_sessions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime()),
    )
    op.create_index("ix_secure_sessions_conversation_id", "secure_sessions", ["conversation_id"])
    op.create_table(
        "secure_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attachment_name", sa.Text),
        sa.Column("attachment_type", sa.String(100)),
        sa.Column("attachment_size", sa.Integer),
        sa.Column("attachment_sha256", sa.String(64)),
        sa.Column("attachment_data", sa.LargeBinary),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime()),
    )
    op.create_index("ix_secure_messages_conversation_id", "secure_messages", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_secure_messages_conversation_id", "secure_messages")
    op.drop_table("secure_messages")
    op.drop_index("ix_secure_sessions_conversation_id", "secure_sessions")
    op.drop_table("secure_sessions")
    op.drop_table("secure_chats")

"""The sensitivity ladder and the transition protocol: chart state on conversations,
message classifications, consents, invites, durable timers, media, and Content API
templates on outbound messages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from bot.adapters.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _conversation_fk() -> sa.Column[str]:
    return sa.Column(
        "conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False
    )


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("state", sa.String(32)))
        batch.add_column(sa.Column("level", sa.String(16), nullable=False, server_default="public"))
        batch.add_column(sa.Column("resume_state", sa.String(32)))
        batch.add_column(sa.Column("language", sa.String(8)))
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("content_sid", sa.String(64)))
        batch.add_column(sa.Column("content_variables", sa.Text))

    op.create_table(
        "message_classifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "inbox_id",
            sa.Integer,
            sa.ForeignKey("inbox_messages.id"),
            nullable=False,
            unique=True,
        ),
        _conversation_fk(),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("forwarded", sa.Boolean, nullable=False),
        sa.Column("classified_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_message_classifications_conversation_id",
        "message_classifications",
        ["conversation_id"],
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _conversation_fk(),
        sa.Column("terms_version", sa.String(64), nullable=False),
        sa.Column("terms_url", sa.Text, nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("shown_text", sa.Text, nullable=False),
        sa.Column("shown_sha256", sa.String(64), nullable=False),
        sa.Column("offered_at", UTCDateTime(), nullable=False),
        sa.Column("trigger_inbox_id", sa.Integer, sa.ForeignKey("inbox_messages.id")),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("decided_at", UTCDateTime()),
        sa.Column("decision_inbox_id", sa.Integer, sa.ForeignKey("inbox_messages.id")),
        sa.Column("decision_message_sid", sa.String(64)),
    )
    op.create_index("ix_consents_conversation_id", "consents", ["conversation_id"])
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _conversation_fk(),
        sa.Column("consent_id", sa.Integer, sa.ForeignKey("consents.id")),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("used_at", UTCDateTime()),
    )
    op.create_index("ix_invites_conversation_id", "invites", ["conversation_id"])
    op.create_table(
        "timers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id")),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("claimed_until", UTCDateTime()),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime()),
    )
    op.create_index("ix_timers_due", "timers", ["status", "due_at"])
    op.create_index("ix_timers_conversation_id", "timers", ["conversation_id"])
    op.create_table(
        "media_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox_messages.id"), nullable=False),
        _conversation_fk(),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(200)),
        sa.Column("provider_url", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size", sa.Integer),
        sa.Column("data", sa.LargeBinary),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("fetched_at", UTCDateTime()),
        sa.UniqueConstraint("inbox_id", "idx", name="uq_media_item"),
    )
    op.create_index("ix_media_items_conversation_id", "media_items", ["conversation_id"])


def downgrade() -> None:
    for table in ("media_items", "timers", "invites", "consents", "message_classifications"):
        op.drop_table(table)
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("content_variables")
        batch.drop_column("content_sid")
    with op.batch_alter_table("conversations") as batch:
        for column in ("language", "resume_state", "level", "state"):
            batch.drop_column(column)

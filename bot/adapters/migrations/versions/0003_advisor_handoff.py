"""Advisor handoff: console users, their sessions and API tokens, handoffs, the CRM
outbox, secure-channel activation callbacks, external invite ids, and the intent of
each classified message (for the handoff summary).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from bot.adapters.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _user_fk(name: str, *, nullable: bool = True) -> sa.Column[int]:
    return sa.Column(name, sa.Integer, sa.ForeignKey("users.id"), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("message_classifications") as batch:
        batch.add_column(sa.Column("intent", sa.String(64)))
    with op.batch_alter_table("invites") as batch:
        batch.add_column(sa.Column("external_id", sa.String(200)))
        batch.create_index("ix_invites_external_id", ["external_id"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("team", sa.String(100)),
        sa.Column("countries", sa.Text, nullable=False),
        sa.Column("products", sa.Text, nullable=False),
        sa.Column("languages", sa.Text, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime()),
    )
    for table in ("user_sessions", "api_tokens"):
        columns: list[sa.schema.SchemaItem] = [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
            _user_fk("user_id", nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
        ]
        if table == "user_sessions":
            columns += [
                sa.Column("expires_at", UTCDateTime(), nullable=False),
                sa.Column("last_seen_at", UTCDateTime(), nullable=False),
            ]
        else:
            columns += [
                sa.Column("name", sa.String(100), nullable=False),
                sa.Column("last_used_at", UTCDateTime()),
            ]
        op.create_table(table, *columns, sa.Column("revoked_at", UTCDateTime()))
        op.create_index(f"ix_{table}_user_id", table, ["user_id"])

    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(100), nullable=False),
        _user_fk("assigned_to"),
        _user_fk("claimed_by"),
        sa.Column("claimed_at", UTCDateTime()),
        _user_fk("escalated_to"),
        sa.Column("escalated_at", UTCDateTime()),
        sa.Column("language", sa.String(8)),
        sa.Column("country", sa.String(2)),
        sa.Column("product", sa.String(64)),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime()),
    )
    op.create_index("ix_handoffs_conversation_id", "handoffs", ["conversation_id"])
    op.create_index("ix_handoffs_assigned_to", "handoffs", ["assigned_to"])
    op.create_index("ix_handoffs_queue", "handoffs", ["status", "queue", "id"])

    op.create_table(
        "crm_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(100), nullable=False, unique=True),
        sa.Column("handoff_id", sa.Integer, sa.ForeignKey("handoffs.id")),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
    )
    op.create_index("ix_crm_deliveries_handoff_id", "crm_deliveries", ["handoff_id"])
    op.create_index("ix_crm_due", "crm_deliveries", ["status", "next_attempt_at"])

    op.create_table(
        "channel_callbacks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False, unique=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id")),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "channel_callbacks",
        "crm_deliveries",
        "handoffs",
        "api_tokens",
        "user_sessions",
        "users",
    ):
        op.drop_table(table)
    with op.batch_alter_table("invites") as batch:
        batch.drop_index("ix_invites_external_id")
        batch.drop_column("external_id")
    with op.batch_alter_table("message_classifications") as batch:
        batch.drop_column("intent")

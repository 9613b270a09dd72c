"""Records at rest: per-conversation data keys, numbers found by keyed hash, the
audit log's sealed contents, a keyed audit head, checks of the keys, legal holds, and
invite links kept
sealed on the invite (outbox rows name the invite instead of holding its link).

Personal fields keep their columns but hold sealed values from now on, so a
database that already holds conversations in the clear cannot be carried over by
this migration (it has no keys): it stops with a message instead.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from bot.adapters.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT COUNT(*) FROM conversations")).scalar():
        raise RuntimeError(
            "this database holds conversations stored before gangway encrypted its "
            "records, and they cannot be encrypted in place: export what you need with "
            "the earlier version, then start from an empty database"
        )
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("wa_number")
        batch.add_column(sa.Column("number_hmac", sa.String(64)))
        batch.add_column(sa.Column("number_sealed", sa.Text))
        batch.add_column(sa.Column("erased_at", UTCDateTime()))
        batch.alter_column("profile_name", type_=sa.Text)
        batch.create_unique_constraint("uq_conversations_number_hmac", ["number_hmac"])
    with op.batch_alter_table("outbox_messages") as batch:
        batch.alter_column("to_number", type_=sa.Text)
        batch.add_column(sa.Column("invite_id", sa.Integer))
        batch.create_foreign_key("fk_outbox_invite", "invites", ["invite_id"], ["id"])
    with op.batch_alter_table("invites") as batch:
        batch.add_column(sa.Column("link_sealed", sa.Text))
    # Daily jobs find their last run by kind.
    op.create_index("ix_audit_log_kind", "audit_log", ["kind"])
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("mac", sa.String(64), nullable=False, server_default=""))
    op.create_table(
        "data_keys",
        sa.Column(
            "conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), primary_key=True
        ),
        sa.Column("key_id", sa.String(40), nullable=False, index=True),
        sa.Column("wrapped", sa.LargeBinary),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("rotated_at", UTCDateTime()),
        sa.Column("erased_at", UTCDateTime()),
    )
    op.create_table(
        "key_checks",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id",
            sa.String(40),
            sa.ForeignKey("conversations.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("placed_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime()),
        sa.Column("release_reason", sa.Text),
    )
    op.create_table(
        "audit_contents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(40), index=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    # Like the audit log, its contents are append-only.
    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_contents_append_only BEFORE UPDATE OR DELETE ON audit_contents "
            "FOR EACH ROW EXECUTE FUNCTION gangway_audit_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_contents_no_{action.lower()} BEFORE {action} "
                "ON audit_contents BEGIN SELECT RAISE(ABORT, 'audit_contents is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_contents_append_only ON audit_contents")
    op.drop_table("audit_contents")
    op.drop_table("legal_holds")
    op.drop_table("key_checks")
    op.drop_table("data_keys")
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("mac")
    op.drop_index("ix_audit_log_kind", "audit_log")
    with op.batch_alter_table("invites") as batch:
        batch.drop_column("link_sealed")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_constraint("fk_outbox_invite", type_="foreignkey")
        batch.drop_column("invite_id")
        batch.alter_column("to_number", type_=sa.String(64))
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("uq_conversations_number_hmac", type_="unique")
        batch.drop_column("erased_at")
        batch.drop_column("number_sealed")
        batch.drop_column("number_hmac")
        batch.add_column(sa.Column("wa_number", sa.String(64), unique=True))

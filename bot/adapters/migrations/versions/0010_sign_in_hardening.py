"""Sign-in hardening: failed sign-ins kept in the database (a throttle every process
shares), pending identity-provider sign-ins, and API tokens that expire.

Tokens made before this revision get the default lifetime, counted from when they
were made: a token older than that stops working at once, as a new one would.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from bot.adapters.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_EXISTING_TOKEN_LIFETIME = timedelta(days=90)


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_sha256", sa.String(64)),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_sign_in_failures_account", "sign_in_failures", ["account_sha256", "failed_at"]
    )
    op.create_index("ix_sign_in_failures_address", "sign_in_failures", ["address", "failed_at"])
    op.create_table(
        "pending_oidc_sign_ins",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cookie_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_pending_oidc_sign_ins_expires_at", "pending_oidc_sign_ins", ["expires_at"])
    op.add_column("api_tokens", sa.Column("expires_at", UTCDateTime()))
    tokens = sa.table(
        "api_tokens",
        sa.column("id", sa.Integer),
        sa.column("created_at", UTCDateTime()),
        sa.column("expires_at", UTCDateTime()),
    )
    conn = op.get_bind()
    for token_id, created_at in conn.execute(sa.select(tokens.c.id, tokens.c.created_at)).all():
        conn.execute(
            tokens.update()
            .where(tokens.c.id == token_id)
            .values(expires_at=created_at + _EXISTING_TOKEN_LIFETIME)
        )
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("expires_at", existing_type=UTCDateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
    op.drop_index("ix_pending_oidc_sign_ins_expires_at", "pending_oidc_sign_ins")
    op.drop_table("pending_oidc_sign_ins")
    op.drop_index("ix_sign_in_failures_address", "sign_in_failures")
    op.drop_index("ix_sign_in_failures_account", "sign_in_failures")
    op.drop_table("sign_in_failures")

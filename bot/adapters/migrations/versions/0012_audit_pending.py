"""Audit records wait in ``audit_pending`` until the chainer appends them to the chain
in batches, so that recording something never waits for the chain's head.

A pending entry is guarded like the records: UPDATE and TRUNCATE are refused, and so
is an overwriting insert (SQLite's INSERT OR REPLACE). The chainer must delete the
entries it chained, so DELETE cannot simply be refused: it is refused for an entry no
record of the chain names by its MAC (``audit_log.pending_mac``, new here, unique).
Removing an entry without chaining it thus needs a record in the chain, which only the
audit key can make verify.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Written by revision 0005: raises "<table> is append-only: <operation> refused".
_REFUSE = "gangway_refuse_audit_change"
_PG_DELETE_GUARD = "gangway_pending_delete_unchained"


def _upgrade_postgresql() -> None:
    op.execute(
        f"""
        CREATE FUNCTION {_PG_DELETE_GUARD}() RETURNS trigger AS $$
        BEGIN
          IF NOT EXISTS (SELECT 1 FROM audit_log WHERE pending_mac = OLD.mac) THEN
            RAISE EXCEPTION 'audit_pending: entry % is not chained: DELETE refused', OLD.id;
          END IF;
          RETURN OLD;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pending "
        f"FOR EACH ROW EXECUTE FUNCTION {_REFUSE}()"
    )
    op.execute(
        "CREATE TRIGGER audit_pending_no_truncate BEFORE TRUNCATE ON audit_pending "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {_REFUSE}()"
    )
    op.execute(
        "CREATE TRIGGER audit_pending_delete_chained BEFORE DELETE ON audit_pending "
        f"FOR EACH ROW EXECUTE FUNCTION {_PG_DELETE_GUARD}()"
    )


def _sqlite_overwrite_guard(table: str, keys: tuple[str, ...]) -> None:
    clash = " OR ".join(f"EXISTS (SELECT 1 FROM {table} WHERE {c} = NEW.{c})" for c in keys)
    op.execute(
        f"CREATE TRIGGER {table}_no_overwrite BEFORE INSERT ON {table} WHEN {clash} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: "
        "this insert would overwrite a record'); END"
    )


def _upgrade_sqlite() -> None:
    op.execute(
        "CREATE TRIGGER audit_pending_refuse_update BEFORE UPDATE ON audit_pending "
        "BEGIN SELECT RAISE(ABORT, 'audit_pending is append-only: UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_pending_delete_chained BEFORE DELETE ON audit_pending "
        "WHEN NOT EXISTS (SELECT 1 FROM audit_log WHERE pending_mac = OLD.mac) "
        "BEGIN SELECT RAISE(ABORT, 'audit_pending: entry is not chained: DELETE refused'); END"
    )
    _sqlite_overwrite_guard("audit_pending", ("id", "mac"))
    # audit_log has a second unique key now: its overwrite guard must look at it too.
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_overwrite")
    _sqlite_overwrite_guard("audit_log", ("seq", "pending_mac"))


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("conversation_id", sa.String(40)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("nonce", sa.String(32), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_pending_mac", "audit_pending", ["mac"], unique=True)
    # Not batch mode: on SQLite that copies the table and loses its triggers.
    op.add_column("audit_log", sa.Column("pending_mac", sa.String(64)))
    op.create_index("ix_audit_log_pending_mac", "audit_log", ["pending_mac"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    """Refused while entries wait: they would be lost. Chain them first."""
    waiting = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_pending")).scalar_one()
    if waiting:
        raise RuntimeError(
            f"{waiting} audit records are not chained yet: start the service once "
            "to chain them, then downgrade"
        )
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("audit_pending")
        op.execute(f"DROP FUNCTION IF EXISTS {_PG_DELETE_GUARD}()")
    else:
        op.drop_table("audit_pending")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_overwrite")
        op.execute(
            "CREATE TRIGGER audit_log_no_overwrite BEFORE INSERT ON audit_log "
            "WHEN EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq) "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: "
            "this insert would overwrite a record'); END"
        )
    op.drop_index("ix_audit_log_pending_mac", "audit_log")
    # Dropping a column on SQLite rebuilds the table only in batch mode; 3.35+ drops it
    # in place, keeping the triggers.
    op.drop_column("audit_log", "pending_mac")

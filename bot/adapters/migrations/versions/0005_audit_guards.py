"""The append-only audit tables refuse TRUNCATE (PostgreSQL) and inserts that would
overwrite a record (SQLite's INSERT OR REPLACE, which deletes without firing delete
triggers).

Revisions 0001 and 0004 made audit_log and audit_contents refuse UPDATE and DELETE.
These guards close the other ways of changing a record. What the table owner can still
do (drop a trigger) is taken away by running the service as another role (README.md,
"Database roles").

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The append-only tables, as of this revision.
_APPEND_ONLY = ("audit_log", "audit_contents")
# Those that refuse UPDATE and DELETE already (revisions 0001 and 0004); any other
# gets it here.
_ROW_GUARDED_BEFORE = ("audit_log", "audit_contents")

_PG_FUNCTION = "gangway_refuse_audit_change"


def _present() -> list[str]:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    return [table for table in _APPEND_ONLY if table in existing]


def _unique_keys(table: str) -> list[list[str]]:
    """The column sets of the SQLite table's primary key and every unique constraint and
    index: REPLACE deletes whatever row an insert collides with on any of them.

    Read with SQLite's own pragmas: SQLAlchemy's reflection leaves out a UNIQUE
    declared on a column.
    """
    bind = op.get_bind()
    keys: list[list[str | None]] = [
        [*sa.inspect(bind).get_pk_constraint(table)["constrained_columns"]]
    ]
    for index in bind.exec_driver_sql(f"PRAGMA index_list('{table}')").mappings():
        if index["unique"]:
            name = index["name"]
            info = bind.exec_driver_sql(f"PRAGMA index_info('{name}')").mappings()
            keys.append([row["name"] for row in info])
    found: list[list[str]] = []
    for key in keys:
        # An index on an expression has no column name: its clashes are not looked for.
        columns = [str(c) for c in key if c is not None]
        if columns and len(columns) == len(key) and columns not in found:
            found.append(columns)
    return found


def _upgrade_postgresql(tables: list[str]) -> None:
    op.execute(
        f"""
        CREATE FUNCTION {_PG_FUNCTION}() RETURNS trigger AS $$
        BEGIN
          RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    for table in tables:
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()"
        )
        if table not in _ROW_GUARDED_BEFORE:
            op.execute(
                f"CREATE TRIGGER {table}_no_row_change BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {_PG_FUNCTION}()"
            )


def _upgrade_sqlite(tables: list[str]) -> None:
    # SQLite has no TRUNCATE: its "DELETE FROM t" is refused by the delete trigger.
    for table in tables:
        clash = " OR ".join(
            f"EXISTS (SELECT 1 FROM {table} WHERE "
            + " AND ".join(f"{c} = NEW.{c}" for c in key)
            + ")"
            for key in _unique_keys(table)
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_overwrite BEFORE INSERT ON {table} WHEN {clash} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: "
            "this insert would overwrite a record'); END"
        )
        if table not in _ROW_GUARDED_BEFORE:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_refuse_{action.lower()} BEFORE {action} "
                    f"ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only: "
                    f"{action} refused'); END"
                )


def upgrade() -> None:
    tables = _present()
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql(tables)
    else:
        _upgrade_sqlite(tables)


def downgrade() -> None:
    tables = _present()
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_row_change ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()")
        return
    for table in tables:
        for name in ("no_overwrite", "refuse_update", "refuse_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{name}")

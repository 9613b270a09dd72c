"""Who may do what in the database: migrations run as an owner role, the service as a
role that may only read and append on the audit tables.

The audit tables' triggers refuse every change to a record, but a table's owner may
drop or disable triggers. A service role that does not own the tables cannot, and its
privileges (below) refuse the same changes a second time. SQLite has no roles: there,
whoever may write the file may do anything, and the triggers are the only guard.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, inspect, text

from bot.adapters.db import make_engine
from bot.adapters.migrate import current_revision, head_revision, upgrade

__all__ = [
    "MIGRATION_LOCK",
    "MigrationSetupError",
    "migrate_database",
    "migration_lock",
    "triggers_only_warning",
]

log = logging.getLogger(__name__)

# Records that, once written, never change (audit_contents exists from its migration on).
_APPEND_ONLY = ("audit_log", "audit_contents")

# What the service role may do to each table; every other table is a working table.
_WORKING = "SELECT, INSERT, UPDATE, DELETE"
_PRIVILEGES = {
    **{table: "SELECT, INSERT" for table in _APPEND_ONLY},
    "audit_head": "SELECT, UPDATE",  # every chained batch moves the chain's head
    # Appends insert; the chainer deletes what it chained (a trigger refuses the rest).
    "audit_pending": "SELECT, INSERT, DELETE",
    "alembic_version": "SELECT",  # readiness and `doctor` read the schema's revision
}


class MigrationSetupError(Exception):
    """GANGWAY_MIGRATION_DATABASE_URL cannot serve the service's database."""


def _whoami(engine: Engine) -> tuple[str, str]:
    with engine.connect() as conn:
        user, database = conn.execute(text("SELECT current_user, current_database()")).one()
    return str(user), str(database)


# Any fixed 64-bit number, the same in every gangway release: whoever holds this
# advisory lock on a database is migrating it.
MIGRATION_LOCK = 0x6761_6E67_7761_7901


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock for migrations while the block runs (nothing on
    SQLite, which one process uses). Several replicas started at once, as an
    orchestrator does, thus migrate one after the other: the first does the work, the
    others find the schema at head. The lock is the connection's: a process that dies
    holding it lets it go with its connection."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            conn.commit()


def migrate_database(service: Engine, migration_url: str | None = None) -> None:
    """Bring the service's database to the newest schema, under `migration_lock`.

    With ``migration_url`` on PostgreSQL the migrations run as that role, which thus
    owns the tables, and the service's role (``service``'s user) is then given what
    it needs; running it again changes nothing. On SQLite the URL means nothing: it
    is ignored, with a note in the log.
    """
    with migration_lock(service):
        _migrate(service, migration_url)


def _upgrade_unless_at_head(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current == head:
        log.info("database schema already at revision %s: nothing to migrate", head)
        return
    upgrade(engine)
    log.info("database schema migrated from revision %s to %s", current or "nothing", head)


def _migrate(service: Engine, migration_url: str | None) -> None:
    if migration_url is None:
        _upgrade_unless_at_head(service)
        return
    if service.dialect.name != "postgresql":
        log.warning(
            "GANGWAY_MIGRATION_DATABASE_URL is ignored: %s has no roles; migrating %r",
            service.dialect.name,
            service.url,
        )
        _upgrade_unless_at_head(service)
        return
    owner = make_engine(migration_url)
    try:
        if owner.dialect.name != "postgresql":
            raise MigrationSetupError(
                "GANGWAY_MIGRATION_DATABASE_URL must name the PostgreSQL database of "
                f"DATABASE_URL, not {owner.url!r}"
            )
        service_role, service_db = _whoami(service)
        owner_role, owner_db = _whoami(owner)
        if owner_db != service_db:
            raise MigrationSetupError(
                f"GANGWAY_MIGRATION_DATABASE_URL names the database {owner_db!r}, "
                f"but DATABASE_URL names {service_db!r}"
            )
        _upgrade_unless_at_head(owner)
        if owner_role == service_role:
            log.info("migrated as %s, the service's own role: nothing to grant", owner_role)
            return
        with owner.begin() as conn:
            _grant_service_privileges(conn, service_role)
        log.info("migrated as %s; privileges of %s set", owner_role, service_role)
    finally:
        owner.dispose()


def _grant_service_privileges(conn: Connection, role: str) -> None:
    """Give ``role`` exactly the service's privileges on every table and sequence of
    the current schema (PostgreSQL), taking back any others this connection's role
    granted before: the result is the same however often it runs."""
    quote = conn.dialect.identifier_preparer.quote
    grantee = quote(role)
    for table in sorted(inspect(conn).get_table_names()):
        name = quote(table)
        conn.execute(text(f"REVOKE ALL ON TABLE {name} FROM {grantee}"))
        conn.execute(text(f"GRANT {_PRIVILEGES.get(table, _WORKING)} ON TABLE {name} TO {grantee}"))
    schema = quote(conn.execute(text("SELECT current_schema()")).scalar_one())
    conn.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {grantee}"))
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {grantee}"))


def triggers_only_warning(engine: Engine) -> str | None:
    """Why the audit tables are guarded by their triggers only, or None when they are not.

    That is so when ``engine``'s role could drop the triggers: on PostgreSQL when it
    owns the audit log (or acts as its owner, or is a superuser). SQLite is not
    warned about: no role could be kept from the triggers there.
    """
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT current_user, t.tableowner, "
                "pg_has_role(current_user, t.tableowner, 'MEMBER') OR r.rolsuper "
                "FROM pg_tables t JOIN pg_roles r ON r.rolname = current_user "
                "WHERE t.schemaname = current_schema() AND t.tablename = 'audit_log'"
            )
        ).first()
    if row is None or not row[2]:
        return None
    user, table_owner = row[0], row[1]
    who = "owns" if user == table_owner else f"can act as {table_owner}, which owns"
    return (
        f"the service's database role {user} {who} the audit tables: they are "
        "protected by their triggers only, which it could drop. Run the migrations as "
        'another role: README.md, section "Database roles".'
    )

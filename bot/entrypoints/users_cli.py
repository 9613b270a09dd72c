"""`gangway users`: console accounts (add, list, disable) and their API tokens (make,
list, revoke one; each expires).

Exit codes: 0 done, 1 refused (a plain-words reason on stderr), 2 the database could
not be used.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.adapters import accounts
from bot.adapters.accounts import AccountError
from bot.adapters.db_roles import MigrationSetupError, migrate_database
from bot.adapters.tables import ApiToken, User
from bot.config import MissingConfiguration, load_settings
from bot.domain.access import Role
from bot.records_setup import open_records
from bot.service_layer.ports import SystemClock

__all__ = ["users_app"]

users_app = typer.Typer(help="Console accounts and their API tokens.", no_args_is_help=True)
T = TypeVar("T")


@contextmanager
def _unit_of_work() -> Iterator[Session]:
    settings = load_settings()
    engine, sessions = open_records(settings, SystemClock().now(), create=True)
    try:
        # As the service does on start: `users add` may come first.
        migrate_database(engine, settings.migration_database_url)
        with sessions.begin() as session:
            yield session
    finally:
        engine.dispose()


def _run(work: Callable[[Session], T]) -> T:
    """``work`` in one transaction; refusals and database problems become exits."""
    try:
        with _unit_of_work() as session:
            return work(session)
    except AccountError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except (SQLAlchemyError, MigrationSetupError) as exc:
        typer.echo(f"error: the database could not be used: {exc}", err=True)
        raise typer.Exit(2) from exc
    except MissingConfiguration as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            typer.echo("error: no password on standard input", err=True)
            raise typer.Exit(1)
        return password
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


ROLES = ", ".join(r.value for r in Role)


@users_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The person's email; they sign in with it.")],
    name: Annotated[str, typer.Option("--name", help="Display name shown in the console.")],
    role: Annotated[str, typer.Option("--role", help=f"One of: {ROLES}.")],
    team: Annotated[str | None, typer.Option(help="Team (a supervisor sees their team).")] = None,
    country: Annotated[
        list[str] | None, typer.Option(help="ISO country an advisor is licensed for (repeat).")
    ] = None,
    product: Annotated[
        list[str] | None, typer.Option(help="Product an advisor may handle (repeat).")
    ] = None,
    language: Annotated[
        list[str] | None, typer.Option(help="Language an advisor speaks, e.g. en (repeat).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a console account; asks for the password twice (hidden) unless --password-stdin."""
    password = _read_password(password_stdin)

    def work(session: Session) -> str:
        user = accounts.create_user(
            session,
            email=email,
            display_name=name,
            role=role,
            password=password,
            team=team,
            countries=country or (),
            products=product or (),
            languages=language or (),
            now=SystemClock().now(),
        )
        return f"added {user.email} ({user.role})"

    typer.echo(_run(work))


@users_app.command("list")
def list_() -> None:
    """List the accounts."""

    def work(session: Session) -> list[list[str]]:
        return [
            [
                u.email,
                u.display_name,
                u.role,
                u.team or "-",
                "active" if u.active else "disabled",
                ",".join(json.loads(u.countries)) or "-",
                ",".join(json.loads(u.languages)) or "-",
                ",".join(json.loads(u.products)) or "-",
            ]
            for u in accounts.list_users(session)
        ]

    rows = _run(work)
    if not rows:
        typer.echo("no users yet: add one with `gangway users add EMAIL --name NAME --role ROLE`")
        return
    _table(["EMAIL", "NAME", "ROLE", "TEAM", "STATUS", "COUNTRIES", "LANGUAGES", "PRODUCTS"], rows)


@users_app.command("disable")
def disable(email: Annotated[str, typer.Argument(help="The account to disable.")]) -> None:
    """Disable an account: it can no longer sign in, and its sessions and API tokens end."""

    def work(session: Session) -> str:
        user = accounts.disable_user(session, email, SystemClock().now())
        return f"disabled {user.email}; their sessions and API tokens no longer work"

    typer.echo(_run(work))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _token_rows(now: datetime, tokens: list[ApiToken]) -> list[list[str]]:
    """One row per token for `token --list`; never the token, which is not kept."""
    rows = []
    for t in tokens:
        state = "revoked" if t.revoked_at else "expired" if now >= t.expires_at else "active"
        rows.append(
            [
                str(t.id),
                t.name,
                _when(t.created_at),
                _when(t.expires_at),
                _when(t.last_used_at),
                state,
            ]
        )
    return rows


def _table(header: list[str], rows: list[list[str]]) -> None:
    """Columns padded to their widest value: readable, and splittable by scripts."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


@users_app.command("token")
def token(
    email: Annotated[
        str | None, typer.Argument(help="The account the token acts as (or whose tokens).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="What a new token is for, e.g. 'crm-sync'.")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option("--days", help="Days a new token works (default GANGWAY_API_TOKEN_DAYS)."),
    ] = None,
    list_tokens: Annotated[
        bool, typer.Option("--list", help="List the account's tokens instead.")
    ] = False,
    revoke: Annotated[
        int | None, typer.Option("--revoke", help="End the token with this ID (see --list).")
    ] = None,
) -> None:
    """Make an API token for the console's JSON API (shown once: store it now), list an
    account's tokens with --list, or end one with --revoke ID."""
    now = SystemClock().now()
    if revoke is not None:
        _run(lambda s: accounts.revoke_api_token(s, revoke, now).id)
        typer.echo(f"revoked API token {revoke}; it no longer works")
        return
    if email is None:
        typer.echo("error: name the account: `gangway users token EMAIL --name NAME`", err=True)
        raise typer.Exit(1)

    def account(session: Session) -> User:
        user = accounts.find_user(session, email)
        if user is None:
            raise AccountError(f"there is no user {email.strip().lower()}")
        return user

    if list_tokens:
        rows = _run(lambda s: _token_rows(now, accounts.list_api_tokens(s, account(s))))
        if not rows:
            typer.echo(f"no API tokens for {email.strip().lower()}")
            return
        _table(["ID", "NAME", "CREATED", "EXPIRES", "LAST USED", "STATUS"], rows)
        return
    if name is None:
        typer.echo("error: say what the token is for with --name, e.g. --name crm-sync", err=True)
        raise typer.Exit(1)

    def work(session: Session) -> tuple[int, str, str]:
        lifetime = timedelta(days=load_settings().gangway_api_token_days if days is None else days)
        row, raw = accounts.issue_api_token(session, account(session), name, now, lifetime)
        return row.id, raw, _when(row.expires_at)

    token_id, raw, expires = _run(work)
    typer.echo(raw)
    typer.echo(
        f"API token {token_id}, valid until {expires} UTC. It is shown once; gangway keeps "
        "only its hash. Use it as `Authorization: Bearer <token>`; end it with "
        f"`gangway users token --revoke {token_id}`.",
        err=True,
    )

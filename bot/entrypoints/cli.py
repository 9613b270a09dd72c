"""The `gangway` command."""

from __future__ import annotations

import logging
import os
import sys

import typer

from bot.config import Settings, load_settings
from bot.entrypoints.classify_cli import classify
from bot.entrypoints.eval_cli import eval_
from bot.entrypoints.flows_cli import flows_app
from bot.entrypoints.model_cli import model_app
from bot.entrypoints.reconcile_cli import reconcile
from bot.entrypoints.records_cli import erase, export, hold_app, keys_app, retention_app
from bot.entrypoints.users_cli import users_app

__all__ = ["app", "main"]

app = typer.Typer(
    help="Gangway: from a public WhatsApp number to a secure channel.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(flows_app, name="flows")
app.add_typer(users_app, name="users")
app.add_typer(model_app, name="model")
app.add_typer(hold_app, name="hold")
app.add_typer(retention_app, name="retention")
app.add_typer(keys_app, name="keys")
app.command("classify")(classify)
app.command("eval")(eval_)
app.command("erase")(erase)
audit_app.command("export")(export)
audit_app.command("reconcile")(reconcile)


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request's URL at INFO, and a Twilio message lookup carries the
    # prospect's number in its query: gangway's logs never hold a number.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def _settings_with_twilio(missing: str) -> Settings:
    """Settings for a command that needs Twilio credentials; exit 2 saying `missing` if absent."""
    settings = load_settings()
    _logging(settings.gangway_log_level)
    if not settings.twilio_configured:
        typer.echo(missing, err=True)
        raise typer.Exit(2)
    return settings


def _sandbox_crm_secret(settings: Settings) -> bytes | None:
    """The CRM secret when gangway pushes handoffs to this sandbox's stand-in CRM."""
    url, secret = settings.gangway_crm_url or "", settings.gangway_crm_secret
    local = url.startswith(f"http://127.0.0.1:{settings.gangway_sandbox_port}/crm")
    return secret.get_secret_value().encode() if local and secret else None


@app.command()
def up() -> None:
    """Start the whole stack (Rasa, actions, sandbox or Twilio, gangway); Ctrl-C stops it."""
    from bot.entrypoints.supervisor import plan_stack, run_stack

    settings = load_settings()
    plan = plan_stack(settings, os.environ)
    raise typer.Exit(run_stack(plan))


@app.command()
def serve() -> None:
    """Run the gangway service alone (webhooks, worker, API)."""
    import uvicorn

    from bot.bootstrap import NO_TWILIO, build
    from bot.entrypoints.app import create_app

    settings = _settings_with_twilio(NO_TWILIO)
    application = create_app(lambda: build(settings), api_docs=settings.api_docs_enabled)
    uvicorn.run(
        application,
        host=settings.gangway_host,
        port=settings.gangway_port,
        log_level=settings.gangway_log_level.lower(),
        access_log=False,
    )


@app.command()
def sandbox() -> None:
    """Run the local WhatsApp sandbox (a Twilio-compatible API and a chat page), on
    loopback only; it refuses settings that point gangway at the real Twilio."""
    import uvicorn

    from bot.bootstrap import INBOUND_PATH, webhook_path
    from bot.entrypoints.loopback import local_only, sandbox_refusal
    from bot.sandbox.app import SandboxConfig, create_app

    settings = _settings_with_twilio(
        "The sandbox needs the credentials gangway will use: set TWILIO_ACCOUNT_SID and "
        "TWILIO_AUTH_TOKEN (`gangway up` invents them for you)."
    )
    refusal = sandbox_refusal(settings)
    if refusal:
        typer.echo(refusal, err=True)
        raise typer.Exit(2)
    assert settings.twilio_account_sid and settings.twilio_auth_token
    config = SandboxConfig(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        webhook_url=webhook_path(settings, INBOUND_PATH),
        business_number=settings.twilio_whatsapp_from,
        crm_secret=_sandbox_crm_secret(settings),
    )
    uvicorn.run(
        local_only(create_app(config)),
        host="127.0.0.1",
        port=settings.gangway_sandbox_port,
        log_level="warning",
    )


@app.command()
def doctor() -> None:
    """Check the database, Rasa, the action server and Twilio or the sandbox."""
    from bot.entrypoints.doctor import run_checks

    checks = run_checks(load_settings())
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        typer.echo(f"[{mark}] {check.part}: {check.detail}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (also done at start), as the migration role when one is set."""
    from bot.adapters.db import make_engine
    from bot.adapters.db_roles import migrate_database
    from bot.adapters.migrate import current_revision

    settings = load_settings()
    _logging(settings.gangway_log_level)
    engine = make_engine(settings.database_url)
    try:
        migrate_database(engine, settings.migration_database_url)
        typer.echo(f"database at revision {current_revision(engine)}")
    except Exception as exc:
        typer.echo(f"could not upgrade {engine.url!r}: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit chain and check it still holds every checkpoint kept outside
    the database; exit 1 naming the first break. Says how many records wait to be
    chained (and checks them), chaining none: it only reads."""
    from bot.adapters import audit_log
    from bot.adapters.audit_checkpoints import check_checkpoints
    from bot.config import MissingConfiguration
    from bot.records_setup import open_records
    from bot.service_layer.ports import SystemClock

    settings = load_settings()
    try:
        engine, sessions = open_records(settings, SystemClock().now())
    except MissingConfiguration as exc:
        typer.echo(f"cannot open the records: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        with sessions() as s:
            count, broken = audit_log.verify(
                s, progress=lambda n: typer.echo(f"  ... {n} records checked", err=True)
            )
            lost = check_checkpoints(s, settings.audit_checkpoints)
            waiting = audit_log.pending_records(s)
    except Exception as exc:
        typer.echo(f"could not read the audit log: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    if broken is not None:
        typer.echo(
            f"BROKEN at record {broken.seq}: {broken.reason} ({count} records read)", err=True
        )
        raise typer.Exit(1)
    if lost is not None:
        typer.echo(
            f"BROKEN: checkpoint line {lost.line} of {settings.audit_checkpoints} {lost.reason}",
            err=True,
        )
        raise typer.Exit(1)
    if waiting.altered:
        typer.echo(
            f"BROKEN: {waiting.altered} of the {waiting.count} records waiting to be chained "
            "were changed or made without the audit key",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {count} records")
    if waiting.oldest_recorded_at is not None:
        age = (SystemClock().now() - waiting.oldest_recorded_at).total_seconds()
        typer.echo(f"{waiting.count} records waiting to be chained, the oldest for {age:.1f} s")
    else:
        typer.echo("no records waiting to be chained")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

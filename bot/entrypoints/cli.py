"""The `gangway` command."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.engine import make_url

from bot.config import MissingConfiguration, Settings, load_settings
from bot.entrypoints.classify_cli import classify
from bot.entrypoints.eval_cli import eval_
from bot.entrypoints.failed_work_cli import crm_app, inbox_app, intake_app, outbox_app
from bot.entrypoints.flow_tests_cli import flows_test, simulate
from bot.entrypoints.flows_cli import flows_app
from bot.entrypoints.model_cli import model_app
from bot.entrypoints.reconcile_cli import reconcile
from bot.entrypoints.records_cli import erase, export, hold_app, keys_app, retention_app
from bot.entrypoints.report_cli import report_app
from bot.entrypoints.service_process import logging_of
from bot.entrypoints.users_cli import users_app

if TYPE_CHECKING:
    from bot.entrypoints.supervisor import Scale

__all__ = ["app", "main"]

app = typer.Typer(
    help="Gangway: from a public WhatsApp number to a secure channel.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(flows_app, name="flows")
flows_app.command("test")(flows_test)
app.command("simulate")(simulate)
app.add_typer(users_app, name="users")
app.add_typer(model_app, name="model")
app.add_typer(hold_app, name="hold")
app.add_typer(retention_app, name="retention")
app.add_typer(keys_app, name="keys")
app.add_typer(outbox_app, name="outbox")
app.add_typer(crm_app, name="crm")
app.add_typer(inbox_app, name="inbox")
app.add_typer(intake_app, name="intake")
app.add_typer(report_app, name="report")
app.command("classify")(classify)
app.command("eval")(eval_)
app.command("erase")(erase)
audit_app.command("export")(export)
audit_app.command("reconcile")(reconcile)


_logging = logging_of


def _settings_with_twilio(missing: str) -> Settings:
    """Settings for a command that needs Twilio credentials; exit 2 saying `missing` if absent."""
    settings = load_settings()
    _logging(settings)
    if not settings.twilio_configured:
        typer.echo(missing, err=True)
        raise typer.Exit(2)
    return settings


def _sandbox_crm_secrets(settings: Settings) -> tuple[bytes, ...]:
    """The CRM secrets when gangway pushes handoffs to this sandbox's stand-in CRM."""
    url = settings.gangway_crm_url or ""
    if not url.startswith(f"http://127.0.0.1:{settings.gangway_sandbox_port}/crm"):
        return ()
    try:
        return settings.crm_secrets
    except MissingConfiguration as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


@app.command()
def up(
    replicas: Annotated[
        int, typer.Option(min=1, help="Service processes (`serve --workers N`; PostgreSQL only).")
    ] = 1,
    rasa_replicas: Annotated[
        int,
        typer.Option(
            min=1,
            help="Rasa servers on consecutive ports from RASA_URL's, sharing a SQL tracker "
            "store on PostgreSQL and a Redis lock store (GANGWAY_REDIS_URL).",
        ),
    ] = 1,
) -> None:
    """Start the whole stack (Rasa, actions, sandbox or Twilio, gangway); Ctrl-C stops it.
    A part that dies is restarted."""
    from bot.entrypoints.supervisor import Scale, plan_stack, run_stack

    settings = load_settings()
    _logging(settings)
    refusal = one_process_only(settings, replicas)
    if refusal:
        typer.echo(refusal, err=True)
        raise typer.Exit(2)
    scale = Scale(service_processes=replicas, rasa_replicas=rasa_replicas)
    if rasa_replicas > 1 or settings.gangway_rasa_tracker_database_url is not None:
        scale = _shared_rasa(settings, scale)
    plan = plan_stack(settings, os.environ, scale)
    raise typer.Exit(run_stack(plan))


def _shared_rasa(settings: Settings, scale: Scale) -> Scale:
    """``scale`` with the stores Rasa replicas share: the tracker database made if
    missing, the endpoints file naming both written to the state directory."""
    from dataclasses import replace

    from bot.adapters.rasa_stores import ensure_database, rasa_stores
    from bot.config import REPO_ROOT, MissingConfiguration
    from bot.rasa_project import shared_endpoints

    try:
        stores = rasa_stores(settings)
    except MissingConfiguration as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    try:
        if ensure_database(stores.tracker_url):
            typer.echo(f"==> made the database {stores.tracker_url.database} for Rasa's trackers")
    except Exception as exc:
        where = stores.tracker_url.render_as_string(hide_password=True)
        typer.echo(f"could not make the database of Rasa's trackers ({where}): {exc}", err=True)
        raise typer.Exit(1) from exc
    endpoints = shared_endpoints(REPO_ROOT, settings.state_dir / "rasa" / "endpoints.yml")
    return replace(scale, stores=stores, endpoints=endpoints)


WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        help="Service processes on the one port (PostgreSQL only); one that dies is replaced.",
    ),
]


WORKER_HEALTHCHECK_SECONDS = 60


def one_process_only(settings: Settings, processes: int) -> str | None:
    """Why ``processes`` service processes cannot share the configured database, or None."""
    if processes > 1 and make_url(settings.database_url).get_backend_name() == "sqlite":
        return (
            f"{processes} service processes need PostgreSQL: SQLite is for one process. "
            "Set DATABASE_URL to a PostgreSQL database, or run one."
        )
    return None


def _prepare_service(settings: Settings) -> None:
    """What the service processes share, made once here before any of them starts: the
    schema at head, and the state directory's keys and invite secret when the
    environment gives none (exit 1 or 2 saying why if that fails)."""
    from bot.adapters.db import make_engine, make_session_factory
    from bot.adapters.db_roles import migrate_database, triggers_only_warning
    from bot.adapters.vault import Vault
    from bot.bootstrap import invite_secret
    from bot.config import MissingConfiguration
    from bot.records_setup import check_keys, keyring
    from bot.service_layer.ports import SystemClock

    engine = make_engine(settings.database_url)
    try:
        keys = keyring(settings, SystemClock().now())
        invite_secret(settings)
        migrate_database(engine, settings.migration_database_url)
        warning = triggers_only_warning(engine)
        # The first process on a new database records which keys it was written with.
        check_keys(make_session_factory(engine, Vault(keys)))
    except MissingConfiguration as exc:
        typer.echo(f"cannot start the service: {exc}", err=True)
        raise typer.Exit(2) from exc
    except Exception as exc:
        typer.echo(f"could not migrate {engine.url!r}: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    if warning:
        logging.getLogger("bot.bootstrap").warning(warning)


@app.command()
def serve(workers: WorkersOption = 1) -> None:
    """Run the gangway service alone (webhooks, worker, API)."""
    import uvicorn

    from bot.bootstrap import NO_TWILIO, build
    from bot.entrypoints.app import create_app
    from bot.entrypoints.tracing import start_tracing

    settings = _settings_with_twilio(NO_TWILIO)
    refusal = one_process_only(settings, workers)
    if refusal:
        typer.echo(refusal, err=True)
        raise typer.Exit(2)
    _prepare_service(settings)
    host, port, level = settings.gangway_host, settings.gangway_port, settings.gangway_log_level
    if workers > 1:
        from bot.adapters.prometheus_metrics import prepare_process_figures

        # The workers' counts go to files in a directory of this run's own, which the
        # one answering GET /metrics adds up; the workers inherit its name. It goes
        # when serve ends (or, after a crash, when the next serve starts).
        figures = prepare_process_figures(settings.state_dir, os.getpid())
        atexit.register(shutil.rmtree, figures, ignore_errors=True)
        # uvicorn's own supervisor starts each worker from the factory's import path, and
        # a new one when a worker dies (not when one fails during start-up: it stops
        # then, since the others would fail the same way).
        uvicorn.run(
            "bot.entrypoints.service_process:create",
            factory=True,
            workers=workers,
            # Each worker is a fresh interpreter importing the whole service before it
            # answers uvicorn's health pings; on a busy machine that takes longer than
            # uvicorn's 5 s, and it would kill and restart the worker over and over.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            host=host,
            port=port,
            log_level=level.lower(),
            log_config=None,
        )
        return
    application = create_app(
        lambda: build(settings, migrate=False),
        api_docs=settings.api_docs_enabled,
        tracing=start_tracing(settings),
    )
    # No logging configuration of uvicorn's own: its lines (the access log too) go
    # through gangway's handler, in its format, with the request id (bot.entrypoints.logs).
    uvicorn.run(application, host=host, port=port, log_level=level.lower(), log_config=None)


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
        crm_secrets=_sandbox_crm_secrets(settings),
    )
    uvicorn.run(
        local_only(create_app(config)),
        host="127.0.0.1",
        port=settings.gangway_sandbox_port,
        log_level="warning",
        log_config=None,
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
    _logging(settings)
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

"""`gangway audit reconcile`: are gangway's records and Twilio's complete against each other?

Exit codes: 0 nothing missing, 1 gaps found, 2 the check could not run (a bad
``--since``, no Twilio credentials, Twilio or the database unreachable).
"""

from __future__ import annotations

import httpx
import typer

from bot.adapters.db_roles import migrate_database
from bot.background import message_history, reconciler
from bot.config import NO_TWILIO, MissingConfiguration, load_settings
from bot.domain.reconciliation import Reconciliation, Side, parse_duration
from bot.entrypoints.service_process import logging_of
from bot.records_setup import open_records
from bot.service_layer.ports import SystemClock
from bot.service_layer.reconciliation import ReconciliationFailed

__all__ = ["reconcile", "report_lines"]

EXIT_GAPS = 1
EXIT_CANNOT_RUN = 2


def report_lines(run_id: int, result: Reconciliation) -> list[str]:
    """The findings, plainly: the range, the counts of each side, then one line per gap."""
    counts = result.counts()
    lines = [
        f"reconciliation run {run_id}: {result.start.isoformat(timespec='seconds')} "
        f"to {result.end.isoformat(timespec='seconds')}",
        f"  at the provider: {counts['provider_inbound']} inbound, "
        f"{counts['provider_outbound']} outbound",
        f"  in gangway:      {counts['gangway_inbound']} inbound, "
        f"{counts['gangway_outbound']} outbound "
        f"({counts['not_handed_over']} more never accepted by the provider: no gaps)",
    ]
    if result.clean:
        lines.append("no gaps: every message is on both sides")
        return lines
    lines.append(
        f"GAPS: {counts['not_in_gangway']} not in gangway, "
        f"{counts['not_at_provider']} not at the provider"
    )
    for side in Side:
        lines += [f"  {gap.describe()}" for gap in result.gaps if gap.side is side]
    return lines


def reconcile(
    since: str = typer.Option(
        "24h", "--since", help="How far back to check: minutes, hours or days (90m, 24h, 7d)."
    ),
) -> None:
    """Check that every WhatsApp message at Twilio is in gangway, and the other way round;
    exit 1 listing the gaps."""
    try:
        span = parse_duration(since)
    except ValueError as exc:
        typer.echo(f"--since: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    settings = load_settings()
    # Gaps are logged at ERROR too (stderr), as the scheduled runs log them.
    logging_of(settings)
    if not settings.twilio_configured:
        typer.echo(f"cannot reconcile: {NO_TWILIO}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN)
    try:
        engine, sessions = open_records(settings, SystemClock().now(), create=True)
    except MissingConfiguration as exc:
        typer.echo(f"cannot reconcile: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    http = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
    try:
        # As the service does on start: the run is recorded in its table.
        migrate_database(engine, settings.migration_database_url)
        use_case = reconciler(settings, sessions, SystemClock(), message_history(settings, http))
        report = use_case.reconcile_since(span)
    except ValueError as exc:
        typer.echo(f"--since {since}: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    except ReconciliationFailed as exc:
        typer.echo(f"reconciliation run {exc.run_id} failed: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    except Exception as exc:  # e.g. the database is unreachable before the run starts
        typer.echo(f"could not reconcile: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    finally:
        http.close()
        engine.dispose()
    for line in report_lines(report.run_id, report.result):
        typer.echo(line)
    if not report.result.clean:
        raise typer.Exit(EXIT_GAPS)

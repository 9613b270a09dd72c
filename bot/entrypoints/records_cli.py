"""The records' commands: `gangway erase`, `gangway hold`, `gangway retention`,
`gangway keys` and `gangway audit export`.

Exit codes: 0 done, 1 refused (a legal hold, nothing found, a bundle already there;
a plain reason on stderr), 2 the database or the keys could not be used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.evidence_files import write_bundle
from bot.adapters.flow_files import FlowFileError
from bot.config import MissingConfiguration, load_settings
from bot.records_setup import handoff_events, open_records, scrubber
from bot.service_layer import erasure
from bot.service_layer.evidence import gather_evidence
from bot.service_layer.flow_governance import live_flow
from bot.service_layer.key_rotation import keys_in_use, rotate_keys
from bot.service_layer.ports import SystemClock
from bot.service_layer.retention import run_retention

__all__ = ["erase", "export", "hold_app", "keys_app", "retention_app"]

hold_app = typer.Typer(
    help="Legal holds: conversations no erasure may touch.", no_args_is_help=True
)
retention_app = typer.Typer(help="Apply the flow's retention periods.", no_args_is_help=True)
keys_app = typer.Typer(help="The master keys that protect the records.", no_args_is_help=True)
_clock = SystemClock()

Number = Annotated[
    str | None, typer.Option("--number", help="The prospect's number, whatsapp:+<digits>.")
]
ConversationId = Annotated[
    str | None, typer.Option("--conversation", help="The conversation's id (c-...).")
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _records() -> Iterator[tuple[Engine, SessionFactory]]:
    try:
        engine, sessions = open_records(load_settings(), _clock.now())
    except MissingConfiguration as exc:
        raise _fail(str(exc), 2) from exc
    try:
        yield engine, sessions
        # What the command recorded joins the chain now rather than wait for the service.
        audit_log.chain_all(sessions, _clock.now)
    except erasure.ErasureError as exc:
        raise _fail(str(exc), 1) from exc
    except SQLAlchemyError as exc:
        raise _fail(f"the database could not be used: {exc}", 2) from exc
    finally:
        engine.dispose()


def erase(
    number: Number = None,
    conversation: ConversationId = None,
    reason: Annotated[str, typer.Option(help="Why (an erasure request's reference).")] = "",
) -> None:
    """Erase a prospect's personal data by destroying their conversation's key."""
    if not reason.strip():
        raise _fail("say why with --reason (for example the request's reference)", 1)
    with _records() as (engine, sessions):
        with sessions.begin() as s:
            conv_id = erasure.find_conversation(s, number=number, conversation_id=conversation)
            erased = erasure.erase_conversation(
                s,
                conv_id,
                reason=reason.strip(),
                cause="request",
                now=_clock.now(),
                events=handoff_events(load_settings()),
            )
        scrubber(load_settings(), engine)()
    if erased:
        typer.echo(f"erased conversation {conv_id}: its content can no longer be read")
    else:
        typer.echo(f"conversation {conv_id} was erased already")


@hold_app.command("add")
def hold_add(
    number: Number = None,
    conversation: ConversationId = None,
    reason: Annotated[str, typer.Option(help="Why: the matter or case reference.")] = "",
) -> None:
    """Place a legal hold: no erasure or retention run touches the conversation."""
    with _records() as (_engine, sessions), sessions.begin() as s:
        conv_id = erasure.find_conversation(s, number=number, conversation_id=conversation)
        hold = erasure.place_hold(s, conv_id, reason, _clock.now())
    typer.echo(f"hold {hold.id} placed on conversation {conv_id}")


@hold_app.command("remove")
def hold_remove(
    number: Number = None,
    conversation: ConversationId = None,
    reason: Annotated[str, typer.Option(help="Why the hold ends.")] = "",
) -> None:
    """Release a conversation's legal holds."""
    with _records() as (_engine, sessions), sessions.begin() as s:
        conv_id = erasure.find_conversation(s, number=number, conversation_id=conversation)
        released = erasure.release_hold(s, conv_id, reason, _clock.now())
    typer.echo(f"released hold {', '.join(map(str, released))} on conversation {conv_id}")


@hold_app.command("list")
def hold_list() -> None:
    """The legal holds in force."""
    with _records() as (_engine, sessions), sessions() as s:
        found = erasure.holds(s)
    if not found:
        typer.echo("no legal holds")
    for hold in found:
        typer.echo(
            f"{hold.id}\t{hold.conversation_id}\t{hold.placed_at.isoformat()}\t{hold.reason}"
        )


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what is due; erase nothing.")
    ] = False,
) -> None:
    """Erase what the flow's retention periods say is due (never what is held)."""
    settings = load_settings()
    with _records() as (engine, sessions):
        try:
            rules = live_flow(sessions, settings.gangway_flow).retention
        except (FlowFileError, OSError) as exc:
            raise _fail(f"the flow {settings.gangway_flow} cannot be used: {exc}", 2) from exc
        if rules.transcripts is None and rules.media is None and rules.declined is None:
            typer.echo("the flow sets no retention periods: everything is kept")
            return
        report = run_retention(
            sessions,
            rules,
            _clock.now(),
            dry_run=dry_run,
            scrub=scrubber(settings, engine),
            events=handoff_events(settings),
        )
    verb = "would erase" if dry_run else "erased"
    for conv_id, why in report.erased:
        typer.echo(f"{verb} {conv_id} ({why} period passed)")
    for conv_id in report.held:
        typer.echo(f"kept {conv_id}: due, but under legal hold")
    files = "would drop" if dry_run else "dropped"
    typer.echo(
        f"{len(report.erased)} conversations {verb}, {len(report.held)} held, "
        f"{report.media} attachment files {files}"
    )


@keys_app.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(min=1, help="Data keys per transaction.")] = 200,
) -> None:
    """Re-wrap every conversation's data key under the current (first) master key."""
    with _records() as (_engine, sessions):
        moved = rotate_keys(
            sessions,
            _clock.now,
            batch=batch,
            progress=lambda n: typer.echo(f"  ... {n} re-wrapped", err=True),
        )
        left = keys_in_use(sessions)
    typer.echo(f"{moved} data keys re-wrapped")
    typer.echo(
        "data keys per master key: " + (", ".join(f"{k} {n}" for k, n in left.items()) or "none")
    )


@keys_app.command("status")
def keys_status() -> None:
    """How many data keys each master key wraps (an old key is free to retire at 0)."""
    with _records() as (_engine, sessions):
        left = keys_in_use(sessions)
    for key_id, count in left.items():
        typer.echo(f"{key_id}\t{count}")


def export(
    conversation_id: Annotated[str | None, typer.Argument(help="The conversation's id.")] = None,
    number: Number = None,
    out: Annotated[
        Path, typer.Option("--out", help="The directory to write the bundle to.")
    ] = Path("."),
) -> None:
    """Write a conversation's evidence bundle: transcript, events, consent, manifest."""
    with _records() as (_engine, sessions), sessions() as s:
        # Every record that was appended before the export is in the chain, and proven
        # by it, rather than shown as waiting.
        audit_log.chain_all(sessions, _clock.now)
        conv_id = erasure.find_conversation(s, number=number, conversation_id=conversation_id)
        evidence = gather_evidence(s, conv_id, _clock.now())
    try:
        files = write_bundle(evidence, out)
    except (FileExistsError, OSError) as exc:
        raise _fail(str(exc), 1) from exc
    for name in files:
        typer.echo(str(out / name))
    if not evidence.chain["intact"]:
        raise _fail("the audit chain does not verify: see manifest.json", 1)

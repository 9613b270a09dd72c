"""Governed flow changes at the command line: `gangway flows propose|pending|approve|
reject|versions`.

The running service proposes a changed flow file by itself; `propose` does it by hand
(for a file the service does not watch, or content that was rejected before). Each
step is in the audit log with who did it (``--by``, or the signed-in OS user).

Exit codes: 0 done; 1 refused (a file with errors, nothing stored; a version that does
not exist or is not pending; a rejection without a comment), with a plain reason on
stderr; 2 the database or the keys could not be used, or the file does not exist.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH
from bot.entrypoints.records_cli_session import fail, records
from bot.service_layer import flow_governance
from bot.service_layer.flow_governance import FlowFileError, FlowVersionError, VersionRow
from bot.service_layer.ports import SystemClock

__all__ = ["register"]

_clock = SystemClock()


def _who(by: str | None) -> str:
    return (by or "").strip() or getpass.getuser()


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


_By = Annotated[
    str | None, typer.Option("--by", help="Who does it, for the audit log (default: your login).")
]


def propose(
    file: Annotated[Path, typer.Argument(help="The flow file to propose.")],
    by: _By = None,
) -> None:
    """Validate a flow file and record it as a new version (pending approval, or live
    at once where the live version says `governance: none`)."""
    if not file.is_file():
        raise fail(f"{file}: no such file", 2)
    with records(_clock, FlowVersionError) as sessions:
        try:
            version, created = flow_governance.propose_file(
                sessions, file, _who(by), _clock.now(), DEFAULT_DOMAIN_PATH
            )
        except FlowFileError as exc:
            typer.echo(str(exc), err=True)
            raise fail(f"{file} has errors; nothing was proposed", 1) from exc
    if not created:
        typer.echo(f"{file}: this content is already version {version.ref} ({version.status})")
    elif version.status == "live":
        typer.echo(f"{file}: version {version.ref} is live (the flow says governance: none)")
    else:
        typer.echo(f"{file}: version {version.ref} is pending; a compliance user approves it")


def pending() -> None:
    """List the changes waiting for approval, with what each changes."""
    with records(_clock, FlowVersionError) as sessions:
        changes = flow_governance.pending_changes(sessions, DEFAULT_DOMAIN_PATH)
    if not changes:
        typer.echo("no flow change is pending")
        return
    rows = [
        [
            str(c.version.seq),
            c.version.flow,
            c.version.sha256[:12],
            c.version.proposed_by,
            _when(c.version.proposed_at),
            c.diff.summary(),
        ]
        for c in changes
    ]
    _table(["VERSION", "FLOW", "SHA256", "PROPOSED BY", "PROPOSED AT", "CHANGES"], rows)


def approve(
    version: Annotated[str, typer.Argument(help="The version: its number, or flow:number.")],
    by: _By = None,
    comment: Annotated[str | None, typer.Option(help="Why, for the audit log.")] = None,
) -> None:
    """Approve a pending version: it goes live in every process within seconds."""
    with records(_clock, FlowVersionError) as sessions:
        row = flow_governance.approve(sessions, version, _who(by), comment, _clock.now())
    typer.echo(f"version {row.ref} is live")


def reject(
    version: Annotated[str, typer.Argument(help="The version: its number, or flow:number.")],
    comment: Annotated[str, typer.Option(help="Why it is refused (required).")],
    by: _By = None,
) -> None:
    """Reject a pending version, saying why."""
    with records(_clock, FlowVersionError) as sessions:
        row = flow_governance.reject(sessions, version, _who(by), comment, _clock.now())
    typer.echo(f"version {row.ref} is rejected")


def versions(
    flow: Annotated[str | None, typer.Option(help="Only this flow's versions.")] = None,
) -> None:
    """Every version of the flows, oldest first: status, who proposed and decided."""
    with records(_clock, FlowVersionError) as sessions:
        rows: list[VersionRow] = flow_governance.version_history(sessions, flow)
    _table(
        [
            "VERSION",
            "FLOW",
            "SHA256",
            "STATUS",
            "PROPOSED BY",
            "PROPOSED AT",
            "DECIDED BY",
            "COMMENT",
        ],
        [
            [
                str(v.seq),
                v.flow,
                v.sha256[:12],
                v.status,
                v.proposed_by,
                _when(v.proposed_at),
                v.decided_by or "-",
                v.comment or "-",
            ]
            for v in rows
        ],
    )


def register(app: typer.Typer) -> None:
    """Add the commands to `gangway flows`."""
    for command in (propose, pending, approve, reject, versions):
        app.command(command.__name__)(command)

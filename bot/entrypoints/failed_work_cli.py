"""Failed work at the command line: `gangway outbox|crm|inbox|intake list|retry`.

``list`` shows the newest rows of one kind (``--failed``: only those waiting for a
person), as a table or as JSON; ``retry ID`` makes one failed row due again for the
running service, which does the work: nothing is sent from here. Each retry is in the
audit log with who did it (``--by``, or the signed-in OS user).

Exit codes: 0 done, 1 refused (no such id, a row that is not failed or cannot be sent
now; a plain reason on stderr and nothing changed), 2 the database or the keys could
not be used.
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer

from bot.adapters.db import SessionFactory
from bot.adapters.yaml_files import FlowFileError
from bot.config import load_settings
from bot.domain.flows import Flow
from bot.entrypoints.records_cli_session import fail, records
from bot.service_layer import failed_work
from bot.service_layer.failed_work import FailedItem, FailedWorkError, Kind, Operator
from bot.service_layer.flow_governance import live_flow
from bot.service_layer.ports import SystemClock

__all__ = ["crm_app", "inbox_app", "intake_app", "outbox_app"]

_clock = SystemClock()


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _shorten(text: str | None, width: int = 70) -> str:
    if not text:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


_HEADER = ["ID", "STATUS", "WHAT", "CONVERSATION", "CREATED", "LAST TRY", "TRIES", "CODE", "ERROR"]


def _row(item: FailedItem) -> list[str]:
    return [
        str(item.id),
        item.status,
        item.what,
        item.conversation_id or "-",
        _when(item.created_at),
        _when(item.last_attempt_at),
        str(item.attempts),
        item.error_code or "-",
        _shorten(item.error),
    ]


def _as_json(item: FailedItem) -> dict[str, object]:
    return {
        "kind": item.kind,
        "id": item.id,
        "status": item.status,
        "what": item.what,
        "conversation_id": item.conversation_id,
        "created_at": item.created_at.isoformat(),
        "last_attempt_at": item.last_attempt_at.isoformat() if item.last_attempt_at else None,
        "attempts": item.attempts,
        "error_code": item.error_code,
        "error": item.error,
        "retryable": item.retryable,
        "refusal": item.refusal,
    }


def _table(rows: list[list[str]]) -> None:
    """Columns padded to their widest value: readable, and splittable by scripts."""
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
    for r in [_HEADER, *rows]:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _in_force(sessions: SessionFactory) -> Flow:
    """The flow the service runs: what a retried advisor's reply is held to."""
    settings = load_settings()
    try:
        return live_flow(sessions, settings.gangway_flow)
    except FlowFileError as exc:
        raise fail(f"the flow {settings.gangway_flow} cannot be used: {exc}", 2) from exc


def _kind_app(kind: Kind, help_text: str, noun: str, nouns: str) -> typer.Typer:
    app = typer.Typer(help=help_text, no_args_is_help=True)

    @app.command("list")
    def list_(
        failed: Annotated[
            bool, typer.Option("--failed", help="Only what failed and waits for a person.")
        ] = False,
        limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
        output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.TABLE,
    ) -> None:
        """The newest rows first: ids, conversation, times (UTC), tries and the error
        (never a message's text or a number)."""
        with records(_clock, FailedWorkError) as sessions:
            found = failed_work.items(
                sessions, kind, _clock.now(), _in_force(sessions), failed_only=failed, limit=limit
            )
        if output is Format.JSON:
            typer.echo(json.dumps([_as_json(i) for i in found], indent=2))
        elif not found:
            typer.echo(f"no {'failed ' if failed else ''}{nouns}")
        else:
            _table([_row(i) for i in found])

    @app.command("retry")
    def retry(
        item_id: Annotated[int, typer.Argument(metavar="ID", help="Its id, as `list` shows it.")],
        by: Annotated[
            str | None,
            typer.Option("--by", help="Who retries, for the audit log (default: your login)."),
        ] = None,
    ) -> None:
        """Make one failed row due again: the running service does the work."""
        operator = Operator(name=(by or "").strip() or getpass.getuser())
        with records(_clock, FailedWorkError) as sessions:
            item = failed_work.retry(
                sessions, kind, item_id, _clock.now(), operator, _in_force(sessions)
            )
        typer.echo(f"{noun} {item.id} is {item.status} again; the service takes it from here")

    return app


outbox_app = _kind_app(
    "outbox",
    "Messages to prospects: list them, retry a failed one.",
    "outbox message",
    "outbox messages",
)
crm_app = _kind_app(
    "crm", "Events for the CRM: list them, retry a failed one.", "CRM event", "CRM events"
)
inbox_app = _kind_app(
    "inbox",
    "Prospects' messages: list them, retry one the bot could not answer.",
    "inbox message",
    "inbox messages",
)
intake_app = _kind_app(
    "intake",
    "Webhook deliveries set aside because they could not be read: list, retry.",
    "webhook delivery",
    "set-aside webhook deliveries",
)

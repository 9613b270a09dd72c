"""`gangway report funnel`: how many conversations reached each stage of the move to the
secure channel, with the drop-offs and the times it took (bot.domain.funnel says what
marks each stage).

    gangway report funnel [--since ISO] [--until ISO] [--flow NAME]
                          [--by variant|language|flow_version]
                          [--format table|csv|json|png] [--out FILE]

The conversations counted are those that started in the period (``--since`` inclusive,
``--until`` exclusive, UTC unless the time says otherwise), followed to wherever they had
got by ``--until``. ``--flow`` keeps the conversations that ran under a version of that
flow. The table prints the counts per group side by side, each with its drop-off from
the stage before (declined: its share of terms_offered); the CSV has one row per group
and stage; the JSON is ``{"stages": [...], "groups": {...}}`` with the drop-offs, the
consent branch and the times added; the PNG is a bar chart per group (per variant
unless ``--by`` says otherwise) and needs ``--out``.

Exit codes: 0 done, 2 bad input (a date, a format, a grouping) or a database or flow
file that could not be used, with a plain message on stderr.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, cast

import typer
from sqlalchemy.exc import SQLAlchemyError

from bot.adapters.flow_files import FlowFileError
from bot.config import MissingConfiguration, load_settings
from bot.domain.funnel import STAGES, in_words
from bot.records_setup import open_records
from bot.service_layer import funnel as funnel_service
from bot.service_layer.flow_governance import live_flow
from bot.service_layer.funnel import GROUPINGS, Grouping, Period, Report, parse_moment
from bot.service_layer.ports import SystemClock

__all__ = ["report_app"]

report_app = typer.Typer(help="Reports for those who tune the flows.", no_args_is_help=True)
_clock = SystemClock()
FORMATS = ("table", "csv", "json", "png")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _table(found: Report) -> str:
    funnels = {"all": found.total, **found.groups}
    header = ["STAGE"]
    for name in funnels:
        header += [name.upper(), "DROP-OFF"]
    rows = [header]
    for stage in STAGES:
        row = [stage]
        for funnel in funnels.values():
            row += [str(funnel.counts[stage]), funnel.note(stage)]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    flow = f", flow {found.flow}" if found.flow else ""
    by = f", by {found.by}" if found.by else ""
    title = f"Funnel: conversations started {found.period.words()}{flow}{by}"
    lines = [title, "", *lines, ""]
    for name, funnel in funnels.items():
        for label, t in funnel.times().items():
            spread = "  ".join(f"p{p} {in_words(t[f'p{p}'])}" for p in (50, 90, 95))
            lines.append(f"{name}: {label.replace('_', ' ')} ({t['span']}, n={t['n']}): {spread}")
    return "\n".join(lines)


def _csv(found: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["group", "stage", "count", "lost_from_previous", "drop_off_percent"])
    for name, funnel in {"all": found.total, **found.groups}.items():
        drops = {d["to"]: d for d in funnel.drop_off()}
        for stage in STAGES:
            drop = drops.get(stage)
            lost = drop["lost"] if drop else ""
            percent = drop["percent"] if drop and drop["percent"] is not None else ""
            writer.writerow([name, stage, funnel.counts[stage], lost, percent])
    return out.getvalue()


@report_app.command("funnel")
def funnel(
    since: Annotated[str | None, typer.Option(help="First moment counted (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="End of the period, exclusive.")] = None,
    flow: Annotated[str | None, typer.Option(help="Only this flow's conversations.")] = None,
    by: Annotated[
        str | None, typer.Option(help="Group by variant, language or flow_version.")
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="table, csv, json or png (png needs --out).")
    ] = "table",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Conversations per stage, from started to claimed by an advisor."""
    if output not in FORMATS:
        raise _fail(f"--format {output!r} is not one of {', '.join(FORMATS)}")
    if by is not None and by not in GROUPINGS:
        raise _fail(f"--by {by!r} is not one of {', '.join(GROUPINGS)}")
    if output == "png" and out is None:
        raise _fail("--format png writes a file: say where with --out FILE")
    try:
        period = Period(
            parse_moment(since, "--since") if since else None,
            parse_moment(until, "--until") if until else None,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if period.since and period.until and period.since >= period.until:
        raise _fail("--since must come before --until")
    grouping = cast(Grouping | None, by or ("variant" if output == "png" else None))
    settings = load_settings()
    try:
        engine, sessions = open_records(settings, _clock.now())
    except MissingConfiguration as exc:
        raise _fail(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise _fail(f"the database could not be used: {exc}") from exc
    try:
        threshold = live_flow(sessions, settings.gangway_flow).transition_at
        with sessions() as s:
            found = funnel_service.report(s, period, threshold, flow=flow, by=grouping)
    except FlowFileError as exc:
        raise _fail(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise _fail(f"the database could not be used: {exc}") from exc
    finally:
        engine.dispose()
    if output == "png":
        assert out is not None
        out.write_bytes(funnel_service.chart(found))
        typer.echo(f"wrote {out}")
        return
    text = {
        "table": _table,
        "csv": _csv,
        "json": lambda r: json.dumps(funnel_service.report_dict(r), indent=2),
    }[output](found)
    if out is None:
        typer.echo(text.rstrip("\n"))
    else:
        out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}")

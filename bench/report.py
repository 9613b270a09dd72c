"""The benchmark's results: one row per configuration and baseline, the ratios and
targets between them, printed as a table and written as CSV.

A value that a row does not measure (the bare endpoint has no replies, Rasa's REST
channel no webhook flood, SQLite no second process) is None and shows as "n/a".
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TextIO

__all__ = [
    "BARE",
    "COLUMNS",
    "RASA",
    "TARGETS",
    "Column",
    "Row",
    "add_ratios",
    "format_table",
    "misses",
    "write_csv",
]

BARE = "bare FastAPI"
RASA = "Rasa REST"


@dataclass
class Row:
    name: str  # "sqlite x1", "postgresql x2", BARE, RASA
    database: str = ""
    processes: int | None = None
    ack_rps: float | None = None
    ack_p50_ms: float | None = None
    ack_p99_ms: float | None = None
    ack_errors: int | None = None
    ack_ratio: float | None = None  # ack_rps / the bare endpoint's
    drain_s: float | None = None  # until the flood's backlog was worked off
    e2e_messages: int | None = None
    e2e_rps: float | None = None  # answered messages per second
    e2e_p50_ms: float | None = None
    e2e_p99_ms: float | None = None
    e2e_ratio: float | None = None  # e2e_rps / Rasa's
    lost: int | None = None
    duplicated: int | None = None
    unsat_p50_ms: float | None = None
    unsat_ratio: float | None = None  # unsat_p50_ms / Rasa's
    rss_mb: float | None = None  # the largest peak RSS of the service's processes
    cpu_ms_per_msg: float | None = None  # service CPU over the e2e phase / answered
    rasa_cpu_ms_per_msg: float | None = None  # Rasa + action server, same phase
    twilio_cpu_ms_per_msg: float | None = None  # the Twilio stand-in, same phase
    skipped: str = ""  # why the row was not measured
    misses: str = ""  # the targets this row misses


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    fmt: Callable[[object], str]


def _num(digits: int) -> Callable[[object], str]:
    def fmt(value: object) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        if isinstance(value, float):
            return f"{value:,.{digits}f}"
        return str(value)

    return fmt


def _ratio(value: object) -> str:
    return "n/a" if value is None else f"×{value:.2f}"


def _text(value: object) -> str:
    return str(value) if value not in (None, "") else "-"


# The printed table; the CSV has every field of Row.
COLUMNS: tuple[Column, ...] = (
    Column("name", "configuration", _text),
    Column("ack_rps", "ack req/s", _num(0)),
    Column("ack_p50_ms", "ack p50 ms", _num(1)),
    Column("ack_p99_ms", "ack p99 ms", _num(1)),
    Column("ack_ratio", "ack ÷ bare", _ratio),
    Column("drain_s", "drain s", _num(1)),
    Column("e2e_rps", "e2e msg/s", _num(1)),
    Column("e2e_p50_ms", "e2e p50 ms", _num(0)),
    Column("e2e_p99_ms", "e2e p99 ms", _num(0)),
    Column("e2e_ratio", "e2e ÷ Rasa", _ratio),
    Column("lost", "lost", _num(0)),
    Column("duplicated", "dup", _num(0)),
    Column("unsat_p50_ms", "1-prospect p50 ms", _num(0)),
    Column("unsat_ratio", "÷ Rasa", _ratio),
    Column("rss_mb", "RSS MB", _num(0)),
    Column("cpu_ms_per_msg", "CPU ms/msg", _num(1)),
    Column("rasa_cpu_ms_per_msg", "Rasa CPU ms/msg", _num(1)),
    Column("misses", "missed targets", _text),
)


def _ack_met(r: Row) -> bool:
    return (
        r.ack_ratio is not None
        and r.ack_p99_ms is not None
        and (r.ack_ratio >= 0.5 and r.ack_p99_ms < 50)
    )


def _e2e_met(r: Row) -> bool:
    return r.e2e_ratio is not None and r.e2e_ratio >= 0.9


def _latency_met(r: Row) -> bool:
    return r.unsat_ratio is not None and r.unsat_ratio <= 1.15


def _exact_met(r: Row) -> bool:
    return r.lost == 0 and r.duplicated == 0


def _rss_met(r: Row) -> bool:
    return r.rss_mb is not None and r.rss_mb < 200


def _cpu_met(r: Row) -> bool:
    return r.cpu_ms_per_msg is not None and r.cpu_ms_per_msg <= 5


# (name, whether a measured row meets it, what it says), in the order they are listed.
TARGETS: tuple[tuple[str, Callable[[Row], bool], str], ...] = (
    ("ack", _ack_met, "ack ≥ ×0.50 the bare endpoint's req/s with p99 < 50 ms"),
    ("e2e", _e2e_met, "e2e ≥ ×0.90 Rasa's msg/s"),
    ("latency", _latency_met, "1-prospect p50 ≤ ×1.15 Rasa's"),
    ("lost/dup", _exact_met, "lost = dup = 0"),
    ("rss", _rss_met, "RSS < 200 MB per service process"),
    ("cpu", _cpu_met, "service CPU ≤ 5 ms per answered message"),
)


def _all(*values: object) -> bool:
    return all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values)


def _find(rows: Iterable[Row], name: str) -> Row | None:
    return next((r for r in rows if r.name == name and not r.skipped), None)


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not _all(a, b) or not b:
        return None
    return a / b


def misses(row: Row) -> str:
    """The targets a measured gangway row misses, comma-separated ("" when none)."""
    return ", ".join(name for name, met, _ in TARGETS if not met(row))


def add_ratios(rows: Sequence[Row]) -> None:
    """Fill in each gangway row's ratios to the baselines and the targets it misses."""
    bare, rasa = _find(rows, BARE), _find(rows, RASA)
    for row in rows:
        if row.name in (BARE, RASA) or row.skipped:
            continue
        row.ack_ratio = _div(row.ack_rps, bare.ack_rps if bare else None)
        row.e2e_ratio = _div(row.e2e_rps, rasa.e2e_rps if rasa else None)
        row.unsat_ratio = _div(row.unsat_p50_ms, rasa.unsat_p50_ms if rasa else None)
        row.misses = misses(row)


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table of ``rows`` (a skipped row says why), then the targets."""
    header = [c.header for c in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if row.skipped:
            cells = [row.name] + ["n/a"] * (len(COLUMNS) - 2) + [row.skipped]
        else:
            cells = [c.fmt(getattr(row, c.key)) for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Targets: " + "; ".join(text for _, _, text in TARGETS) + ".")
    return "\n".join(lines)


def write_csv(rows: Sequence[Row], out: Path | TextIO) -> None:
    """Every field of every row, one row per line, empty where not measured."""
    names = [f.name for f in fields(Row)]

    def emit(fh: TextIO) -> None:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({n: "" if getattr(row, n) is None else getattr(row, n) for n in names})

    if isinstance(out, Path):
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as fh:
            emit(fh)
    else:
        emit(out)

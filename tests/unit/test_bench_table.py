"""The benchmark's report: its command line, the table it prints and the CSV it writes."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from dataclasses import fields

import pytest

from bench.report import BARE, COLUMNS, RASA, Row, add_ratios, format_table, write_csv
from bot.config import REPO_ROOT


def _rows() -> list[Row]:
    return [
        Row(BARE, processes=1, ack_rps=2000.0, ack_p50_ms=5.0, ack_p99_ms=12.0),
        Row("sqlite x1", "sqlite", 1, ack_rps=1200.0, ack_p50_ms=9.0, ack_p99_ms=30.0,
            e2e_rps=27.0, e2e_p50_ms=900.0, e2e_p99_ms=2000.0, lost=0, duplicated=0,
            unsat_p50_ms=110.0, rss_mb=150.0, cpu_ms_per_msg=4.0),
        Row(RASA, processes=1, e2e_rps=30.0, e2e_p50_ms=800.0, unsat_p50_ms=100.0),
        Row("sqlite x2", "sqlite", 2, skipped="SQLite serves one process"),
        Row("postgresql x1", "postgresql", 1, ack_rps=500.0, ack_p99_ms=80.0, e2e_rps=20.0,
            lost=1, duplicated=0, unsat_p50_ms=200.0, rss_mb=250.0, cpu_ms_per_msg=9.0),
    ]  # fmt: skip


def test_run_help_describes_the_options() -> None:
    """`bench/run.py --help` runs without a stack and names the output and load options."""
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "run.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for option in ("--out", "--messages", "--conversations", "--flood", "--profile"):
        assert option in done.stdout


def test_ratios_compare_each_configuration_with_the_baselines_of_the_same_run() -> None:
    """Ack req/s is divided by the bare endpoint's, e2e msg/s and one-prospect p50 by Rasa's."""
    rows = _rows()
    add_ratios(rows)
    sqlite = rows[1]
    assert sqlite.ack_ratio == pytest.approx(0.6)
    assert sqlite.e2e_ratio == pytest.approx(0.9)
    assert sqlite.unsat_ratio == pytest.approx(1.1)
    assert rows[0].ack_ratio is None and rows[2].e2e_ratio is None


def test_missed_targets_are_named_per_configuration() -> None:
    """A row that meets every target misses none; one that fails several lists each."""
    rows = _rows()
    add_ratios(rows)
    assert rows[1].misses == ""
    assert rows[4].misses == "ack, e2e, latency, lost/dup, rss, cpu"


def test_table_has_a_header_per_column_and_a_line_per_row() -> None:
    """The printed table has every column, "n/a" where a row measures nothing, and why a
    configuration was skipped."""
    rows = _rows()
    add_ratios(rows)
    lines = format_table(rows).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == [c.header for c in COLUMNS]
    body = [line for line in lines[2:] if line.startswith("|")]
    assert len(body) == len(rows)
    assert all(len(line.strip("|").split("|")) == len(COLUMNS) for line in body)
    assert "| sqlite x2 | n/a |" in lines[5] and "SQLite serves one process" in lines[5]
    assert "×0.60" in lines[3] and "1,200" in lines[3]
    assert any(line.startswith("Targets:") for line in lines)


def test_csv_has_every_field_and_leaves_unmeasured_values_empty() -> None:
    """One CSV line per row with every field as a column; None is written as empty."""
    out = io.StringIO()
    write_csv(_rows(), out)
    records = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(records[0]) == [f.name for f in fields(Row)]
    assert len(records) == 5
    assert records[1]["name"] == "sqlite x1" and records[1]["ack_rps"] == "1200.0"
    assert records[0]["e2e_rps"] == ""
    assert records[3]["skipped"] == "SQLite serves one process"

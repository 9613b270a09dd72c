"""The figures of several service processes add up: each writes its counts to the run's
directory, and whichever answers GET /metrics shows the sum, with the database's
figures once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from bot.adapters.prometheus_metrics import (
    MULTIPROCESS_ENV,
    PrometheusMetrics,
    prepare_process_figures,
)

ROOT = Path(__file__).resolve().parents[2]

# One service process's work: two messages forwarded, one reply after 1.5 s.
WORK = """
from sqlalchemy import create_engine
from bot.adapters.prometheus_metrics import PrometheusMetrics
metrics = PrometheusMetrics(create_engine("sqlite://"))
metrics.inbound("forwarded")
metrics.inbound("forwarded")
metrics.reply_latency(1.5)
metrics.close()
"""


def run_a_process(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WORK],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def samples(page: bytes) -> dict[str, list[float]]:
    """Each series' values by name (inbound messages: the forwarded ones only)."""
    found: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(page.decode()):
        for sample in family.samples:
            if sample.labels.get("outcome", "forwarded") == "forwarded":
                found.setdefault(sample.name, []).append(sample.value)
    return found


def test_two_processes_counts_add_up_and_database_figures_show_once(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MULTIPROCESS_ENV, raising=False)  # restored after the test
    figures = prepare_process_figures(tmp_path, os.getpid())
    assert os.environ[MULTIPROCESS_ENV] == str(figures)
    for _ in range(2):
        run_a_process(dict(os.environ))

    page, _ = PrometheusMetrics(engine).exposition()
    found = samples(page)
    assert found["gangway_inbound_messages_total"] == [4.0]
    assert found["gangway_reply_seconds_count"] == [2.0]
    assert found["gangway_reply_seconds_sum"] == [3.0]
    assert found["gangway_inbox_backlog"] == [0.0]


def test_a_new_run_starts_from_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent empties its directory, and removes those of runs whose parent is gone."""
    monkeypatch.delenv(MULTIPROCESS_ENV, raising=False)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    earlier = tmp_path / "metrics" / gone.stdout.strip()
    earlier.mkdir(parents=True)
    (earlier / "counter_123.db").write_bytes(b"old counts")
    mine = tmp_path / "metrics" / str(os.getpid())
    mine.mkdir()
    (mine / "counter_456.db").write_bytes(b"old counts")

    assert prepare_process_figures(tmp_path, os.getpid()) == mine
    assert list(mine.iterdir()) == []
    assert not earlier.exists()

"""The Rasa project itself: its data validates with no warnings and the test stories pass."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.entrypoints.supervisor import RASA_BIN
from bot.rasa_project import model_path, training_data_paths
from tests.e2e.processes import REPO

pytestmark = pytest.mark.e2e


def rasa(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    if not RASA_BIN.exists():
        pytest.fail("Rasa is not installed: run `make install`.")
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    return subprocess.run(
        [str(RASA_BIN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_rasa_data_validates_without_warnings() -> None:
    """`rasa data validate --fail-on-warnings` passes on the shipped domain and data."""
    data = [str(p.relative_to(REPO)) for p in training_data_paths(REPO)]
    result = rasa(
        "data",
        "validate",
        "--fail-on-warnings",
        "--domain",
        "bot/rasa/domain.yml",
        "--config",
        "bot/rasa/config.yml",
        "--data",
        *data,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_rasa_test_stories_all_pass(tmp_path: Path) -> None:
    """Every conversation in data/tests/ is predicted exactly by the trained model."""
    model = Path(os.environ.get("GANGWAY_RASA_MODEL") or model_path(REPO))
    result = rasa(
        "test",
        "core",
        "--model",
        str(model),
        "--stories",
        "data/tests/test_stories.yml",
        "--out",
        str(tmp_path),
        "--fail-on-prediction-errors",
        "--no-plot",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

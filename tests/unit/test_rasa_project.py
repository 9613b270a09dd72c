"""The Rasa model fingerprint decides when `make model` retrains: these pin its rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot import rasa_project
from bot.rasa_project import fingerprint, model_path, training_data_paths

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    files = {
        "bot/rasa/config.yml": "recipe: default.v1\nlanguage: en\n",
        "bot/rasa/domain.yml": 'version: "3.1"\nintents:\n  - greet\n',
        "bot/rasa/requirements.txt": "rasa==3.6.21\nrasa-sdk==3.6.2\n",
        "locks/rasa.txt": "rasa==3.6.21\ntensorflow==2.12.0\n",
        "locks/service.txt": "fastapi==0.115.0\n",
        "data/nlu.yml": 'version: "3.1"\nnlu:\n  - intent: greet\n    examples: |\n      - hi\n',
        "data/rules.yml": 'version: "3.1"\nrules: []\n',
        "data/tests/test_stories.yml": 'version: "3.1"\nstories: []\n',
    }
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def run_cli(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.rasa_project", command, "--root", str(root)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_fingerprint_is_16_hex_digits_and_stable(project: Path) -> None:
    """The fingerprint is 16 lowercase hex digits and the same for the same files."""
    first = fingerprint(project)
    assert len(first) == 16
    assert int(first, 16) >= 0
    assert first == first.lower()
    assert fingerprint(project) == first


def test_fingerprint_changes_when_a_data_file_changes(project: Path) -> None:
    """Editing a training data file changes the fingerprint."""
    before = fingerprint(project)
    (project / "data/nlu.yml").write_text(
        'version: "3.1"\nnlu:\n  - intent: greet\n    examples: |\n      - hello\n'
    )
    assert fingerprint(project) != before


def test_fingerprint_changes_when_a_data_file_is_added(project: Path) -> None:
    """A new training data file in a subfolder of data/ changes the fingerprint."""
    before = fingerprint(project)
    (project / "data/stories").mkdir()
    (project / "data/stories/more.yaml").write_text('version: "3.1"\nstories: []\n')
    assert fingerprint(project) != before


def test_fingerprint_changes_when_a_file_is_renamed(project: Path) -> None:
    """The relative path is part of the fingerprint, not only the bytes."""
    before = fingerprint(project)
    (project / "data/rules.yml").rename(project / "data/rules2.yml")
    assert fingerprint(project) != before


def test_fingerprint_changes_when_the_rasa_config_changes(project: Path) -> None:
    """Editing bot/rasa/config.yml changes the fingerprint."""
    before = fingerprint(project)
    (project / "bot/rasa/config.yml").write_text("recipe: default.v1\nlanguage: de\n")
    assert fingerprint(project) != before


def test_fingerprint_changes_when_the_pinned_rasa_release_changes(project: Path) -> None:
    """bot/rasa/requirements.txt pins the Rasa that trains and loads the model, so it counts."""
    before = fingerprint(project)
    (project / "bot/rasa/requirements.txt").write_text("rasa==3.6.20\nrasa-sdk==3.6.2\n")
    assert fingerprint(project) != before


def test_fingerprint_changes_when_the_rasa_lock_changes(project: Path) -> None:
    """locks/rasa.txt pins the TensorFlow that trains the model, so another one retrains."""
    before = fingerprint(project)
    (project / "locks/rasa.txt").write_text("rasa==3.6.21\ntensorflow==2.12.1\n")
    assert fingerprint(project) != before


def test_fingerprint_ignores_the_service_lock(project: Path) -> None:
    """The service's own lock files install gangway, not Rasa: no retrain for them."""
    before = fingerprint(project)
    (project / "locks/service.txt").write_text("fastapi==0.116.0\n")
    (project / "locks/service-dev.txt").write_text("fastapi==0.116.0\npytest==9.0\n")
    assert fingerprint(project) == before


def test_fingerprint_ignores_rasa_test_stories(project: Path) -> None:
    """Editing or adding files under data/tests/ leaves the fingerprint alone."""
    before = fingerprint(project)
    (project / "data/tests/test_stories.yml").write_text('version: "3.1"\nstories:\n  - x\n')
    (project / "data/tests/more_tests.yml").write_text('version: "3.1"\nstories: []\n')
    assert fingerprint(project) == before


def test_fingerprint_ignores_files_that_are_not_yaml(project: Path) -> None:
    """A README or editor backup next to the training data does not trigger a retrain."""
    before = fingerprint(project)
    (project / "data/README.md").write_text("notes\n")
    (project / "data/nlu.yml~").write_text("backup\n")
    assert fingerprint(project) == before


def test_training_data_paths_leave_out_test_stories(project: Path) -> None:
    """Only YAML files under data/, outside data/tests/, are passed to `rasa train --data`."""
    assert training_data_paths(project) == [project / "data/nlu.yml", project / "data/rules.yml"]


def test_model_path_uses_the_fingerprint(project: Path) -> None:
    """The model lives at var/models/gangway-<fingerprint>.tar.gz under the root."""
    expected = project / "var" / "models" / f"gangway-{fingerprint(project)}.tar.gz"
    assert model_path(project) == expected


def test_main_prints_the_fingerprint(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`fingerprint` prints the fingerprint alone and exits 0."""
    assert rasa_project.main(["fingerprint", "--root", str(project)]) == 0
    assert capsys.readouterr().out == f"{fingerprint(project)}\n"


def test_needs_training_exit_codes(project: Path) -> None:
    """`needs-training` exits 0 while the model file is missing and 1 once it exists."""
    missing = run_cli(project, "needs-training")
    assert missing.returncode == 0, missing.stderr

    path = model_path(project)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"model")
    assert run_cli(project, "needs-training").returncode == 1

    (project / "data/nlu.yml").write_text('version: "3.1"\nnlu: []\n')
    assert run_cli(project, "needs-training").returncode == 0


def test_model_path_command_prints_an_absolute_path(project: Path) -> None:
    """`model-path` prints the absolute model path, as exported in GANGWAY_RASA_MODEL."""
    result = run_cli(project, "model-path")
    assert result.returncode == 0, result.stderr
    printed = Path(result.stdout.strip())
    assert printed.is_absolute()
    assert printed == model_path(project.resolve())


def test_shared_endpoints_command_writes_the_file_gangway_up_gives_replicas(
    tmp_path: Path,
) -> None:
    """The container image's endpoints file is the one `gangway up --rasa-replicas`
    writes: the same bytes, so the two setups cannot drift apart."""
    out = tmp_path / "image" / "endpoints.yml"
    done = subprocess.run(
        [sys.executable, "-m", "bot.rasa_project", "shared-endpoints", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    expected = rasa_project.shared_endpoints(REPO_ROOT, tmp_path / "up" / "endpoints.yml")
    assert out.read_text() == expected.read_text()
    assert "tracker_store:" in out.read_text()


def test_shared_endpoints_command_without_out_is_a_usage_error(project: Path) -> None:
    """No file named: exit 2 saying what is missing, nothing written."""
    done = run_cli(project, "shared-endpoints")
    assert done.returncode == 2
    assert "--out" in done.stderr

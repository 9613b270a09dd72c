"""The lock files under locks/ are what gets installed, and they still pin what
pyproject.toml and bot/rasa/requirements.txt ask for (`make lock` writes them)."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.lockfiles import check, read_lock, read_requirements

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCKS = sorted((REPO_ROOT / "locks").glob("*.txt"))
# What `python -m venv` puts in every environment, and the project itself (editable).
NOT_LOCKED = {"pip", "setuptools", "wheel", "gangway"}


def pyproject_requirements() -> list[Requirement]:
    """The dependencies and the dev extra, the project's own extras it names expanded."""
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    found = [Requirement(r) for r in project["dependencies"]]
    for text in extras["dev"]:
        requirement = Requirement(text)
        if requirement.name == project["name"]:
            found += [Requirement(r) for extra in requirement.extras for r in extras[extra]]
        else:
            found.append(requirement)
    return found


def test_the_locks_are_there() -> None:
    """The four lock files exist, so no test below passes on an empty glob."""
    assert {p.name for p in LOCKS} == {"rasa.txt", "service-dev.txt", "service.txt", "uv.txt"}


def test_the_running_environment_is_the_locked_one() -> None:
    """Every package installed where the tests run is the one locks/service-dev.txt pins,
    and every package it pins for this platform is installed: `make install` used it."""
    pinned = {
        pin.name: pin.version
        for pin in read_lock(REPO_ROOT / "locks/service-dev.txt")
        if pin.requirement.marker is None or pin.requirement.marker.evaluate()
    }
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
    }
    differing = {
        name: (version, pinned.get(name, "not in the lock"))
        for name, version in installed.items()
        if name not in NOT_LOCKED and pinned.get(name) != version
    }
    missing = sorted(set(pinned) - set(installed))
    # (installed, locked): `make install` installs the lock; `make lock` first when
    # pyproject.toml gained a dependency.
    assert differing == {}
    assert missing == []


def test_the_rasa_environment_is_the_locked_one() -> None:
    """.venv-rasa holds exactly what locks/rasa.txt pins (it is resolved for one platform,
    so it has no markers)."""
    python = REPO_ROOT / ".venv-rasa" / "bin" / "python"
    if not python.exists():
        pytest.skip(".venv-rasa is not installed (`make install` installs it)")
    listed = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m\n"
            "for d in m.distributions(): print(d.metadata['Name'], d.version)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    installed = {canonicalize_name(n): v for n, v in (line.split() for line in listed if line)}
    pinned = {pin.name: pin.version for pin in read_lock(REPO_ROOT / "locks/rasa.txt")}
    differing = {
        name: (version, pinned.get(name, "not in the lock"))
        for name, version in installed.items()
        if name not in NOT_LOCKED and pinned.get(name) != version
    }
    assert differing == {}
    assert sorted(set(pinned) - set(installed)) == []


def test_every_pyproject_requirement_is_pinned_at_an_allowed_version() -> None:
    """pyproject.toml's dependencies and dev extra are each pinned, within their bounds."""
    pins = {pin.name: pin.version for pin in read_lock(REPO_ROOT / "locks/service-dev.txt")}
    refused = {
        str(r): pins.get(canonicalize_name(r.name))
        for r in pyproject_requirements()
        if pins.get(canonicalize_name(r.name)) is None
        or not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)
    }
    assert refused == {}


def test_the_rasa_lock_pins_what_bot_rasa_requirements_asks_for() -> None:
    """rasa, rasa-sdk and httpx are pinned in locks/rasa.txt exactly as requirements.txt says."""
    asked = read_requirements(REPO_ROOT / "bot/rasa/requirements.txt")
    pins = {pin.name: pin.version for pin in read_lock(REPO_ROOT / "locks/rasa.txt")}
    assert "rasa" in {canonicalize_name(r.name) for r in asked}
    for requirement in asked:
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None and requirement.specifier.contains(version), requirement


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_every_pinned_package_has_a_hash(lock: Path) -> None:
    """`--require-hashes` installs refuse a package without one."""
    pins = read_lock(lock)
    assert pins
    assert [pin.name for pin in pins if pin.hashes == 0] == []
    assert [pin.name for pin in pins if pin.version is None] == []


def test_the_check_passes_on_the_repository() -> None:
    """`python -m bot.lockfiles check`, which `make install` runs, finds nothing to fix."""
    done = run_check(REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert check(REPO_ROOT) == []


# --- the check on a small project of its own --------------------------------------------

PYPROJECT = """\
[project]
name = "demo"
dependencies = ["fastapi>=0.115", "uvicorn[standard]>=0.30"]

[project.optional-dependencies]
dev = ["pytest>=8"]
"""


def lock_text(*pins: tuple[str, str, list[str]], hashes: int = 1) -> str:
    """A lock file in uv's format: ``(name, version, via)`` per package."""
    lines = ["# This file was autogenerated by uv via the following command:", "#    make lock"]
    for name, version, via in pins:
        lines.append(f"{name}=={version} \\")
        marks = [f"    --hash=sha256:{n:064x}" for n in range(1, hashes + 1)]
        lines += [m + " \\" for m in marks[:-1]] + marks[-1:]
        if len(via) == 1:
            lines.append(f"    # via {via[0]}")
        else:
            lines += ["    # via", *(f"    #   {v}" for v in via)]
    return "\n".join(lines) + "\n"


RUNTIME = [
    ("fastapi", "0.116.0", ["demo (pyproject.toml)"]),
    ("starlette", "0.40.0", ["fastapi"]),
    ("uvicorn", "0.30.6", ["-c locks/service-dev.txt", "demo (pyproject.toml)"]),
]
DEV = [*RUNTIME[:2], ("pytest", "8.3.0", ["demo (pyproject.toml)"]), RUNTIME[2]]
RASA = [
    ("rasa", "3.6.21", ["-r bot/rasa/requirements.txt"]),
    ("tensorflow", "2.12.0", ["rasa"]),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    files = {
        "pyproject.toml": PYPROJECT,
        "bot/rasa/requirements.txt": "# Rasa\nrasa==3.6.21\n",
        "locks/service.txt": lock_text(*RUNTIME),
        "locks/service-dev.txt": lock_text(*DEV),
        "locks/rasa.txt": lock_text(*RASA, hashes=3),
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def run_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.lockfiles", "check", "--root", str(root)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_matching_locks_pass(project: Path) -> None:
    assert check(project) == []
    done = run_check(project)
    assert done.returncode == 0, done.stderr
    assert "match" in done.stdout


def test_a_dependency_added_without_make_lock_is_caught(project: Path) -> None:
    """A new requirement in pyproject.toml that no lock pins: exit 1, `make lock` named."""
    text = PYPROJECT.replace(
        '"uvicorn[standard]>=0.30"', '"uvicorn[standard]>=0.30", "tenacity>=9"'
    )
    (project / "pyproject.toml").write_text(text)
    done = run_check(project)
    assert done.returncode == 1
    assert "locks/service.txt: tenacity>=9 is not pinned" in done.stderr
    assert "locks/service-dev.txt: tenacity>=9 is not pinned" in done.stderr
    assert "make lock" in done.stderr


def test_a_raised_lower_bound_the_pin_misses_is_caught(project: Path) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT.replace("pytest>=8", "pytest>=9"))
    assert check(project) == ["locks/service-dev.txt:9: pytest==8.3.0 does not satisfy pytest>=9"]


def test_a_removed_dependency_still_pinned_for_pyproject_is_caught(project: Path) -> None:
    """fastapi leaves pyproject.toml, but the locks still install it "via" pyproject.toml."""
    (project / "pyproject.toml").write_text(PYPROJECT.replace('"fastapi>=0.115", ', ""))
    problems = check(project)
    assert (
        "locks/service.txt:3: fastapi is pinned for pyproject.toml, which no longer asks for it"
        in problems
    )
    assert len(problems) == 2


def test_another_rasa_release_in_the_requirements_is_caught(project: Path) -> None:
    (project / "bot/rasa/requirements.txt").write_text("rasa==3.6.20\n")
    assert check(project) == [
        "locks/rasa.txt:3: rasa==3.6.21 does not satisfy rasa==3.6.20",
    ]


def test_a_package_without_hash_is_caught(project: Path) -> None:
    text = lock_text(*RASA).replace(
        "tensorflow==2.12.0 \\\n    --hash=sha256:" + f"{1:064x}\n", "tensorflow==2.12.0\n"
    )
    (project / "locks/rasa.txt").write_text(text)
    assert check(project) == ["locks/rasa.txt:6: tensorflow has no --hash"]


def test_a_runtime_pin_other_than_the_tested_one_is_caught(project: Path) -> None:
    """The service must run the versions its tests ran with."""
    runtime = [RUNTIME[0], ("starlette", "0.41.0", ["fastapi"]), RUNTIME[2]]
    (project / "locks/service.txt").write_text(lock_text(*runtime))
    problems = check(project)
    assert len(problems) == 1
    assert problems[0].startswith("locks/service.txt:6: starlette==0.41.0 is not pinned the same")


def test_a_missing_lock_is_caught(project: Path) -> None:
    (project / "locks/rasa.txt").unlink()
    done = run_check(project)
    assert done.returncode == 1
    assert "locks/rasa.txt is missing" in done.stderr


# --- which installer `make install` uses ------------------------------------------------


def installer(tmp_path: Path, setting: str, *, fake_uv: bool) -> subprocess.CompletedProcess[str]:
    """`scripts/setup.sh installer` with INSTALLER=setting, with or without a uv on PATH."""
    path = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "uv").exists()]
    if fake_uv:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "uv").write_text("#!/bin/sh\necho 'uv 0.13.9'\n")
        (bin_dir / "uv").chmod(0o755)
        path.insert(0, str(bin_dir))
    return subprocess.run(
        ["bash", str(REPO_ROOT / "scripts/setup.sh"), "installer"],
        env={**os.environ, "PATH": os.pathsep.join(path), "INSTALLER": setting},
        capture_output=True,
        text=True,
        check=False,
    )


def test_uv_on_path_is_the_installer(tmp_path: Path) -> None:
    done = installer(tmp_path, "auto", fake_uv=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"uv on PATH ({tmp_path / 'bin' / 'uv'})")


def test_without_uv_on_path_uv_comes_from_var_tools(tmp_path: Path) -> None:
    done = installer(tmp_path, "auto", fake_uv=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("uv") and "var/tools" in done.stdout


def test_installer_pip_uses_pip_even_with_uv_on_path(tmp_path: Path) -> None:
    done = installer(tmp_path, "pip", fake_uv=True)
    assert done.stdout == "pip (INSTALLER=pip)\n"


def test_an_unknown_installer_is_refused_with_a_plain_message(tmp_path: Path) -> None:
    done = installer(tmp_path, "conda", fake_uv=True)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "INSTALLER=conda is not an installer" in done.stderr


def test_an_extra_the_dev_extra_takes_in_is_checked_too(project: Path) -> None:
    """``demo[otel]`` in the dev extra stands for the otel extra's requirements, which the
    runtime lock (the image) carries too: pinned in both locks they pass, and missing
    there they are named."""
    with_otel = PYPROJECT.replace('dev = ["pytest>=8"]', 'dev = ["pytest>=8", "demo[otel]"]')
    (project / "pyproject.toml").write_text(with_otel + 'otel = ["opentelemetry-sdk>=1.20"]\n')
    assert check(project) == [
        "locks/service.txt: opentelemetry-sdk>=1.20 is not pinned",
        "locks/service-dev.txt: opentelemetry-sdk>=1.20 is not pinned",
    ]
    otel = ("opentelemetry-sdk", "1.45.2", ["demo (pyproject.toml)"])
    (project / "locks/service-dev.txt").write_text(lock_text(*DEV, otel))
    assert check(project) == ["locks/service.txt: opentelemetry-sdk>=1.20 is not pinned"]
    (project / "locks/service.txt").write_text(lock_text(*RUNTIME, otel))
    assert check(project) == []

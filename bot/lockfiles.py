"""Whether the lock files under locks/ still pin what the project asks for.

`make lock` (scripts/setup.sh lock) writes them with uv, every package pinned with its
hashes; `make install` installs them as they are. Someone who adds a dependency to
pyproject.toml or bot/rasa/requirements.txt and forgets `make lock` would otherwise go on
installing the old set without noticing. This check needs no network: it reads the
files and compares them.

    python -m bot.lockfiles check      # exit 1, naming each mismatch and `make lock`

What is compared:

- every requirement of pyproject.toml's [project.dependencies] and of the extras the
  image carries (``otel``) is pinned in locks/service.txt and locks/service-dev.txt at a
  version its specifier allows, and every requirement of the dev extra in
  locks/service-dev.txt;
- every requirement of bot/rasa/requirements.txt likewise in locks/rasa.txt;
- a package the lock says is there for one of those files ("# via gangway
  (pyproject.toml)", "# via -r bot/rasa/requirements.txt") is still asked for by it, so a
  removed dependency does not stay installed;
- locks/service.txt pins nothing differently from locks/service-dev.txt: the service
  runs with the versions it was tested with;
- every pinned package carries at least one --hash, so `--require-hashes` installs it.

It reads no package metadata, so a requirement that gains an extra (``uvicorn`` to
``uvicorn[standard]``) is not noticed: run `make lock` after any change to those files.

The check runs with the service's interpreter (Python >= 3.11 for tomllib) and needs
``packaging``; importing this module from the service is never needed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = [
    "LOCKS_DIR",
    "Pin",
    "check",
    "main",
    "read_lock",
    "read_requirements",
]

LOCKS_DIR = Path("locks")
PYPROJECT = Path("pyproject.toml")
RASA_REQUIREMENTS = Path("bot") / "rasa" / "requirements.txt"
SERVICE_LOCK = LOCKS_DIR / "service.txt"
# The extras the runtime lock (and so the image) installs besides the dependencies.
RUNTIME_EXTRAS = ("otel",)
SERVICE_DEV_LOCK = LOCKS_DIR / "service-dev.txt"
RASA_LOCK = LOCKS_DIR / "rasa.txt"
# How uv names each input in its "# via" annotations.
PYPROJECT_SOURCE = "(pyproject.toml)"
RASA_SOURCE = f"-r {RASA_REQUIREMENTS.as_posix()}"

_VIA_ONE = re.compile(r"^\s+# via (?P<source>\S.*)$")
_VIA_MORE = re.compile(r"^\s+#   (?P<source>\S.*)$")


@dataclass
class Pin:
    """One package line of a lock file: ``name==version ; marker`` and its hashes."""

    requirement: Requirement
    line: int
    hashes: int = 0
    via: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> str | None:
        specs = list(self.requirement.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "==="):
            return specs[0].version
        return None


def read_lock(path: Path) -> list[Pin]:
    """Every package line of a lock file (uv's requirements format), in order."""
    pins: list[Pin] = []
    in_via = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.rstrip()
        if not text.strip():
            continue
        if not text[0].isspace():
            in_via = False
            if text.startswith(("#", "-")):
                continue
            try:
                requirement = Requirement(text.removesuffix("\\").strip())
            except InvalidRequirement as exc:
                raise ValueError(f"{path}:{number}: not a requirement: {exc}") from None
            pins.append(Pin(requirement, number))
        elif pins:
            stripped = text.strip()
            if stripped.startswith("--hash="):
                pins[-1].hashes += 1
            elif match := _VIA_ONE.match(text):
                pins[-1].via.append(match["source"])
            elif stripped == "# via":
                in_via = True
            elif in_via and (match := _VIA_MORE.match(text)):
                pins[-1].via.append(match["source"])
    return pins


def read_requirements(path: Path) -> list[Requirement]:
    """The requirements of a pip requirements file (comments and options left out)."""
    found = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        text = raw.split(" #", 1)[0].strip()
        if text and not text.startswith(("#", "-")):
            found.append(Requirement(text))
    return found


def _pyproject_requirements(root: Path) -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((root / PYPROJECT).read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    runtime = [Requirement(r) for r in project.get("dependencies", [])]
    for extra in RUNTIME_EXTRAS:
        runtime.extend(_expanded(project["name"], extras, extra))
    return runtime, _expanded(project["name"], extras, "dev")


def _expanded(project: str, extras: dict[str, list[str]], extra: str) -> list[Requirement]:
    """The requirements of ``extra``, with the project's own other extras it names
    (``gangway[otel]``) replaced by their requirements."""
    found: list[Requirement] = []
    for text in extras.get(extra, []):
        requirement = Requirement(text)
        if requirement.name != project:
            found.append(requirement)
            continue
        for other in sorted(requirement.extras):
            found.extend(_expanded(project, extras, other))
    return found


def _unpinned(requirements: Iterable[Requirement], pins: list[Pin], lock: Path) -> list[str]:
    """What each requirement lacks in the lock: no pin, or a pin its specifier refuses."""
    by_name: dict[str, list[Pin]] = {}
    for pin in pins:
        by_name.setdefault(pin.name, []).append(pin)
    problems = []
    seen: set[str] = set()
    for requirement in requirements:
        if str(requirement) in seen:  # asked for twice: the runtime's extra and dev's
            continue
        seen.add(str(requirement))
        # A requirement for other platforms than this one cannot be judged from here.
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        found = by_name.get(canonicalize_name(requirement.name), [])
        if not found:
            problems.append(f"{lock}: {requirement} is not pinned")
        for pin in found:
            allowed = pin.version is not None and requirement.specifier.contains(
                pin.version, prereleases=True
            )
            if not allowed:
                problems.append(
                    f"{lock}:{pin.line}: {pin.requirement} does not satisfy {requirement}"
                )
    return problems


def _no_longer_asked(
    requirements: Iterable[Requirement], pins: list[Pin], source: str, lock: Path, what: str
) -> list[str]:
    """Pins the lock says come from ``source`` though it no longer names them."""
    asked = {canonicalize_name(r.name) for r in requirements}
    return [
        f"{lock}:{pin.line}: {pin.name} is pinned for {what}, which no longer asks for it"
        for pin in pins
        if pin.name not in asked and any(v.endswith(source) for v in pin.via)
    ]


def _unhashed(pins: list[Pin], lock: Path) -> list[str]:
    return [f"{lock}:{pin.line}: {pin.name} has no --hash" for pin in pins if pin.hashes == 0]


def _differing(runtime: list[Pin], dev: list[Pin]) -> list[str]:
    dev_pins = {(p.name, str(p.requirement.marker)): p for p in dev}
    problems = []
    for pin in runtime:
        twin = dev_pins.get((pin.name, str(pin.requirement.marker)))
        if twin is None or twin.version != pin.version:
            problems.append(
                f"{SERVICE_LOCK}:{pin.line}: {pin.requirement} is not pinned the same in "
                f"{SERVICE_DEV_LOCK} (the service would run versions the tests never saw)"
            )
    return problems


def check(root: Path) -> list[str]:
    """Every way the lock files under ``root`` miss what the project asks for; empty if none."""
    root = Path(root)
    missing = [p for p in (SERVICE_LOCK, SERVICE_DEV_LOCK, RASA_LOCK) if not (root / p).is_file()]
    if missing:
        return [f"{p} is missing" for p in missing]

    runtime, dev = _pyproject_requirements(root)
    rasa = read_requirements(root / RASA_REQUIREMENTS)
    service_pins = read_lock(root / SERVICE_LOCK)
    dev_pins = read_lock(root / SERVICE_DEV_LOCK)
    rasa_pins = read_lock(root / RASA_LOCK)

    return [
        *_unpinned(runtime, service_pins, SERVICE_LOCK),
        *_unpinned([*runtime, *dev], dev_pins, SERVICE_DEV_LOCK),
        *_unpinned(rasa, rasa_pins, RASA_LOCK),
        *_no_longer_asked(runtime, service_pins, PYPROJECT_SOURCE, SERVICE_LOCK, "pyproject.toml"),
        *_no_longer_asked(
            [*runtime, *dev], dev_pins, PYPROJECT_SOURCE, SERVICE_DEV_LOCK, "pyproject.toml"
        ),
        *_no_longer_asked(rasa, rasa_pins, RASA_SOURCE, RASA_LOCK, str(RASA_REQUIREMENTS)),
        *_differing(service_pins, dev_pins),
        *_unhashed(service_pins, SERVICE_LOCK),
        *_unhashed(dev_pins, SERVICE_DEV_LOCK),
        *_unhashed(rasa_pins, RASA_LOCK),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.lockfiles",
        description="Whether locks/ still pins what pyproject.toml and "
        "bot/rasa/requirements.txt ask for.",
    )
    parser.add_argument("command", choices=["check"])
    parser.add_argument(
        "--root", type=Path, default=Path.cwd(), help="repository root (default: the current one)"
    )
    args = parser.parse_args(argv)
    try:
        problems = check(args.root.resolve())
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as exc:
        print(f"error: cannot read the lock files or their inputs: {exc}", file=sys.stderr)
        return 1
    if problems:
        print("error: the lock files no longer match the requirements:", file=sys.stderr)
        for problem in problems:
            print(f"       {problem}", file=sys.stderr)
        print(
            "       Run `make lock` to write them again, and commit locks/ with the change.",
            file=sys.stderr,
        )
        return 1
    print("lock files match pyproject.toml and bot/rasa/requirements.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())

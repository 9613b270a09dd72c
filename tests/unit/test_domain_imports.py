"""The domain stays free of I/O: its modules import only the standard library and
pure data-and-code libraries (statemachine, python-stdnum, phonenumbers, babel's
locale data)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import bot.domain

ALLOWED_THIRD_PARTY = {"statemachine", "stdnum", "phonenumbers", "babel"}
DOMAIN = Path(str(bot.domain.__file__)).parent
MODULES = sorted(DOMAIN.rglob("*.py"))


def imported_names(path: Path) -> list[str]:
    """Every module ``path`` imports, relative imports made absolute."""
    package = ["bot", "domain", *path.relative_to(DOMAIN).parent.parts]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.append(".".join([*base, *([node.module] if node.module else [])]))
    return names


def test_the_walk_finds_the_domain_modules() -> None:
    """The walk sees the detectors and phone_country, so an empty walk cannot pass."""
    found = {p.relative_to(DOMAIN).as_posix() for p in MODULES}
    assert {"phone_country.py", "detectors/identifiers.py", "detectors/personal.py"} <= found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(DOMAIN).as_posix())
def test_domain_module_imports_no_io(path: Path) -> None:
    """A domain module imports only the stdlib, statemachine, stdnum, phonenumbers, babel
    and bot.domain."""
    outside = [
        name
        for name in imported_names(path)
        if name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] not in ALLOWED_THIRD_PARTY
        and name != "bot.domain"
        and not name.startswith("bot.domain.")
    ]
    assert outside == []

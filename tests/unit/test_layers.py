"""The layers import only downward: the domain and the service layer know no adapter to
the outside world and no entrypoint, routes run no SQL, and only the outbox module
builds outbox rows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = sorted((ROOT / "bot" / "domain").rglob("*.py"))
SERVICE_LAYER = sorted((ROOT / "bot" / "service_layer").rglob("*.py"))
ROUTES = sorted((ROOT / "bot" / "entrypoints" / "routes").rglob("*.py"))
INTEGRATIONS = sorted((ROOT / "integrations").rglob("*.py"))
# What an adapter may know of the service: the ports it implements, the errors it raises.
PORT_MODULES = {"bot.service_layer.ports", "bot.service_layer.errors"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it, relative imports made absolute."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            # ``from bot.service_layer import handoffs`` imports a module too.
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def label(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_walks_find_each_layer() -> None:
    """Each walk sees modules it must see, so an empty walk cannot pass."""
    found = {label(p) for p in DOMAIN + SERVICE_LAYER + ROUTES + INTEGRATIONS}
    assert {
        "bot/domain/conversation_chart.py",
        "bot/service_layer/ports.py",
        "bot/entrypoints/routes/api.py",
        "integrations/rasa.py",
    } <= found


@pytest.mark.parametrize("path", DOMAIN + SERVICE_LAYER, ids=label)
def test_domain_and_service_layer_import_no_adapter_or_entrypoint(path: Path) -> None:
    """Neither imports integrations/, the entrypoints or the wiring above them."""
    upward = sorted(
        name
        for name in imported(path)
        if under(name, "integrations", "bot.entrypoints", "bot.bootstrap", "bot.sandbox")
    )
    assert upward == []


@pytest.mark.parametrize("path", DOMAIN, ids=label)
def test_domain_does_no_io(path: Path) -> None:
    """The domain imports neither the database nor an HTTP client."""
    io = sorted(name for name in imported(path) if under(name, "sqlalchemy", "httpx"))
    assert io == []


@pytest.mark.parametrize("path", ROUTES, ids=label)
def test_routes_run_no_sql(path: Path) -> None:
    """A route parses, authorises and calls a use case: it never imports sqlalchemy."""
    sql = sorted(name for name in imported(path) if under(name, "sqlalchemy"))
    assert sql == []


@pytest.mark.parametrize("path", INTEGRATIONS, ids=label)
def test_adapters_know_only_the_ports_they_implement(path: Path) -> None:
    """integrations/ imports from bot/ only the ports and the error family."""
    known = sorted(
        name
        for name in imported(path)
        if under(name, "bot", "actions") and not under(name, *PORT_MODULES)
    )
    assert known == []


def test_only_the_outbox_module_builds_outbox_rows() -> None:
    """Every outbox row is made by ``outbox.new_outbox_row``, which seals its fields."""
    builders = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name | ast.Attribute)
                and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
                == "OutboxMessage"
            ):
                builders.append(label(path))
    assert builders == ["bot/service_layer/outbox.py"]


@pytest.mark.parametrize("path", [ROOT / "bot" / "bootstrap.py", ROOT / "bot" / "background.py"])
def test_the_wiring_imports_only_downward(path: Path) -> None:
    """The wiring builds what the entrypoints use: it never imports an entrypoint (the
    worker, the schedulers and the audit chainer live below it, in the service layer)."""
    upward = sorted(name for name in imported(path) if under(name, "bot.entrypoints"))
    assert upward == []

"""The Grafana dashboard queries only series the service exposes, and shows each of
them: a metric renamed, or added without a panel, fails here rather than as an empty
graph in production."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from bot.adapters.prometheus_metrics import PrometheusMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "gangway.json"
NAME = re.compile(r"\bgangway_\w+")
SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def expressions(node: Any) -> Iterator[str]:
    """Every PromQL expression in the dashboard, however deep its panel sits."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def queried() -> set[str]:
    exprs = list(expressions(json.loads(DASHBOARD.read_text(encoding="utf-8"))))
    assert len(exprs) >= 10  # the walk finds the panels' queries
    return {name for expr in exprs for name in NAME.findall(expr)}


def exposed() -> frozenset[str]:
    # The figures' names need no database: the engine is never connected.
    return PrometheusMetrics(create_engine("sqlite://")).names()


def base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_every_series_the_dashboard_queries_is_exposed() -> None:
    assert sorted(queried() - exposed()) == []


def test_every_metric_exposed_has_a_panel() -> None:
    shown = {base(name) for name in queried()}
    assert sorted({base(name) for name in exposed()} - shown) == []

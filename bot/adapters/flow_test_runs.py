"""The latest run of the flow's conversation tests, as `gangway flows test` leaves it in
its results file (GANGWAY_FLOW_TEST_RESULTS), read for the figures page:

    {"ran_at": "<ISO 8601 UTC>", "flow": "<name>", "flow_sha256": "<hex>",
     "passed": <int>, "failed": <int>,
     "tests": [{"file": ..., "line": ..., "name": ..., "variant": null | "<name>",
                "language": "en", "passed": true, "failure": null | "<plain text>"}]}

A missing file is "no run yet"; a file that cannot be read or does not have this shape
is a ``FlowTestRunsError`` saying so, never a broken page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CaseOutcome", "FlowTestRun", "FlowTestRunsError", "latest_run"]


class FlowTestRunsError(Exception):
    """The results file is there but cannot be used (the message says why)."""


@dataclass(frozen=True)
class CaseOutcome:
    file: str
    line: int | None
    name: str
    variant: str | None
    language: str | None
    passed: bool
    failure: str | None


@dataclass(frozen=True)
class FlowTestRun:
    ran_at: str
    flow: str
    flow_sha256: str
    passed: int
    failed: int
    tests: tuple[CaseOutcome, ...]


def _outcome(item: dict[str, Any]) -> CaseOutcome:
    line = item.get("line")
    return CaseOutcome(
        file=str(item["file"]),
        line=int(line) if line is not None else None,
        name=str(item.get("name") or ""),
        variant=str(item["variant"]) if item.get("variant") is not None else None,
        language=str(item["language"]) if item.get("language") is not None else None,
        passed=bool(item["passed"]),
        failure=str(item["failure"]) if item.get("failure") is not None else None,
    )


def latest_run(path: Path) -> FlowTestRun | None:
    """The run recorded in ``path``; None when no run has written it yet."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FlowTestRunsError(
            f"the flow tests' results ({path.name}) cannot be read: {exc}"
        ) from None
    try:
        return FlowTestRun(
            ran_at=str(raw["ran_at"]),
            flow=str(raw["flow"]),
            flow_sha256=str(raw["flow_sha256"]),
            passed=int(raw["passed"]),
            failed=int(raw["failed"]),
            tests=tuple(_outcome(item) for item in raw["tests"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FlowTestRunsError(
            f"the flow tests' results ({path.name}) are not in the expected shape: {exc!r}"
        ) from None

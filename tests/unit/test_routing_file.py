"""The routing file as operations edit it: the shipped one is valid, each mistake is named
with its file, line and what to change, and the service picks up edits live."""

from __future__ import annotations

import io
import logging
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.adapters.flow_files import DEFAULT_FLOW_PATH, FlowFileError
from bot.adapters.routing_file import (
    DEFAULT_ROUTING_PATH,
    RoutingStore,
    is_routing_file,
    load_routing,
    validate_routing_file,
    validate_routing_files,
)
from bot.domain.routing import Advisor, Request, route

GOOD = """\
products: [current_account, savings, mortgage]
max_load: 4
sla: 20m
language_match: require
fallback_queue: general
escalation_team: operations
queues:
  - name: mortgages
    products: [mortgage]
    team: mortgages
    sla: 1h
  - name: dach
    countries: [DE, at, CH]
    languages: [de]
    team: dach
"""


def write(tmp_path: Path, text: str, name: str = "routing.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, pattern: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if re.search(pattern, line))


def problems(tmp_path: Path, text: str) -> list[str]:
    return [str(p) for p in validate_routing_file(write(tmp_path, text))]


def test_shipped_routing_file_is_valid() -> None:
    """flows/routing.yml loads: queues by product and language, fallback `general`, 15m SLA."""
    assert validate_routing_file(DEFAULT_ROUTING_PATH) == []
    rules = load_routing(DEFAULT_ROUTING_PATH)
    assert rules.fallback_queue == "general"
    assert rules.sla == timedelta(minutes=15)
    assert rules.max_load == 5
    assert {"current_account", "savings", "investments", "mortgage"} <= rules.products
    assert {"de", "fr", "es"} <= {lang for q in rules.queues for lang in q.languages}


def test_a_good_file_gives_the_rules_it_says(tmp_path: Path) -> None:
    """Every setting arrives: country codes in capitals, per-queue SLA and team, digest."""
    rules = load_routing(write(tmp_path, GOOD))
    mortgages, dach = rules.queues
    assert (mortgages.name, mortgages.sla) == ("mortgages", timedelta(hours=1))
    assert mortgages.team == "mortgages"
    assert dach.countries == frozenset({"DE", "AT", "CH"})
    assert dach.languages == frozenset({"de"})
    assert (rules.max_load, rules.sla) == (4, timedelta(minutes=20))
    assert rules.language_match == "require"
    assert rules.escalation_team == "operations"
    assert len(rules.digest) == 64
    # And they route: an Austrian German speaker with savings waits in `dach`.
    decision = route(Request("AT", "savings", "de"), [Advisor(1, frozenset({"FR"}))], rules)
    assert (decision.queue, decision.advisor_id) == ("dach", None)


# (a line of GOOD, what it becomes, what the report says at that line)
MISTAKES = [
    ("sla: 20m", "sla: 20 minutes", "`sla`: '20 minutes' is not a duration"),
    ("    sla: 1h", "    sla: 1", "`queues.mortgages.sla`: '1' has no unit"),
    ("max_load: 4", "max_load: many", "`max_load` should be a whole number"),
    ("max_load: 4", 'max_load: "4"', "written without quotes"),
    ("max_load: 4", "max_load: 0", "at least 1"),
    ("escalation_team: operations", "escalation_tem: x", "did you mean `escalation_team`?"),
    ("    team: dach", "    teem: dach", "`teem` is not a setting of `queues.dach`"),
    ("    languages: [de]", "    languages: [de, it]", "`it` is not a language gangway speaks"),
    ("    countries: [DE, at, CH]", "    countries: [DE, UK]", "the United Kingdom is `GB`"),
    ("    countries: [DE, at, CH]", "    countries: [XZ]", "`XZ` is not a country code"),
    ("  - name: dach", '  - name: ""', "queue 2 in `queues` has an empty name"),
    ("fallback_queue: general", 'fallback_queue: ""', "`fallback_queue` is empty"),
    ("    products: [mortgage]", "    products: [mortage]", "did you mean `mortgage`?"),
    ("language_match: require", "language_match: always", "use `prefer`"),
    ("  - name: dach", "  - name: mortgages", "queue `mortgages` appears twice"),
]


@pytest.mark.parametrize(("line", "edited", "reason"), MISTAKES)
def test_each_mistake_is_named_with_its_line(
    tmp_path: Path, line: str, edited: str, reason: str
) -> None:
    """One mistake: reported at its line, in plain words; the file cannot be loaded."""
    lines = GOOD.splitlines()
    number = lines.index(line) + 1
    lines[number - 1] = edited
    path = write(tmp_path, "\n".join(lines) + "\n")
    found = [str(p) for p in validate_routing_file(path)]
    assert any(row.startswith(f"{path}:{number}: ") and reason in row for row in found), (
        f"no `{path}:{number}: ...{reason}...` in {found}"
    )
    with pytest.raises(FlowFileError):
        load_routing(path)


def test_missing_settings_are_named(tmp_path: Path) -> None:
    """A file without max_load, sla or fallback_queue says which one to add."""
    found = problems(tmp_path, "queues: []\n")
    for key in ("max_load", "sla", "fallback_queue"):
        assert any(f"missing `{key}`" in row for row in found), found


def test_broken_yaml_and_an_empty_file(tmp_path: Path) -> None:
    """Malformed YAML points at its line; an empty file says where to start."""
    found = problems(tmp_path, "sla: 15m\nqueues: [unclosed\n")
    assert found and found[0].startswith(f"{tmp_path / 'routing.yml'}:3: this is not valid YAML")
    assert "the file is empty" in problems(tmp_path, "# nothing yet\n")[0]


def test_a_queue_hidden_by_one_above_is_a_warning(tmp_path: Path) -> None:
    """A queue that can never match (one above takes all its handoffs) is flagged, not fatal."""
    text = GOOD + "  - name: austria\n    countries: [AT]\n    languages: [de]\n"
    found = validate_routing_file(write(tmp_path, text))
    assert [(p.severity, p.line) for p in found] == [("warning", line_of(text, "name: austria"))]
    assert "queue `dach` above it takes all of them" in found[0].message
    assert load_routing(tmp_path / "routing.yml").queues[-1].name == "austria"


def test_report_and_exit_code(tmp_path: Path) -> None:
    """The CLI's report: an ok line for a good file, the problems and NOT usable for a bad one."""
    good = write(tmp_path, GOOD, "good.yml")
    bad = write(tmp_path, GOOD.replace("sla: 20m", "sla: soon"), "bad.yml")
    out = io.StringIO()
    assert validate_routing_files([good], out) == 0
    assert f"{good}: ok (routing: 2 queues and fallback `general`, sla 20m, max load 4)" in (
        out.getvalue()
    )
    assert validate_routing_files([good, bad], out) == 1
    assert f"{bad}: NOT usable" in out.getvalue()


def test_routing_files_are_told_from_flows(tmp_path: Path) -> None:
    """By name (routing.yml) or by a top-level `fallback_queue:`/`queues:` line."""
    assert is_routing_file(DEFAULT_ROUTING_PATH)
    assert is_routing_file(write(tmp_path, GOOD, "try-this.yml"))
    assert is_routing_file(tmp_path / "routing.yml")  # by name, even before it exists
    assert not is_routing_file(DEFAULT_FLOW_PATH)


def bump(path: Path, text: str, step: int) -> None:
    """Rewrite a file and move its modification time on explicitly (no sleeping)."""
    path.write_text(text, encoding="utf-8")
    stamp = path.stat().st_mtime_ns + step * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def test_store_picks_up_an_edit_and_keeps_the_last_good_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A saved edit is live at the next handoff; a broken one is logged once and ignored."""
    path = write(tmp_path, GOOD)
    store = RoutingStore(path)
    assert store.current().max_load == 4
    bump(path, GOOD.replace("max_load: 4", "max_load: 6"), 1)
    good = store.current()
    assert good.max_load == 6
    bump(path, GOOD.replace("max_load: 4", "max_load: lots"), 2)
    with caplog.at_level(logging.ERROR, logger="bot.adapters.routing_file"):
        assert store.current() is good
        assert store.current() is good
    assert len(caplog.records) == 1
    assert "max_load" in str(store.errors[0])
    bump(path, GOOD, 3)
    assert store.current().max_load == 4
    assert store.errors == []


def test_store_refuses_to_start_on_a_broken_file(tmp_path: Path) -> None:
    """Without usable routing rules the service cannot start; the error says why."""
    with pytest.raises(FlowFileError, match="sla"):
        RoutingStore(write(tmp_path, GOOD.replace("sla: 20m", "sla: whenever")))

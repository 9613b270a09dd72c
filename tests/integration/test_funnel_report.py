"""The funnel's counts for a scripted set of conversations taken through the real service
layer, and `gangway report funnel` in each of its formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_FLOW_PATH
from bot.adapters.flow_version_tables import FlowVersion
from bot.adapters.vault import Vault
from bot.domain.funnel import STAGES
from bot.domain.levels import Level
from bot.entrypoints.cli import app
from bot.service_layer import funnel
from bot.service_layer.funnel import Period
from tests.fakes.clock import FakeClock
from tests.fakes.keys import keys_env
from tests.integration.funnel_journeys import Prospect, funnel_stack, take

SINCE = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
V1, V2, SPRING = 1, 2, 3


def versions(sessions: SessionFactory, clock: FakeClock) -> None:
    with sessions.begin() as s:
        for vid, flow, seq, status in (
            (V1, "default", 1, "retired"),
            (V2, "default", 2, "live"),
            (SPRING, "spring", 1, "live"),
        ):
            s.add(
                FlowVersion(
                    id=vid,
                    flow=flow,
                    seq=seq,
                    sha256=f"{vid:064x}",
                    content=DEFAULT_FLOW_PATH.read_text() if flow == "default" else "flow: x\n",
                    source=f"{flow}.yml",
                    status=status,
                    proposed_by="mia@example.com",
                    proposed_at=clock.now(),
                )
            )


# Ten conversations in the period (and one before it), each taken as far as its outcome.
SCRIPT = [
    Prospect(1, "chat", None, V1),
    Prospect(2, "offered", "b", V1),
    Prospect(3, "declined", None, V1),
    Prospect(4, "declined", "b", V2),
    Prospect(5, "invited", None, V2),
    Prospect(6, "handed_off", "b", V1),
    Prospect(7, "claimed", None, V1),
    Prospect(8, "claimed", "b", V2),
    Prospect(9, "person", None, V1),
    Prospect(10, "claimed", None, SPRING),
]
#                      started  threshold offered consented declined invite activated handed claimed
EXPECTED_TOTAL = [10, 8, 8, 5, 2, 5, 4, 4, 3]
EXPECTED_BY = {
    "variant": {
        "b": [4, 4, 4, 2, 1, 2, 2, 2, 1],
        "base": [6, 4, 4, 3, 1, 3, 2, 2, 2],
    },
    "flow_version": {
        "default v1": [6, 4, 4, 2, 1, 2, 2, 2, 1],
        "default v2": [3, 3, 3, 2, 1, 2, 1, 1, 1],
        "spring v1": [1, 1, 1, 1, 0, 1, 1, 1, 1],
    },
    "language": {"en": EXPECTED_TOTAL},
}


@pytest.fixture
def scripted(sessions: SessionFactory, clock: FakeClock) -> SessionFactory:
    versions(sessions, clock)
    stack = funnel_stack(sessions, clock)
    take(stack, Prospect(0, "claimed", None, V1))  # started before the period
    clock.advance(3600)
    for prospect in SCRIPT:
        take(stack, prospect)
        clock.advance(60)
    return sessions


def counts(stages: list[dict[str, object]]) -> list[object]:
    assert [s["name"] for s in stages] == list(STAGES)
    return [s["count"] for s in stages]


@pytest.mark.parametrize("by", ["variant", "flow_version", "language"])
def test_the_scripted_conversations_reach_known_stages(scripted: SessionFactory, by: str) -> None:
    with scripted() as s:
        found = funnel.report(s, Period(SINCE), Level.IDENTITY, by=by)  # type: ignore[arg-type]
    as_json = funnel.report_dict(found)
    assert counts(as_json["stages"]) == EXPECTED_TOTAL
    groups = {name: counts(g["stages"]) for name, g in as_json["groups"].items()}
    assert groups == EXPECTED_BY[by]
    times = as_json["times"]
    # Offered, answered a minute later, link opened ten minutes after that; claimed in 5.
    assert times["time_to_activation"] == {
        "span": "terms_offered → activated", "n": 4, "p50": 660.0, "p90": 660.0, "p95": 660.0,
    }  # fmt: skip
    assert (times["time_to_claim"]["n"], times["time_to_claim"]["p95"]) == (3, 300.0)


def test_the_period_and_the_flow_choose_the_conversations(scripted: SessionFactory) -> None:
    with scripted() as s:
        everything = funnel.report(s, Period(), Level.IDENTITY)
        spring = funnel.report(s, Period(SINCE), Level.IDENTITY, flow="spring")
        before = funnel.report(s, Period(until=SINCE), Level.IDENTITY)
    assert everything.total.counts["started"] == 11
    assert [spring.total.counts[s] for s in STAGES] == EXPECTED_BY["flow_version"]["spring v1"]
    assert [before.total.counts[s] for s in STAGES] == [1, 1, 1, 1, 0, 1, 1, 1, 1]


def gangway(database_url: str, vault: Vault, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        ["report", "funnel", *args],
        env={"DATABASE_URL": database_url, **keys_env(vault.keyring)},
    )
    return result.exit_code, result.stdout, result.stderr


def test_the_table_shows_each_stage_per_variant_with_its_drop_off(
    scripted: SessionFactory, database_url: str, vault: Vault
) -> None:
    code, out, _ = gangway(database_url, vault, "--since", "2026-11-22T10:00", "--by", "variant")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Funnel: conversations started since 2026-11-22 10:00 UTC, by variant"
    assert lines[2].split() == ["STAGE", "ALL", "DROP-OFF", "B", "DROP-OFF", "BASE", "DROP-OFF"]
    rows = {line.split()[0]: line for line in lines[3:12]}
    assert rows["started"].split() == ["started", "10", "4", "6"]
    assert rows["consented"].split()[:4] == ["consented", "5", "-3", "(37.5%)"]
    assert rows["declined"].split()[:5] == ["declined", "2", "25.0%", "of", "offered"]
    assert "all: time to activation (terms_offered → activated, n=4): p50 11 min" in out
    assert "7700900" not in out and "passport" not in out.lower()


def test_json_has_the_stages_and_groups(
    scripted: SessionFactory, database_url: str, vault: Vault
) -> None:
    code, out, _ = gangway(database_url, vault, "--since", "2026-11-22", "--format", "json",
                           "--by", "flow_version")  # fmt: skip
    assert code == 0
    found = json.loads(out)
    assert counts(found["stages"]) == [11, 9, 9, 6, 2, 6, 5, 5, 4]  # the day: prospect 0 too
    assert set(found["groups"]) == {"default v1", "default v2", "spring v1"}
    assert found["branch"]["unanswered"]["count"] == 1


def test_csv_parses_one_row_per_group_and_stage(
    scripted: SessionFactory, database_url: str, vault: Vault, tmp_path: Path
) -> None:
    out_file = tmp_path / "funnel.csv"
    code, _, _ = gangway(database_url, vault, "--since", "2026-11-22T10:00Z", "--by", "variant",
                         "--format", "csv", "--out", str(out_file))  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert len(rows) == 3 * len(STAGES)
    b = {r["stage"]: r for r in rows if r["group"] == "b"}
    assert [int(b[s]["count"]) for s in STAGES] == EXPECTED_BY["variant"]["b"]
    assert (b["claimed"]["lost_from_previous"], b["claimed"]["drop_off_percent"]) == ("1", "50.0")


def test_png_is_a_real_chart(
    scripted: SessionFactory, database_url: str, vault: Vault, tmp_path: Path
) -> None:
    out_file = tmp_path / "funnel.png"
    code, out, _ = gangway(database_url, vault, "--format", "png", "--out", str(out_file))
    assert code == 0 and str(out_file) in out
    data = out_file.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    width = int.from_bytes(data[16:20], "big")
    assert width >= 900  # two variants side by side


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "--since 'last tuesday' is not an ISO 8601 date"),
        (["--format", "png"], "--format png writes a file: say where with --out FILE"),
        (["--by", "country"], "--by 'country' is not one of variant, language, flow_version"),
        (["--format", "xlsx"], "--format 'xlsx' is not one of table, csv, json, png"),
        (["--since", "2026-12-01", "--until", "2026-11-01"], "--since must come before --until"),
    ],
)
def test_bad_input_exits_2_with_a_plain_message(
    database_url: str, vault: Vault, args: list[str], message: str
) -> None:
    code, out, err = gangway(database_url, vault, *args)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {message}")

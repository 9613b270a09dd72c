"""`gangway flows test` and `gangway simulate` against the real Rasa of this session.

The commands are run as marketing runs them, pointed with `--rasa-url` at the session's
Rasa so that no second one starts; gangway and the stand-in Twilio are theirs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.adapters.flow_test_files import TESTS_DIR, read_test_file
from bot.entrypoints.cli import app
from tests.e2e.conftest import Rasa

pytestmark = pytest.mark.e2e


def gangway(rasa: Rasa, *args: str, results: Path, typed: str | None = None) -> tuple[int, str]:
    given = [
        "--rasa-url", rasa.url, "--rasa-token", rasa.token,
        "--action-server-url", rasa.action_url, "--gangway-port", str(rasa.service_port),
        "--service-token", rasa.service_token,
    ]  # fmt: skip
    result = CliRunner().invoke(
        app, [*args, *given], input=typed, env={"GANGWAY_FLOW_TEST_RESULTS": str(results)}
    )
    return result.exit_code, result.output


def test_the_shipped_flow_tests_pass(rasa: Rasa, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    code, output = gangway(rasa, "flows", "test", results=results)
    shipped = [test for path in TESTS_DIR.glob("*.yml") for test in read_test_file(path).tests]
    assert code == 0, output
    assert output.count("PASS  ") == len(shipped) >= 8
    written = json.loads(results.read_text())
    assert (written["passed"], written["failed"]) == (len(shipped), 0)


def test_an_unmet_expectation_fails_naming_its_line(rasa: Rasa, tmp_path: Path) -> None:
    tests = tmp_path / "hours.yml"
    tests.write_text(
        """\
tests:
  - name: Opening hours, wrongly expected at the identity level
    language: en
    steps:
      - prospect: "what are your opening hours?"
        reply_contains: "Monday to Friday"
        level: identity
""",
        encoding="utf-8",
    )
    results = tmp_path / "results.json"
    code, output = gangway(rasa, "flows", "test", str(tests), results=results)
    assert code == 1, output
    assert (
        f"{tests}:5: after 'what are your opening hours?': expected level identity, got public"
        in (output)
    )
    assert output.splitlines()[-1] == "0 passed, 1 failed"
    assert json.loads(results.read_text())["tests"][0]["failure"].startswith(f"{tests}:5: ")


def test_simulate_shows_level_state_evidence_and_version(rasa: Rasa, tmp_path: Path) -> None:
    typed = "Wann haben Sie geöffnet?\nMeine Passnummer ist C01X00T47\n\n"
    code, output = gangway(rasa, "simulate", "--lang", "de", results=tmp_path / "r.json",
                           typed=typed)  # fmt: skip
    assert code == 0, output
    answers = output.split("-- level ")
    assert len(answers) == 3, output
    assert "montags bis freitags" in answers[0]
    assert answers[1].startswith("public | state qualifying | language de | found: nothing")
    assert answers[2].startswith("identity | state terms_offered | language de | found: ")
    assert "buttons: [Ja, einverstanden] | [Nein, danke]" in answers[1]
    # simulate's private database installs the flow file as its version 1, live.
    assert re.search(r"\| flow v1 \([0-9a-f]{12}\)", answers[2]), answers[2]
    # What the prospect typed is never shown back: only what found something.
    assert "C01X00T47" not in output

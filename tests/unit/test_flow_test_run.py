"""Playing conversation tests and reporting them, on a stand-in bot.

The bot here answers from a table, so these tests show what the report, the exit code,
the results file and `gangway simulate`'s chat print; the real bot plays the shipped
tests in tests/e2e/test_flow_tests.py.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.adapters.flow_files import DEFAULT_FLOW_PATH, load_flow
from bot.domain.flow_tests import Observed, Step, check_step
from bot.domain.flows import Flow
from bot.entrypoints.cli import app
from bot.entrypoints.flow_test_rasa import RasaEndpoints
from bot.entrypoints.flow_test_run import run_flow_tests
from bot.entrypoints.flow_tests_cli import chat

TERMS = Observed(
    replies=("Please read our terms (version 2026-11). Do you agree?",),
    buttons=("Yes, I agree", "No, thanks"),
    level="identity",
    state="terms_offered",
    language="en",
    evidence=("passport_number (detector, identity)",),
)
ANSWERS = {
    "hi": Observed(("Hi! I'm the virtual assistant.",), (), "public", "qualifying", "en"),
    "My passport number is C01X00T47": TERMS,
}
INVITE = Observed(("Here is your personal link: https://example.com/i/x",), (), "identity",
                  "invite_sent", "en")  # fmt: skip


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where the test file is, as marketing runs the command next to its files."""
    monkeypatch.chdir(tmp_path)


AB_FLOW_PATH = DEFAULT_FLOW_PATH.parent / "examples" / "ab-invite-wording.yml"


@pytest.fixture
def flow() -> Flow:
    """The A/B example: the base flow and the variant `short-invite`."""
    return load_flow(AB_FLOW_PATH)


class TableBot:
    """A prospect whose bot answers from ANSWERS, and taps "Yes, I agree" to an invite."""

    def __init__(self, variants: list[str | None]) -> None:
        self.variants = variants

    def say(self, text: str) -> Observed:
        return ANSWERS.get(text, Observed((), (), "public", "qualifying", "en"))

    def tap(self, title: str) -> Observed:
        if title != "Yes, I agree":
            raise LookupError(f"no button {title!r} is offered")
        return INVITE


class TableStack:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.variants: list[str | None] = []

    def prospect(self, variant: str | None = None, language: str | None = None) -> TableBot:
        self.variants.append(variant)
        return TableBot(self.variants)


@contextmanager
def no_rasa() -> Iterator[RasaEndpoints]:
    yield RasaEndpoints("http://127.0.0.1:9", "t", "http://127.0.0.1:9", 9, "s")


def run(tmp_path: Path, text: str, flow: Flow) -> tuple[int, str, dict[str, object], TableStack]:
    tests = Path("welcome.yml")
    tests.write_text(text, encoding="utf-8")
    stack = TableStack(flow)

    @contextmanager
    def serve(_rasa: RasaEndpoints, _flow_file: Path) -> Iterator[TableStack]:
        yield stack

    out = io.StringIO()
    results = tmp_path / "results" / "results.json"
    code = run_flow_tests(
        [tests],
        no_rasa,
        in_force=Path(flow.source),
        results_path=results,
        out=out,
        clock=lambda: datetime(2026, 12, 3, 14, 0, tzinfo=UTC),
        stack=serve,
    )
    written = json.loads(results.read_text()) if results.exists() else {}
    return code, out.getvalue(), written, stack


TESTS = """\
tests:
  - name: The terms come with two buttons
    variant: short-invite
    steps:
      - prospect: "My passport number is C01X00T47"
        reply_contains: "terms (version 2026-11)"
        buttons: ["Yes, I agree", "No, thanks"]
        level: identity
      - tap: "Yes, I agree"
        state: invite_sent
  - name: The greeting names the bank
    language: en
    steps:
      - prospect: "hi"
        reply_contains: "virtual assistant"
      - prospect: "hi"
        reply_contains: "Example Bank"
        level: public
"""


def test_a_failing_expectation_is_reported_with_its_line_and_what_came(
    tmp_path: Path, flow: Flow
) -> None:
    code, output, results, stack = run(tmp_path, TESTS, flow)
    where = "welcome.yml"  # named relative to the folder the command runs in
    lines = output.splitlines()
    assert lines[0].startswith("PASS  ") and lines[0].endswith(
        f"{where}:2  The terms come with two buttons"
    )
    assert lines[1].startswith("FAIL  ") and lines[1].endswith(":11  The greeting names the bank")
    assert lines[2].strip() == (
        f"{where}:16: after 'hi': expected a reply containing 'Example Bank', "
        'got "Hi! I\'m the virtual assistant."'
    )
    assert lines[-1] == "1 passed, 1 failed"
    assert code == 1
    # Each test has its own conversation, its variant forced.
    assert stack.variants == ["short-invite", None]
    assert results["passed"] == 1 and results["failed"] == 1
    assert results["flow"] == flow.name and results["flow_sha256"] == flow.digest
    assert results["ran_at"] == "2026-12-03T14:00:00+00:00"
    first, second = results["tests"]  # type: ignore[misc]
    assert first == {
        "file": first["file"],
        "line": 2,
        "name": "The terms come with two buttons",
        "variant": "short-invite",
        "language": None,
        "passed": True,
        "failure": None,
    }
    assert second["passed"] is False and second["failure"].endswith(
        'got "Hi! I\'m the virtual assistant."'
    )


def test_all_passing_exits_0(tmp_path: Path, flow: Flow) -> None:
    passing = TESTS.replace('reply_contains: "Example Bank"', 'not_contains: "Example Bank"')
    code, output, results, _ = run(tmp_path, passing, flow)
    assert (code, output.splitlines()[-1]) == (0, "2 passed, 0 failed")
    assert results["failed"] == 0


def test_a_button_not_offered_fails_the_step_naming_it(tmp_path: Path, flow: Flow) -> None:
    text = TESTS.replace('tap: "Yes, I agree"', 'tap: "Maybe"')
    code, output, _, _ = run(tmp_path, text, flow)
    assert code == 1
    assert ":9: no button 'Maybe' is offered" in output


def test_a_variant_the_flow_does_not_run_stops_the_run(tmp_path: Path, flow: Flow) -> None:
    """A misspelt variant would play the base flow and pass for the wrong reason."""
    code, output, _, stack = run(tmp_path, TESTS.replace("short-invite", "shortinvite"), flow)
    assert code == 2, output
    assert ":2: variant 'shortinvite' is not a running variant of the flow 'default' " in output
    assert "(it runs short-invite)" in output
    assert stack.variants == []  # no test was played


def test_a_stopped_variant_cannot_be_tested(tmp_path: Path, flow: Flow) -> None:
    stopped = tmp_path / "stopped.yml"
    source = Path(flow.source).read_text()
    stopped.write_text(
        source.replace("  - name: short-invite\n", "  - name: short-invite\n    stopped: true\n")
    )
    code, output, _, _ = run(tmp_path, f"flow: {stopped}\n" + TESTS, flow)
    assert code == 2 and "(it runs no variant)" in output, output


def test_the_language_a_test_expects_is_checked(tmp_path: Path, flow: Flow) -> None:
    text = TESTS.replace("language: en", "language: de").replace(
        'reply_contains: "Example Bank"', 'not_contains: "Example Bank"'
    )
    _, output, _, _ = run(tmp_path, text, flow)
    assert ":11: expected the conversation in de, it is in en" in output


def test_each_expectation_that_fails_is_said() -> None:
    step = Step(line=3, prospect="hi", contains=("virtual",), matches=(r"\bBank\b",),
                not_contains=("I'm",), replies=2, level="identity", state="qualifying",
                buttons=("Yes",))  # fmt: skip
    failures = check_step(step, ANSWERS["hi"])
    assert failures == [
        'expected 2 replies, got 1: "Hi! I\'m the virtual assistant."',
        "expected a reply matching '\\\\bBank\\\\b', got \"Hi! I'm the virtual assistant.\"",
        'expected no reply containing "I\'m", got "Hi! I\'m the virtual assistant."',
        "expected level identity, got public",
        "expected buttons 'Yes', got none",
    ]


def test_contains_ignores_case_and_line_breaks() -> None:
    seen = Observed(("Our team is available Monday\nto Friday",), (), "public", "qualifying")
    assert check_step(Step(line=1, prospect="x", contains=("monday to friday",)), seen) == []


class Scripted:
    """A prospect for `simulate`'s chat, answering from ANSWERS."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def say(self, text: str) -> Observed:
        self.said.append(text)
        return ANSWERS[text]

    def tap(self, title: str) -> Observed:
        self.said.append(f"tap {title}")
        if title != "Yes, I agree":
            raise LookupError(f"no button {title!r} is offered (buttons offered: 'Yes, I agree')")
        return INVITE

    def version(self) -> str:
        return "v3 (0123456789ab)"


def test_simulate_prints_replies_buttons_and_a_status_line_without_echoing_values() -> None:
    prospect = Scripted()
    out = io.StringIO()
    typed = "hi\nMy passport number is C01X00T47\ntap: Maybe\ntap: Yes, I agree\n\nnot read\n"
    chat(prospect, io.StringIO(typed), out)  # type: ignore[arg-type]
    shown = out.getvalue()
    assert prospect.said == ["hi", "My passport number is C01X00T47", "tap Maybe",
                             "tap Yes, I agree"]  # fmt: skip
    assert "bot> Please read our terms (version 2026-11). Do you agree?" in shown
    assert "buttons: [Yes, I agree] | [No, thanks]" in shown
    assert (
        "-- level identity | state terms_offered | language en "
        "| found: passport_number (detector, identity) | flow v3 (0123456789ab)"
    ) in shown
    assert "(no button 'Maybe' is offered (buttons offered: 'Yes, I agree'))" in shown
    assert "state invite_sent" in shown
    # What the prospect typed is theirs; the status line never repeats a found value.
    assert shown.count("C01X00T47") == 0


def test_a_flow_that_cannot_be_used_stops_the_run_before_it_starts(
    tmp_path: Path, flow: Flow
) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        Path(flow.source).read_text().replace("transition_at: identity", "transtion_at: identity")
    )
    code, output, _, stack = run(tmp_path, "flow: broken.yml\n" + TESTS, flow)
    assert code == 2
    assert "did you mean `transition_at`?" in output
    assert output.endswith("the flow cannot be used: nothing was run\n")
    assert stack.variants == []  # no test was played


def test_simulate_refuses_a_language_the_flow_does_not_speak() -> None:
    result = CliRunner().invoke(app, ["simulate", "--lang", "it"])
    assert result.exit_code == 2
    assert "--lang it: the flow speaks en, de, fr, es" in result.output


def test_simulate_refuses_a_variant_the_flow_does_not_run() -> None:
    result = CliRunner().invoke(app, ["simulate", "--variant", "b"])
    assert result.exit_code == 2
    assert "--variant b: not a running variant of the flow (it runs no variant)" in result.output
    result = CliRunner().invoke(app, ["simulate", "--flow", str(AB_FLOW_PATH), "--variant", "b"])
    assert "(it runs short-invite)" in result.output


def test_simulate_refuses_a_flow_that_cannot_be_used(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("flow: broken\nlanguages: [en]\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["simulate", "--flow", str(broken)])
    assert result.exit_code == 2
    assert f"{broken}" in result.output and "the flow cannot be used" in result.output

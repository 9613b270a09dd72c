"""Reading conversation test files: every mistake named with its line, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.adapters.flow_test_files import TESTS_DIR, FlowTestFileError, read_test_file
from bot.entrypoints.cli import app


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "opening.yml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(FlowTestFileError) as caught:
        read_test_file(path)
    return caught.value.problems


def test_the_shipped_tests_read_without_problems() -> None:
    for path in sorted(TESTS_DIR.glob("*.yml")):
        tests = read_test_file(path)
        assert tests.tests, path
        assert all(test.steps for test in tests.tests)


def test_a_test_reads_as_written(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
flow: default
tests:
  - name: Opening hours in German
    language: de
    variant: b
    steps:
      - prospect: "Wann haben Sie geöffnet?"
        reply_contains: "Öffnungszeiten"
        level: public
        state: qualifying
      - tap: "Ja, einverstanden"
        reply_contains: ["Link", "sicheren Kanal"]
        not_contains: Bedingungen
        buttons: []
        replies: 1
""",
    )
    read = read_test_file(path)
    assert read.flow == "default"
    (test,) = read.tests
    assert (test.name, test.language, test.variant, test.line) == (
        "Opening hours in German", "de", "b", 3,
    )  # fmt: skip
    first, second = test.steps
    assert (first.line, first.prospect, first.contains) == (
        7, "Wann haben Sie geöffnet?", ("Öffnungszeiten",),
    )  # fmt: skip
    assert (first.level, first.state, first.buttons) == ("public", "qualifying", None)
    assert (second.tap, second.contains, second.not_contains) == (
        "Ja, einverstanden", ("Link", "sicheren Kanal"), ("Bedingungen",),
    )  # fmt: skip
    assert (second.buttons, second.replies) == ((), 1)


def test_an_unknown_key_is_named_with_its_line_and_the_nearest_known_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
tests:
  - name: hours
    steps:
      - prospect: "hi"
        reply_contain: "Hello"
""",
    )
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:5: `reply_contain` is not a setting of a step")
    assert "did you mean `reply_contains`?" in problem


def test_a_level_or_state_that_does_not_exist_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
tests:
  - name: terms
    langauge: en
    steps:
      - prospect: "My passport number is C01X00T47"
        level: identty
        state: terms_ofered
""",
    )
    found = problems(path)
    assert found[0].startswith(
        f"{path}:3: `langauge` is not a setting of a test; did you mean `language`?"
    )
    assert found[1].startswith(
        f"{path}:6: `level`: 'identty' is not a level; did you mean `identity`?"
    )
    assert found[2].startswith(
        f"{path}:7: `state`: 'terms_ofered' is not a state; did you mean `terms_offered`?"
    )
    assert len(found) == 3


def test_a_step_says_or_taps_exactly_one_thing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
tests:
  - name: nothing said
    steps:
      - level: public
      - prospect: "hi"
        tap: "Yes"
""",
    )
    found = problems(path)
    assert [p.split(":")[1] for p in found] == ["4", "5"]
    assert all("exactly one of `prospect:`" in p for p in found)


def test_a_pattern_that_is_not_one_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
tests:
  - name: hours
    steps:
      - prospect: "hi"
        reply_matches: "Monday (to"
""",
    )
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:5: `reply_matches`: 'Monday (to' is not a pattern")
    assert "use `reply_contains`" in problem


def test_a_test_needs_a_name_and_steps(tmp_path: Path) -> None:
    path = write(tmp_path, "tests:\n  - language: en\n")
    found = problems(path)
    assert f"{path}:2: each test needs a `name:` saying what it shows" in found
    assert f"{path}:2: each test needs `steps:`, a list of what the prospect says" in found


def test_broken_yaml_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'tests:\n  - name: "unclosed\n    steps: []\n')
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:") and "not valid YAML" in problem


def test_the_command_refuses_an_invalid_file_before_starting_anything(tmp_path: Path) -> None:
    """Exit 2 with file:line; no Rasa is started for a file that cannot run."""
    path = write(tmp_path, "tests:\n  - name: x\n    steps:\n      - prospekt: hi\n")
    result = CliRunner().invoke(app, ["flows", "test", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}:4: `prospekt` is not a setting of a step; did you mean `prospect`?" in (
        result.output
    )
    assert "nothing was run" in result.output


def test_the_command_names_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["flows", "test", str(tmp_path / "absent.yml")])
    assert result.exit_code == 2
    assert "absent.yml: no such file" in result.output

"""`gangway flows validate` and `gangway flows diagram` as marketing runs them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.adapters.flow_files import DEFAULT_FLOW_PATH
from bot.adapters.routing_file import DEFAULT_ROUTING_PATH
from bot.entrypoints.cli import app

runner = CliRunner()


def gangway(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def edit(text: str, pattern: str, replacement: str) -> str:
    """``text`` with the one line matching ``pattern`` rewritten; fails if there is none."""
    changed, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, f"flows/default.yml no longer has a line matching {pattern!r}"
    return changed


def line_of(text: str, pattern: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if re.search(pattern, line))


def test_shipped_flows_validate() -> None:
    """With no file named, every flows/*.yml is checked; the shipped ones pass."""
    code, output = gangway("flows", "validate")
    assert code == 0, output
    assert f"{DEFAULT_FLOW_PATH}: ok" in output


def test_good_file_exits_zero(tmp_path: Path) -> None:
    """A copy of the shipped flow is valid: exit 0 and a one-line summary."""
    good = tmp_path / "good.yml"
    shutil.copy(DEFAULT_FLOW_PATH, good)
    code, output = gangway("flows", "validate", str(good))
    assert code == 0, output
    assert f"{good}: ok (flow 'default'" in output


def test_each_mistake_is_named_with_file_line_and_reason(tmp_path: Path) -> None:
    """Four mistakes in one file: each is reported at its line in plain words, exit 1."""
    text = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")
    text = edit(text, r"^transition_at: \w+$", "transition_at: confidential")
    # The German consent question is deleted.
    text = edit(text, r"^(    consent_question:\n(?:      \w\w: .*\n)*?)      de: .*\n", r"\1")
    text = edit(text, r"^  consent_reminder: .*$", "  consent_reminder: ten minutes")
    text = edit(text, r"^(    detectors: \[)", r"\1crystal_ball, ")
    bad = tmp_path / "bad.yml"
    bad.write_text(text, encoding="utf-8")

    code, output = gangway("flows", "validate", str(bad))

    assert code == 1, output
    expected = {
        line_of(text, r"^transition_at:"): "unknown level 'confidential'",
        line_of(text, r"^    consent_question:"): "has no `de` wording",
        line_of(text, r"^  consent_reminder:"): "'ten minutes' is not a duration",
        line_of(text, r"crystal_ball"): "`crystal_ball` is not a detector",
    }
    for line, reason in expected.items():
        assert any(
            row.startswith(f"{bad}:{line}: ") and reason in row for row in output.splitlines()
        ), f"no `{bad}:{line}: ...{reason}...` in:\n{output}"
    assert f"{bad}: NOT usable" in output


def test_one_bad_file_among_good_ones_fails_the_run(tmp_path: Path) -> None:
    """Several files are all checked; one broken file makes the whole run exit 1."""
    good = tmp_path / "good.yml"
    shutil.copy(DEFAULT_FLOW_PATH, good)
    bad = tmp_path / "broken.yml"
    bad.write_text("flow: [unclosed\n", encoding="utf-8")
    code, output = gangway("flows", "validate", str(good), str(bad))
    assert code == 1
    assert f"{good}: ok" in output
    assert f"{bad}:2: this is not valid YAML" in output


def test_missing_file_is_a_plain_error(tmp_path: Path) -> None:
    """A file that does not exist is named, with exit 2 (the command was used wrongly)."""
    missing = tmp_path / "nope.yml"
    code, output = gangway("flows", "validate", str(missing))
    assert code == 2
    assert f"{missing}: no such file" in output


def test_diagram_writes_an_svg(tmp_path: Path) -> None:
    """`flows diagram --out x.svg` writes a real SVG picture showing the chart's states."""
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (scripts/setup.sh graphviz installs it)")
    out = tmp_path / "chart.svg"
    code, output = gangway("flows", "diagram", "--out", str(out))
    assert code == 0, output
    svg = out.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for state in ("qualifying", "terms_offered", "invite_sent", "opted_out"):
        assert state in svg


def test_diagram_without_graphviz_says_how_to_install_it(tmp_path: Path) -> None:
    """With no `dot` on PATH the command fails with the install command, not a traceback."""
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "chart.svg"
    code, output = gangway("flows", "diagram", "--out", str(out), env={"PATH": str(empty)})
    assert code == 1
    assert "apt-get install graphviz" in output
    assert not out.exists()


def test_diagram_refuses_an_unknown_picture_format(tmp_path: Path) -> None:
    """Only .png, .svg, .mmd and .md can be written; anything else is refused with exit 2."""
    code, output = gangway("flows", "diagram", "--out", str(tmp_path / "chart.gif"))
    assert code == 2
    assert "must end in .png, .svg, .mmd or .md" in output


def test_shipped_routing_file_is_checked_too() -> None:
    """With no file named, flows/routing.yml is checked as routing rules, not as a flow."""
    code, output = gangway("flows", "validate")
    assert code == 0, output
    assert f"{DEFAULT_ROUTING_PATH}: ok (routing: " in output
    assert "NOT usable" not in output


def test_a_routing_file_named_explicitly_is_checked_as_routing(tmp_path: Path) -> None:
    """A routing file, even under another name, gets the routing checks with file and line."""
    text = DEFAULT_ROUTING_PATH.read_text(encoding="utf-8")
    text = edit(text, r"^sla: 15m$", "sla: a quarter of an hour")
    text = edit(text, r"^    languages: \[fr\]$", "    languages: [fr, it]")
    bad = tmp_path / "routing-draft.yml"
    bad.write_text(text, encoding="utf-8")

    code, output = gangway("flows", "validate", str(bad), str(DEFAULT_FLOW_PATH))

    assert code == 1, output
    assert f"{bad}:{line_of(text, r'^sla:')}: `sla`: 'a quarter of an hour' is not" in output
    assert f"{bad}:{line_of(text, r'fr, it')}: " in output and "`it` is not a language" in output
    assert f"{bad}: NOT usable" in output
    assert f"{DEFAULT_FLOW_PATH}: ok" in output


def test_a_folder_holding_a_flow_and_routing_rules(tmp_path: Path) -> None:
    """A folder is checked file by file, each by its kind."""
    shutil.copy(DEFAULT_FLOW_PATH, tmp_path / "default.yml")
    shutil.copy(DEFAULT_ROUTING_PATH, tmp_path / "routing.yml")
    code, output = gangway("flows", "validate", str(tmp_path))
    assert code == 0, output
    assert f"{tmp_path / 'default.yml'}: ok (flow 'default'" in output
    assert f"{tmp_path / 'routing.yml'}: ok (routing: " in output

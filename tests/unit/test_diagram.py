"""Drawing the conversation statechart as a PNG or SVG picture."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bot.domain.conversation_chart import ConversationChart, describe
from bot.entrypoints.diagram import GraphvizMissing, build_graph, mermaid_source, write_diagram

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (Debian: graphviz)"
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@needs_dot
def test_a_png_file_name_gives_a_png_picture(tmp_path: Path) -> None:
    """--out chart.png writes a real PNG image of some size."""
    out = write_diagram(tmp_path / "chart.png")
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 20_000


@needs_dot
def test_the_svg_names_every_state_and_every_event(tmp_path: Path) -> None:
    """The SVG is valid XML and shows each state id and each event name of the chart."""
    out = write_diagram(tmp_path / "nested" / "chart.SVG")
    root = ET.fromstring(out.read_bytes())
    assert root.tag.endswith("svg")
    shown = {text.strip() for element in root.iter() for text in [element.text or ""]}
    states = {state.id for state in ConversationChart.states}
    events = {step.event for step in describe(ConversationChart)}
    assert len(states) == 7 and len(events) == 9
    assert states <= shown
    assert events <= shown


def test_self_loops_and_the_initial_state_are_drawn() -> None:
    """Events that keep a state (e.g. invite_expired) are loops; qualifying has the start dot."""
    graph = build_graph(ConversationChart)
    loops = {
        edge.get_source(): str(edge.get("label"))
        for edge in graph.get_edges()
        if edge.get_source() == edge.get_destination()
    }
    assert set(loops) == {
        "terms_offered",
        "invite_sent",
        "handed_off",
        "handoff_requested",
        "opted_out",
    }
    assert "invite_expired" in loops["invite_sent"]
    assert "invite_renewal_requested" in loops["invite_sent"]
    starts = [e.get_destination() for e in graph.get_edges() if e.get_source() == "__initial__"]
    assert starts == ["qualifying"]


@pytest.mark.parametrize("name", ["chart.pdf", "chart", "chart.png.txt"])
def test_another_file_type_is_refused_with_a_plain_message(tmp_path: Path, name: str) -> None:
    """Only .png, .svg, .mmd and .md are written; anything else is a ValueError naming them."""
    with pytest.raises(ValueError, match=r"must end in \.png, \.svg, \.mmd or \.md"):
        write_diagram(tmp_path / name)
    assert not (tmp_path / name).exists()


def test_without_graphviz_the_error_says_which_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no `dot` on PATH the error names Debian's graphviz package and writes nothing."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizMissing, match="graphviz package"):
        write_diagram(tmp_path / "chart.svg")
    assert not (tmp_path / "chart.svg").exists()


def test_the_mermaid_source_names_every_transition_by_its_events(tmp_path: Path) -> None:
    """Each of the chart's transitions is one Mermaid edge labelled with its exact events."""
    source = mermaid_source()
    assert source.startswith("stateDiagram-v2\n")
    assert "[*] --> qualifying" in source
    for step in describe():
        assert f"{step.source} --> {step.target} : " in source
    edges = [line for line in source.splitlines() if " --> " in line and " : " in line]
    labels = [line.split(" : ", 1)[1] for line in edges]
    assert "threshold_reached" in labels and "Threshold reached" not in source
    out = write_diagram(tmp_path / "chart.md")
    assert out.read_text(encoding="utf-8") == f"```mermaid\n{source}```\n"


def test_the_readme_shows_the_chart_as_it_is() -> None:
    """The README's Mermaid picture of the statechart is the one the code draws today.

    Regenerate it with `gangway flows diagram --out chart.md` and paste it in.
    """
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{mermaid_source()}```" in readme

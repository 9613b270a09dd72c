"""Drawing the conversation statechart for marketing and compliance (PNG, SVG or Mermaid).

The graph is built here from ``describe()`` rather than with
``statemachine.contrib.diagram``: that one labels edges with humanised names
("Threshold reached") that match nothing in the code, the flows or the audit log,
and draws one edge per event even where several events join the same two states.
Here every state box shows its id, every edge the exact event names, events between
the same two states share one edge, and the initial state gets the usual filled dot.

Rendering needs Graphviz's ``dot`` program (Debian: the graphviz package, which
``scripts/setup.sh graphviz`` installs). The Mermaid source (``.mmd`` or ``.md``) needs
nothing: python-statemachine renders it, and GitHub, GitLab and most Markdown viewers draw
it where the README is read. Its edges carry the exact event names too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pydot
from statemachine import StateChart
from statemachine.contrib.diagram.extract import extract
from statemachine.contrib.diagram.model import DiagramTransition
from statemachine.contrib.diagram.renderers.mermaid import MermaidRenderer

from bot.domain.conversation_chart import ConversationChart, describe

__all__ = ["FORMATS", "GraphvizMissing", "build_graph", "mermaid_source", "write_diagram"]

FORMATS = {".png": "png", ".svg": "svg", ".mmd": "mermaid", ".md": "markdown"}

_FONT = "Helvetica"
_INITIAL_NODE = "__initial__"


class GraphvizMissing(RuntimeError):
    """Graphviz's ``dot`` program is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "Graphviz's `dot` program was not found on PATH; it draws the diagram. "
            "Install Debian's graphviz package (`sudo apt-get install graphviz`, or "
            "`scripts/setup.sh graphviz`) and try again."
        )


def _title(name: str) -> str:
    """ "terms_offered" -> "Terms offered", "ConversationChart" -> "Conversation chart"."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).replace("_", " ")
    return words.lower().capitalize()


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_graph(chart_class: type[StateChart[Any]] = ConversationChart) -> pydot.Dot:
    """The chart as a Graphviz graph: one box per state, one edge per pair of states."""
    steps = describe(chart_class)
    graph = pydot.Dot(
        chart_class.__name__,
        graph_type="digraph",
        rankdir="LR",
        fontname=_FONT,
        fontsize="16",
        labelloc="t",
        nodesep="0.5",
        ranksep="0.9",
    )
    graph.set_node_defaults(fontname=_FONT, fontsize="12")
    graph.set_edge_defaults(fontname=_FONT, fontsize="10")

    graph.add_node(
        pydot.Node(_INITIAL_NODE, label="", shape="circle", style="filled", fillcolor="black",
                   width="0.2", height="0.2", fixedsize="true")
    )  # fmt: skip
    for state in chart_class.states:
        # HTML-like label: the readable name in bold, the id the code and audit log use.
        label = f'<<b>{_html(_title(state.id))}</b><br/><font point-size="10">{state.id}</font>>'
        graph.add_node(
            pydot.Node(
                state.id,
                label=label,
                shape="box",
                style="rounded,filled,bold" if state.initial else "rounded,filled",
                fillcolor="#dbeafe" if state.initial else "#f8fafc",
                color="#1e3a8a" if state.initial else "#334155",
                margin="0.2,0.1",
            )
        )
        if state.initial:
            graph.add_edge(pydot.Edge(_INITIAL_NODE, state.id, label="start", fontsize="9"))

    # Events between the same two states share one edge; declaration order is kept.
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    sources: dict[str, set[str]] = defaultdict(set)
    targets: dict[tuple[str, str], set[str]] = defaultdict(set)
    for step in steps:
        if step.event not in edges[step.source, step.target]:
            edges[step.source, step.target].append(step.event)
        sources[step.event].add(step.source)
        targets[step.source, step.event].add(step.target)
    # An event joining (almost) every state to one state (STOP, "a person please") draws
    # an edge to or from every box; drawn lighter, they let the main path stand out.
    anywhere = len(chart_class.states) - 1
    background = {
        event
        for event, froms in sources.items()
        if (len(froms) >= anywhere and len({t for s in froms for t in targets[s, event]}) == 1)
        or (len(froms) == 1 and len(targets[next(iter(froms)), event]) >= anywhere)
    }
    notes = []
    for (source, target), events in edges.items():
        # An event with several targets from one state goes to only one of them, chosen
        # by a condition (opt_in resumes where the conversation was): dashed.
        guarded = all(len(targets[source, event]) > 1 for event in events)
        light = all(event in background for event in events)
        graph.add_edge(
            pydot.Edge(
                source,
                target,
                label="<" + "<br/>".join(_html(e) for e in events) + ">",
                style="dashed" if guarded else "solid",
                color="#a3acb9" if light else "#1f2937",
                fontcolor="#6b7280" if light else "#111827",
                penwidth="1" if light else "1.6",
            )
        )
        if light and "grey" not in notes:
            notes.append("grey")
        if guarded and "dashed" not in notes:
            notes.append("dashed")
    legend = {
        "grey": "grey: events possible in (almost) every state",
        "dashed": "dashed: the event goes to one of these states, chosen by a condition",
    }
    graph.set("label", "\\n".join([_title(chart_class.__name__), *(legend[n] for n in notes)]))
    return graph


def mermaid_source(chart_class: type[StateChart[Any]] = ConversationChart) -> str:
    """The chart as a Mermaid ``stateDiagram-v2``, each edge named by its exact events."""
    graph = extract(chart_class)
    # The library names edges in words ("Threshold reached"); the code, the flows and
    # the audit log say threshold_reached, so the edges are rebuilt with the event ids.
    graph.transitions = [t for t in graph.transitions if t.is_initial] + [
        DiagramTransition(
            source=state.id,
            targets=[target.id for target in transition.targets],
            event=" / ".join(str(event) for event in transition.events),
            guards=[str(cond) for cond in transition.cond],
            is_internal=transition.internal,
        )
        for state in chart_class.states
        for transition in state.transitions
    ]
    return MermaidRenderer().render(graph)


def write_diagram(out: Path, chart_class: type[StateChart[Any]] = ConversationChart) -> Path:
    """Draw ``chart_class`` to ``out``; the suffix (.png, .svg, .mmd or .md) picks the format."""
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot draw a diagram as {out.name!r}: "
            "the file name must end in .png, .svg, .mmd or .md"
        )
    if fmt in ("mermaid", "markdown"):
        source = mermaid_source(chart_class)
        if fmt == "markdown":
            source = f"```mermaid\n{source}```\n"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(source, encoding="utf-8")
        return out
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing()
    source = build_graph(chart_class).to_string()
    done = subprocess.run([dot, f"-T{fmt}"], input=source.encode(), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"Graphviz's dot failed (exit {done.returncode}): "
            + done.stderr.decode(errors="replace").strip()
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(done.stdout)
    return out

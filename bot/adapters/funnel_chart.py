"""The funnel as a PNG: one horizontal bar chart per group, side by side.

Drawn with matplotlib's object API and its Agg canvas, never pyplot: no display is
needed, and no global figure state is shared between the console's requests. Stages
read top to bottom in the funnel's order, each bar labelled with its count and its
share of ``started``; ``declined`` (a branch off terms_offered) is drawn in another
colour so it does not read as a step of the path.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

__all__ = ["funnel_png"]

_PATH_COLOUR = "#2f6f9f"
_BRANCH_COLOUR = "#c0504d"
_PANEL_WIDTH = 4.6  # inches per group
_HEIGHT = 4.2


def funnel_png(
    groups: Mapping[str, Mapping[str, int]],
    stages: Sequence[str],
    *,
    title: str,
    branch: str = "declined",
    dpi: int = 100,
) -> bytes:
    """A PNG of each group's counts per stage (``groups`` in the order given)."""
    # Imported here: matplotlib takes half a second to import, which every gangway
    # command and every service start would pay for a chart few of them draw.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(groups) or ["all"]
    figure = Figure(figsize=(max(6.0, _PANEL_WIDTH * len(names)), _HEIGHT), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    # One scale for every group, so that bars compare across panels.
    top = max((n for g in groups.values() for n in g.values()), default=0) or 1
    for i, (ax, name) in enumerate(zip(axes, names, strict=True)):
        counts = [groups.get(name, {}).get(stage, 0) for stage in stages]
        started = counts[0] if counts else 0
        colours = [_BRANCH_COLOUR if stage == branch else _PATH_COLOUR for stage in stages]
        positions = range(len(stages))
        bars = ax.barh(positions, counts, color=colours)
        ax.set_xlim(0, top * 1.35)
        ax.invert_yaxis()
        ax.set_title(name, fontsize=11)
        ax.set_xlabel("conversations")
        ax.set_yticks(list(positions), [s.replace("_", " ") for s in stages] if i == 0 else [])
        for bar, n in zip(bars, counts, strict=True):
            share = f" ({100 * n / started:.0f}%)" if started else ""
            ax.text(
                bar.get_width() + top * 0.02,
                bar.get_y() + bar.get_height() / 2,
                f"{n}{share}",
                va="center",
                fontsize=8,
            )
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    figure.suptitle(title, fontsize=12)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()

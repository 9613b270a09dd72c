"""The funnel: how far each conversation got on its way to the secure channel.

A *journey* is one conversation's milestones, read from the records; the funnel counts
journeys per stage. Stages, in order, and what marks each (a conversation counts at
most once per stage, however often the thing happened):

    started            the conversation was created (its first message)
    reached_threshold  a message at or above the flow's threshold (``transition_at``),
                       or terms offered: only such a message offers them
    terms_offered      a consent was offered (the terms shown)
    consented          a consent was agreed to
    declined           a consent was declined and none agreed to: a prospect who said no
                       and later yes counts as consented, so consented + declined + those
                       who never answered = terms_offered
    invite_sent        an invite (a link to the secure channel) was issued
    activated          an invite was used: the prospect opened the secure channel
    handed_off         the handoff of the move: one opened because the prospect moved
                       (reason ``threshold``), or, if they had asked for a person before
                       moving, the handoff that was open when they activated. A handoff
                       for a person asked for by a prospect who never moved does not count:
                       it is no step of the move
    claimed            that handoff was claimed by an advisor

Conversations are chosen by when they started (the period); each is then followed to
wherever it had got by the period's end, so every stage is a subset of the one before
on the main path (started → … → claimed, ``declined`` is a branch off terms_offered)
and a drop-off is a plain difference.

Times: *time to activation* is terms offered → activated (how long the move itself takes
once the prospect is asked), *time to claim* is handed off → claimed. Percentiles are
nearest-rank: each is a time some conversation actually took.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

__all__ = [
    "BRANCH",
    "MAIN_PATH",
    "PERCENTILES",
    "STAGES",
    "Funnel",
    "HandoffFacts",
    "Journey",
    "funnel_of",
    "grouped",
    "in_words",
    "moved_handoff",
    "percentile",
]

STAGES: tuple[str, ...] = (
    "started",
    "reached_threshold",
    "terms_offered",
    "consented",
    "declined",
    "invite_sent",
    "activated",
    "handed_off",
    "claimed",
)
# The path a prospect takes to an advisor; declined leaves it after terms_offered.
BRANCH = "declined"
MAIN_PATH: tuple[str, ...] = tuple(s for s in STAGES if s != BRANCH)
PERCENTILES: tuple[int, ...] = (50, 90, 95)


@dataclass(frozen=True)
class HandoffFacts:
    """What the funnel needs of one handoff: why it was opened, when, and its claim."""

    reason: str  # threshold | human_request
    created_at: datetime
    closed_at: datetime | None = None
    claimed_at: datetime | None = None


@dataclass(frozen=True)
class Journey:
    """One conversation's milestones (each the first time it happened, None: never)."""

    started_at: datetime
    group: str = ""
    reached_threshold: bool = False
    offered_at: datetime | None = None
    agreed_at: datetime | None = None
    declined_at: datetime | None = None
    invited_at: datetime | None = None
    activated_at: datetime | None = None
    handoffs: tuple[HandoffFacts, ...] = ()


def moved_handoff(journey: Journey) -> HandoffFacts | None:
    """The handoff of the move (see the module's ``handed_off``), None without one."""
    ordered = sorted(journey.handoffs, key=lambda h: h.created_at)
    for h in ordered:
        if h.reason == "threshold":
            return h
    activated = journey.activated_at
    if activated is None:
        return None
    for h in ordered:
        if h.created_at <= activated and (h.closed_at is None or h.closed_at >= activated):
            return h
    return None


def _by(moment: datetime | None, until: datetime | None) -> datetime | None:
    """``moment`` if it happened by ``until`` (any time when ``until`` is None)."""
    if moment is None or (until is not None and moment >= until):
        return None
    return moment


@dataclass(frozen=True)
class _Reached:
    """A journey cut at the period's end: the moment of each stage it reached."""

    at: dict[str, datetime | None]

    def has(self, stage: str) -> bool:
        return self.at[stage] is not None


def _reached(journey: Journey, until: datetime | None) -> _Reached:
    offered = _by(journey.offered_at, until)
    agreed = _by(journey.agreed_at, until)
    declined = _by(journey.declined_at, until) if agreed is None else None
    handoff = moved_handoff(journey)
    handed_off = _by(handoff.created_at, until) if handoff else None
    claimed = _by(handoff.claimed_at, until) if handoff and handed_off else None
    started = journey.started_at
    # No message's time is kept here: a threshold reached counts from the start.
    threshold = started if journey.reached_threshold or offered is not None else None
    return _Reached(
        {
            "started": started,
            "reached_threshold": threshold,
            "terms_offered": offered,
            "consented": agreed,
            "declined": declined,
            "invite_sent": _by(journey.invited_at, until),
            "activated": _by(journey.activated_at, until),
            "handed_off": handed_off,
            "claimed": claimed,
        }
    )


def percentile(values: Sequence[float], p: int) -> float | None:
    """The nearest-rank ``p``th percentile of ``values`` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Funnel:
    """Counts per stage, the drop-offs between them and the two times, in seconds."""

    counts: dict[str, int]
    time_to_activation: list[float] = field(default_factory=list)
    time_to_claim: list[float] = field(default_factory=list)

    def drop_off(self) -> list[dict[str, Any]]:
        """Between consecutive stages of the main path: how many did not go on."""
        steps = []
        for before, after in pairwise(MAIN_PATH):
            went, came = self.counts[before], self.counts[after]
            lost = went - came
            steps.append(
                {
                    "from": before,
                    "to": after,
                    "lost": lost,
                    "percent": round(100 * lost / went, 1) if went else None,
                }
            )
        return steps

    def branch(self) -> dict[str, Any]:
        """What became of terms offered: agreed, declined, or no answer (yet)."""
        offered = self.counts["terms_offered"]
        agreed, declined = self.counts["consented"], self.counts["declined"]
        unanswered = offered - agreed - declined

        def share(n: int) -> float | None:
            return round(100 * n / offered, 1) if offered else None

        return {
            "of": "terms_offered",
            "consented": {"count": agreed, "percent": share(agreed)},
            "declined": {"count": declined, "percent": share(declined)},
            "unanswered": {"count": unanswered, "percent": share(unanswered)},
        }

    def note(self, stage: str) -> str:
        """What a table shows beside ``stage``'s count: how many were lost since the
        stage before ("-3 (37.5%)", "no drop"), or for declined its share of terms offered."""
        if stage == BRANCH:
            share = self.branch()["declined"]["percent"]
            return f"{share}% of offered" if share is not None else ""
        drop = next((d for d in self.drop_off() if d["to"] == stage), None)
        if drop is None or drop["percent"] is None:
            return ""
        if drop["lost"] == 0:
            return "no drop"
        return f"-{drop['lost']} ({drop['percent']}%)"

    def times(self) -> dict[str, dict[str, Any]]:
        """p50/p90/p95 in seconds, and how many conversations each is taken over."""
        out: dict[str, dict[str, Any]] = {}
        for name, values, span in (
            ("time_to_activation", self.time_to_activation, "terms_offered → activated"),
            ("time_to_claim", self.time_to_claim, "handed_off → claimed"),
        ):
            row: dict[str, Any] = {"span": span, "n": len(values)}
            row.update({f"p{p}": percentile(values, p) for p in PERCENTILES})
            out[name] = row
        return out


def funnel_of(journeys: Iterable[Journey], until: datetime | None = None) -> Funnel:
    """The funnel of ``journeys``, counting what happened before ``until`` only."""
    counts = dict.fromkeys(STAGES, 0)
    to_activation: list[float] = []
    to_claim: list[float] = []
    for journey in journeys:
        reached = _reached(journey, until)
        for stage in STAGES:
            counts[stage] += reached.has(stage)
        offered, activated = reached.at["terms_offered"], reached.at["activated"]
        if offered is not None and activated is not None:
            to_activation.append(max(0.0, (activated - offered).total_seconds()))
        handed, claimed = reached.at["handed_off"], reached.at["claimed"]
        if handed is not None and claimed is not None:
            to_claim.append(max(0.0, (claimed - handed).total_seconds()))
    return Funnel(counts, to_activation, to_claim)


def grouped(journeys: Iterable[Journey], until: datetime | None = None) -> dict[str, Funnel]:
    """One funnel per ``Journey.group``, groups in name order."""
    groups: dict[str, list[Journey]] = {}
    for journey in journeys:
        groups.setdefault(journey.group, []).append(journey)
    return {name: funnel_of(groups[name], until) for name in sorted(groups)}


def in_words(seconds: float | None) -> str:
    """A duration as a person reads it: "45 s", "12 min", "3 h 5 min", "2 d 4 h"; "–"
    for none."""
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    minutes = s // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"

"""A/B variants of a flow: which one a conversation gets, and the flow it then runs.

A conversation's variant is chosen once, at its first turn, by a hash of the flow's
name and the conversation's id: the same conversation always lands on the same side,
whichever process asks, and the split follows the weights. The base flow takes part
with its own weight (``base_weight``; when the flow gives none, the mean of the
variants' weights, so one variant against the base splits half and half). A stopped
variant takes no new conversation; its conversations keep their assignment (for the
figures) but run on the base flow from their next turn.
"""

from __future__ import annotations

import dataclasses
import hashlib

from bot.domain.flows import Flow, Variant

__all__ = ["assign", "base_weight", "effective", "not_running", "overlay", "running"]


def running(flow: Flow) -> tuple[Variant, ...]:
    """The variants that still take new conversations, in the flow's order."""
    return tuple(v for v in flow.variants if not v.stopped)


def not_running(flow: Flow, variant: str | None) -> str | None:
    """When ``variant`` cannot be played on ``flow`` (a name it does not declare, or a
    stopped one: either would run the base flow), what it runs instead ("it runs a, b"
    or "it runs no variant"); None when it can be (or is None)."""
    names = [v.name for v in running(flow)]
    if variant is None or variant in names:
        return None
    return f"it runs {', '.join(names)}" if names else "it runs no variant"


def base_weight(flow: Flow) -> float:
    """The base flow's weight: its own, else the mean of every declared variant's (the
    stopped ones too, so stopping one does not shift the others' shares)."""
    if flow.base_weight is not None:
        return flow.base_weight
    weights = [v.weight for v in flow.variants]
    return sum(weights) / len(weights) if weights else 1.0


def _point(flow_name: str, conversation_id: str) -> float:
    """A number in [0, 1) fixed by the flow's name and the conversation's id."""
    digest = hashlib.sha256(f"{flow_name}\n{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(flow: Flow, conversation_id: str) -> str | None:
    """The variant a new conversation gets: a running variant's name, or None for the
    base flow."""
    candidates: list[tuple[str | None, float]] = [(None, base_weight(flow))]
    candidates += [(v.name, v.weight) for v in running(flow)]
    total = sum(weight for _, weight in candidates)
    if total <= 0:
        return None
    point = _point(flow.name, conversation_id) * total
    for name, weight in candidates:
        if point < weight:
            return name
        point -= weight
    return candidates[-1][0]


def overlay(flow: Flow, variant: Variant) -> Flow:
    """``flow`` with ``variant``'s texts, responses, threshold and timers in place of its
    own; everything else is the base flow's."""
    texts = {
        key: {**langs, **variant.texts.get(key, {})} for key, langs in flow.protocol.texts.items()
    }
    responses = {
        name: {**langs, **variant.responses.get(name, {})} for name, langs in flow.responses.items()
    }
    return dataclasses.replace(
        flow,
        protocol=dataclasses.replace(flow.protocol, texts=texts),
        responses=responses,
        transition_at=variant.transition_at or flow.transition_at,
        timers=dataclasses.replace(flow.timers, **variant.timers),
        variant=variant.name,
    )


def effective(flow: Flow, variant: str | None) -> Flow:
    """The flow a conversation assigned ``variant`` runs now: the variant's overlay while
    it runs, else the base flow (a stopped variant, or one the live version no longer
    declares)."""
    for candidate in running(flow):
        if candidate.name == variant:
            return overlay(flow, candidate)
    return flow

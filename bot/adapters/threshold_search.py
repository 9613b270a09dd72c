"""Choosing the sensitivity model's ``min_score`` per level on a development set.

Recall first: a message judged below its level is a compliance failure, a false alarm
costs a prospect a consent question. So among all combinations of minimum scores on a
grid, keep those under which at least ``target`` of the messages of every sensitive level
(identity, financial, advice and order, or the ``levels`` given) are judged at their
level or above, and of those take the one that gives the most messages exactly their
level, then the best precision over the sensitive predictions, then the highest
minimums. The rules' own level is part of every prediction: the model only has to catch
what they miss.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.domain.levels import Level

__all__ = ["GRID", "RECALL_LEVELS", "Choice", "DevItem", "choose_min_scores"]

_MODEL_LEVELS = (Level.IDENTITY, Level.FINANCIAL, Level.ADVICE, Level.ORDER)
RECALL_LEVELS = _MODEL_LEVELS
GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))


@dataclass(frozen=True)
class DevItem:
    """A labelled development message: its label, the rules' level, the model's scores."""

    label: Level
    rules: Level
    scores: Mapping[Level, float]


@dataclass(frozen=True)
class Choice:
    """The chosen minimums and the figures they give on the development set."""

    min_scores: dict[Level, float]
    recall: dict[Level, float]  # judged exactly at the level, of those labelled with it
    under: dict[Level, int]  # judged below their level, per label
    sensitive_precision: float
    accuracy: float
    meets_target: bool


def choose_min_scores(
    items: Sequence[DevItem],
    *,
    target: float = 0.98,
    levels: Sequence[Level] = RECALL_LEVELS,
    grid: Sequence[float] = GRID,
) -> Choice:
    """The best minimum scores for ``items`` (see the module's docstring)."""
    import numpy as np  # only this offline search needs numpy

    labels = np.array([int(i.label) for i in items])
    rules = np.array([int(i.rules) for i in items])
    scores = np.array([[i.scores.get(level, 0.0) for level in _MODEL_LEVELS] for i in items])
    # Levels the data has no message of cannot be held to a recall.
    labelled = {level: labels == level for level in levels if (labels == level).any()}
    support = {level: int(mask.sum()) for level, mask in labelled.items()}
    best: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    for combo in itertools.product(grid, repeat=len(_MODEL_LEVELS)):
        passed = scores >= np.array(combo)
        # The highest level whose score reaches its minimum (0 when none does).
        model = np.where(passed.any(axis=1), 4 - np.argmax(passed[:, ::-1], axis=1), 0)
        predicted = np.maximum(rules, model)
        caught = min(
            (
                float((mask & (predicted >= level)).sum()) / support[level]
                for level, mask in labelled.items()
            ),
            default=1.0,
        )
        exact = predicted == labels
        sensitive = predicted > 0
        precision = float((exact & sensitive).sum()) / max(int(sensitive.sum()), 1)
        ok = caught >= target
        key = (float(ok), 1.0 if ok else caught, float(exact.mean()), precision, *combo)
        if best is None or key > best[0]:
            best = (key, combo)
    assert best is not None
    chosen = dict(zip(_MODEL_LEVELS, best[1], strict=True))
    return _figures(items, chosen, target, levels)


def _figures(
    items: Sequence[DevItem], chosen: dict[Level, float], target: float, levels: Sequence[Level]
) -> Choice:
    predicted = []
    for item in items:
        model = max(
            (lv for lv in _MODEL_LEVELS if item.scores.get(lv, 0.0) >= chosen[lv]),
            default=Level.PUBLIC,
        )
        predicted.append(max(item.rules, model))
    recall, under, caught = {}, {}, {}
    for level in Level:
        labelled = [p for i, p in zip(items, predicted, strict=True) if i.label == level]
        recall[level] = sum(p == level for p in labelled) / len(labelled) if labelled else 0.0
        under[level] = sum(p < level for p in labelled)
        if labelled:
            caught[level] = 1 - under[level] / len(labelled)
    sensitive = [(i, p) for i, p in zip(items, predicted, strict=True) if p > Level.PUBLIC]
    precision = sum(i.label == p for i, p in sensitive) / len(sensitive) if sensitive else 0.0
    accuracy = sum(i.label == p for i, p in zip(items, predicted, strict=True)) / len(items)
    return Choice(
        chosen,
        recall,
        under,
        precision,
        accuracy,
        all(caught[level] >= target for level in levels if level in caught),
    )

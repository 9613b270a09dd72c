"""Choosing the model's minimum scores: recall first, then exactness."""

from __future__ import annotations

from bot.adapters.threshold_search import DevItem, choose_min_scores
from bot.domain.levels import Level

PUB, IDN = Level.PUBLIC, Level.IDENTITY
# A coarse grid keeps the search quick here; the command searches steps of 0.05.
GRID = tuple(round(0.1 * i, 1) for i in range(1, 10))


def item(label: Level, identity: float, rules: Level = PUB) -> DevItem:
    """A message whose model scores identity ``identity`` and nothing higher."""
    scores = {IDN: identity, Level.FINANCIAL: 0.0, Level.ADVICE: 0.0, Level.ORDER: 0.0}
    return DevItem(label, rules, scores)


def test_the_minimum_catches_enough_then_spares_public_messages() -> None:
    """The identity minimum is as high as it can be while catching 98% of identity."""
    items = [item(IDN, 0.6 + i / 1000) for i in range(50)]  # all identity score >= 0.6
    items += [item(PUB, 0.3 + i / 1000) for i in range(50)]  # public below 0.35
    choice = choose_min_scores(items, grid=GRID)
    assert choice.meets_target
    assert 0.3 < choice.min_scores[IDN] <= 0.6
    assert choice.under[IDN] == 0 and choice.accuracy == 1.0


def test_recall_wins_over_precision() -> None:
    """When catching identity means false alarms, the minimum still goes low enough."""
    items = [item(IDN, 0.2)] * 2 + [item(IDN, 0.9)] * 48 + [item(PUB, 0.5)] * 10
    choice = choose_min_scores(items, target=0.98, grid=GRID)
    assert choice.min_scores[IDN] <= 0.2
    assert choice.under[IDN] == 0
    assert choice.sensitive_precision < 1.0  # the public messages at 0.5 are false alarms


def test_what_the_rules_catch_needs_no_model() -> None:
    """Messages the rules already judge right leave the model's minimum high."""
    items = [item(IDN, 0.1, rules=IDN)] * 50 + [item(PUB, 0.5)] * 50
    choice = choose_min_scores(items, grid=GRID)
    assert choice.min_scores[IDN] > 0.5
    assert choice.accuracy == 1.0

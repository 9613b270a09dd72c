"""A/B variants: the overlay a variant makes and the stable, weighted assignment."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta

from bot.adapters.flow_files import DEFAULT_FLOW_PATH, load_flow
from bot.domain.flow_variants import assign, base_weight, effective, overlay
from bot.domain.flows import Flow, Variant
from bot.domain.levels import Level

BASE = load_flow(DEFAULT_FLOW_PATH)
SHORTER = Variant(
    "b",
    50,
    texts={
        "invite": {
            "en": "Here: {link}",
            "de": "Hier: {link}",
            "fr": "Ici : {link}",
            "es": "Aquí: {link}",
        }
    },
    responses={"utter_greet": {"en": "Hello!", "de": "Hallo!", "fr": "Salut !", "es": "¡Hola!"}},
    transition_at=Level.FINANCIAL,
    timers={"consent_reminder": timedelta(minutes=5)},
)


def with_variants(*variants: Variant, base: float | None = None) -> Flow:
    return dataclasses.replace(BASE, variants=variants, base_weight=base)


def test_the_overlay_words_and_times_what_the_variant_names_and_keeps_the_rest() -> None:
    flow = overlay(BASE, SHORTER)
    assert flow.text("invite", "de", link="https://x.example/1") == "Hier: https://x.example/1"
    assert flow.response("utter_greet", "fr") == "Salut !"
    assert flow.response("utter_goodbye", "en") == BASE.response("utter_goodbye", "en")
    assert flow.text("declined", "en") == BASE.text("declined", "en")
    assert flow.transition_at is Level.FINANCIAL
    assert flow.timers.consent_reminder == timedelta(minutes=5)
    assert flow.timers.invite_expiry == BASE.timers.invite_expiry
    assert flow.variant == "b"


def test_the_same_conversation_always_gets_the_same_variant() -> None:
    flow = with_variants(SHORTER)
    assert {assign(flow, "conv-42") for _ in range(5)} == {assign(flow, "conv-42")}


def test_conversations_split_by_weight() -> None:
    flow = with_variants(SHORTER, Variant("c", 150), base=100)
    counts = Counter(assign(flow, f"conv-{n}") for n in range(3000))
    assert abs(counts[None] / 3000 - 100 / 300) < 0.04
    assert abs(counts["b"] / 3000 - 50 / 300) < 0.04
    assert abs(counts["c"] / 3000 - 150 / 300) < 0.04


def test_without_base_weight_the_base_takes_the_variants_mean() -> None:
    flow = with_variants(SHORTER)
    assert base_weight(flow) == 50
    counts = Counter(assign(flow, f"conv-{n}") for n in range(2000))
    assert abs(counts[None] / 2000 - 0.5) < 0.04


def test_a_stopped_variant_gets_no_new_conversation_and_its_own_run_on_the_base() -> None:
    stopped = dataclasses.replace(SHORTER, stopped=True)
    flow = with_variants(stopped)
    assert {assign(flow, f"conv-{n}") for n in range(500)} == {None}
    assert effective(flow, "b") is flow
    assert effective(with_variants(SHORTER), "b").variant == "b"


def test_a_variant_the_flow_no_longer_declares_runs_the_base() -> None:
    assert effective(with_variants(SHORTER), "gone").variant is None

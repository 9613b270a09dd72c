"""A message's level: the higher of the NLU result and the flow's rules."""

from __future__ import annotations

import pytest

from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, load_flow
from bot.domain.flows import Flow
from bot.domain.levels import Level
from bot.domain.sensitivity import NluResult, assess


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)


def parse(intent: str, confidence: float, *ranking: tuple[str, float]) -> NluResult:
    top = {"name": intent, "confidence": confidence}
    ranked = [{"name": n, "confidence": c} for n, c in ranking] or [top]
    return NluResult.from_rasa({"intent": top, "entities": [], "intent_ranking": ranked})


def test_a_plain_question_is_public(flow: Flow) -> None:
    assert assess("what are your fees?", flow, nlu=parse("ask_fees", 0.97)).level is Level.PUBLIC


def test_a_confident_sensitive_intent_raises_the_level(flow: Flow) -> None:
    result = assess("it is about my pension pot", flow, nlu=parse("share_financial", 0.91))
    assert result.level is Level.FINANCIAL
    assert [e.source for e in result.evidence] == ["intent"]


def test_an_unsure_intent_below_the_flow_minimum_is_ignored(flow: Flow) -> None:
    nlu = parse("share_financial", flow.min_confidence - 0.05)
    assert assess("hmm", flow, nlu=nlu).level is Level.PUBLIC


def test_a_detector_wins_over_a_public_intent(flow: Flow) -> None:
    result = assess("DE89 3704 0044 0532 0130 00", flow, nlu=parse("greet", 0.99))
    assert result.level is Level.FINANCIAL
    assert result.evidence[0].name == "iban" and result.evidence[0].start == 0


def test_the_highest_evidence_decides_and_comes_first(flow: Flow) -> None:
    text = "Please buy 10 shares, my IBAN is DE89 3704 0044 0532 0130 00"
    result = assess(text, flow)
    assert result.level is Level.ORDER
    assert result.evidence[0].level is Level.ORDER
    assert {e.level for e in result.evidence} >= {Level.ORDER, Level.FINANCIAL}


def test_an_attachment_counts_at_the_flows_media_level(flow: Flow) -> None:
    result = assess("", flow, media_kinds=["image"])
    assert result.level is flow.media_level("image")
    assert result.evidence[0].source == "media"


def test_a_malformed_nlu_answer_counts_as_nothing_understood() -> None:
    assert NluResult.from_rasa({}) == NluResult(None, 0.0)

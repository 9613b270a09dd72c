"""A message's level: the highest of the NLU, the model, the flow's rules and the context."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, load_flow
from bot.domain.flows import Flow
from bot.domain.follow_ups import FollowUp
from bot.domain.levels import Level
from bot.domain.sensitivity import Context, NluResult, assess, too_long
from bot.domain.sensitivity_model import LevelScores
from tests.fakes.flows import flow_with_intents


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)


def parse(intent: str, confidence: float, *ranking: tuple[str, float]) -> NluResult:
    top = {"name": intent, "confidence": confidence}
    ranked = [{"name": n, "confidence": c} for n, c in ranking] or [top]
    return NluResult.from_rasa({"intent": top, "entities": [], "intent_ranking": ranked})


def test_a_plain_question_is_public(flow: Flow) -> None:
    assert assess("what are your fees?", flow, nlu=parse("ask_fees", 0.97)).level is Level.PUBLIC


def test_a_confident_sensitive_intent_raises_the_level(tmp_path: Path) -> None:
    """An intent the flow lists for a level counts, at its confidence."""
    flow = load_flow(flow_with_intents(tmp_path), DEFAULT_DOMAIN_PATH)
    result = assess("it is about my pension pot", flow, nlu=parse("share_financial", 0.91))
    assert result.level is Level.FINANCIAL
    assert [e.source for e in result.evidence] == ["intent"]


def test_an_unsure_intent_below_the_flow_minimum_is_ignored(tmp_path: Path) -> None:
    flow = load_flow(flow_with_intents(tmp_path), DEFAULT_DOMAIN_PATH)
    nlu = parse("share_financial", flow.min_confidence - 0.05)
    assert assess("hmm", flow, nlu=nlu).level is Level.PUBLIC
    sure = parse("share_financial", flow.min_confidence + 0.05)
    assert assess("hmm", flow, nlu=sure).level is Level.FINANCIAL


def test_the_default_flow_leaves_levels_to_the_model_not_rasas_intents(flow: Flow) -> None:
    """Measured: the intents only added false alarms next to the model, so none is listed."""
    assert flow.intent_levels() == {}
    assert assess("hmm", flow, nlu=parse("share_financial", 0.99)).level is Level.PUBLIC


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


def scores(**by_level: float) -> LevelScores:
    levels = {"identity": Level.IDENTITY, "financial": Level.FINANCIAL,
              "advice": Level.ADVICE, "order": Level.ORDER}  # fmt: skip
    return LevelScores("m", {levels[name]: value for name, value in by_level.items()})


def test_the_model_counts_at_the_highest_level_reaching_the_flows_min_score(flow: Flow) -> None:
    """Model evidence names the model, the whole text as its span and the score."""
    minimums = flow.min_scores()
    assert set(minimums) == {Level.IDENTITY, Level.FINANCIAL, Level.ADVICE, Level.ORDER}
    text = "born the day the wall fell"
    high = scores(identity=0.99, financial=minimums[Level.FINANCIAL] - 0.01, advice=0, order=0)
    result = assess(text, flow, scores=high)
    assert result.level is Level.IDENTITY
    (model,) = result.evidence
    assert (model.source, model.name, model.start, model.end) == (
        "model",
        "sensitivity_model",
        0,
        len(text),
    )
    assert model.confidence == 0.99
    assert result.as_dict()["model_scores"]["identity"] == 0.99


def test_scores_under_every_minimum_are_no_evidence_but_are_reported(flow: Flow) -> None:
    """Low scores leave the message public; the scores still appear in the answer."""
    result = assess("hello", flow, scores=scores(identity=0.01, financial=0, advice=0, order=0))
    assert (result.level, result.evidence) == (Level.PUBLIC, ())
    assert result.as_dict()["model_scores"] == {
        "identity": 0.01, "financial": 0.0, "advice": 0.0, "order": 0.0
    }  # fmt: skip


def test_a_follow_up_gets_at_least_the_level_it_follows(flow: Flow) -> None:
    """ "yes" after a financial message is financial, with context evidence."""
    result = assess("yes", flow, context=Context(FollowUp.CONFIRM, Level.FINANCIAL))
    assert result.level is Level.FINANCIAL
    assert [(e.source, e.name) for e in result.evidence] == [("context", "follow_up:confirm")]


def test_a_go_ahead_after_advice_is_an_order(flow: Flow) -> None:
    """ "do it" after a request for advice instructs the firm: order."""
    result = assess("do it", flow, context=Context(FollowUp.PROCEED, Level.ADVICE))
    assert result.level is Level.ORDER
    assert result.evidence[0].name == "follow_up:go_ahead_after_advice"
    confirm = assess("yes", flow, context=Context(FollowUp.CONFIRM, Level.ADVICE))
    assert confirm.level is Level.ADVICE


def test_the_models_reading_with_context_is_context_evidence(flow: Flow) -> None:
    """The model's score of follow-up plus context counts as context, without a span."""
    context = Context(FollowUp.PROCEED, Level.PUBLIC, scores(identity=1, financial=1,
                      advice=1, order=0.99))  # fmt: skip
    (evidence,) = assess("same as always", flow, context=context).evidence
    assert (evidence.source, evidence.name, evidence.level) == (
        "context",
        "sensitivity_model",
        Level.ORDER,
    )
    assert evidence.start is None


def test_what_a_conversation_must_react_to_leaves_out_repeated_context(flow: Flow) -> None:
    """Context at or below the level already reached is not new; above it, it is."""
    repeated = assess("yes", flow, context=Context(FollowUp.CONFIRM, Level.IDENTITY))
    assert repeated.level is Level.IDENTITY
    assert repeated.fresh_level(Level.IDENTITY) is Level.PUBLIC
    go_ahead = assess("do it", flow, context=Context(FollowUp.PROCEED, Level.ADVICE))
    assert go_ahead.fresh_level(Level.ADVICE) is Level.ORDER
    own = assess("DE89 3704 0044 0532 0130 00", flow)
    assert own.fresh_level(Level.ORDER) is Level.FINANCIAL


def test_an_answer_to_a_qualification_question_is_not_the_models_to_judge(flow: Flow) -> None:
    """The bot asked which language the prospect prefers; the model, which never saw such
    answers, reads "English please" as close to "buy please". The rules still run."""
    high = scores(identity=0, financial=0, advice=0, order=0.9)
    assert assess("English please", flow, scores=high, language="en").level == Level.PUBLIC
    assert assess("English please, buy 10 shares", flow, scores=high).level == Level.ORDER
    card = assess("Spain, my IBAN is ES91 2100 0418 4502 0005 1332", flow, scores=high)
    assert card.level == Level.ORDER  # the model still counts beyond the answer words
    assert any(e.name == "iban" for e in card.evidence)


def test_a_text_too_long_to_screen_counts_at_the_threshold_with_its_reason(
    tmp_path: Path,
) -> None:
    """Unscreened text is sensitive: at the flow's threshold (never forwarded), or at the
    level the flow gives attachments if higher, with "too_long" over the whole text."""
    default = load_flow(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    result = too_long(default, 5000)
    assert result.level is Level.IDENTITY is default.transition_at
    assert [e.as_dict() for e in result.evidence] == [
        {"source": "length", "name": "too_long", "level": "identity", "span": [0, 5000],
         "confidence": 1.0}
    ]  # fmt: skip
    text = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")
    later = tmp_path / "order.yml"
    later.write_text(text.replace("transition_at: identity", "transition_at: order"))
    assert too_long(load_flow(later, DEFAULT_DOMAIN_PATH), 5000).level is Level.ORDER

"""Screening with the learned sensitivity model and a follow-up's context, in the worker:
a real database and flow, the model passed through its port.

The context tests use a flow whose transition is at ``order``, so that a request for
advice still reaches the bot and what the follow-up after it says decides the move.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_FLOW_PATH
from bot.adapters.tables import Conversation, MessageClassification
from bot.domain.levels import Level
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeModel
from tests.integration.test_protocol import Stack

TERMS = "Before we go on"
# Only the model sees anything in these: no detector, keyword or pattern fires on them.
MODEL_PHRASES = {
    "the day the wall fell": {Level.IDENTITY: 0.93},
    "thinking of letting go of my tesla": {
        Level.IDENTITY: 0.97, Level.FINANCIAL: 0.95, Level.ADVICE: 0.91, Level.ORDER: 0.2
    },
}  # fmt: skip


def classifications(stack: Stack) -> list[tuple[str, list[dict[str, object]]]]:
    with stack.sessions() as s:
        rows = s.execute(
            select(MessageClassification.level, MessageClassification.evidence)
            .where(MessageClassification.conversation_id == stack.conversation_id)
            .order_by(MessageClassification.inbox_id)
        ).all()
    return [(level, json.loads(evidence)) for level, evidence in rows]


def flow_file(tmp_path: Path, transition_at: str) -> Path:
    """The default flow moving at ``transition_at``, with the model's minimum at 0.5 for
    every level, so these tests do not hang on the tuned values."""
    text = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")
    text = text.replace("transition_at: identity", f"transition_at: {transition_at}")
    text = re.sub(r"(?m)^(\s+min_score:) [0-9.]+$", r"\1 0.5", text)
    path = tmp_path / f"{transition_at}.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def identity_flow(tmp_path: Path) -> Path:
    return flow_file(tmp_path, "identity")


@pytest.fixture
def order_flow(tmp_path: Path) -> Path:
    return flow_file(tmp_path, "order")


def test_a_disclosure_only_the_model_sees_starts_the_protocol(
    sessions: SessionFactory, clock: FakeClock, identity_flow: Path
) -> None:
    """The model's score above the flow's min_score is evidence like any rule's: the
    message never reaches the bot, and the record names the model and its score."""
    stack = Stack(sessions, clock, flow=identity_flow, model=FakeModel(MODEL_PHRASES))
    replies = stack.say("I was born the day the wall fell, if that helps")
    assert any(TERMS in r for r in replies)
    assert stack.dialogue.calls == []
    ((level, evidence),) = classifications(stack)
    assert level == "identity"
    assert {"source": "model", "name": "sensitivity_model", "level": "identity",
            "span": [0, 47], "confidence": 0.93} in evidence  # fmt: skip


def test_a_score_below_the_flows_minimum_is_not_evidence(
    sessions: SessionFactory, clock: FakeClock, identity_flow: Path
) -> None:
    """A score under every min_score leaves the message public, forwarded to the bot."""
    weak = FakeModel({"the day the wall fell": {Level.IDENTITY: 0.2}})
    stack = Stack(sessions, clock, flow=identity_flow, model=weak)
    stack.say("I was born the day the wall fell, if that helps")
    assert len(stack.dialogue.calls) == 1
    assert classifications(stack) == [("public", [])]


def test_go_ahead_after_a_request_for_advice_is_an_order(
    sessions: SessionFactory, clock: FakeClock, order_flow: Path
) -> None:
    """ "yes, do it" after asking whether to sell is judged with that message: an order,
    so the move starts, and the evidence says it came from the context."""
    stack = Stack(sessions, clock, flow=order_flow, model=FakeModel(MODEL_PHRASES))
    stack.say("I'm thinking of letting go of my tesla, what do you reckon?")
    assert len(stack.dialogue.calls) == 1  # advice, below this flow's threshold
    replies = stack.say("yes, do it")
    assert any(TERMS in r for r in replies)
    assert len(stack.dialogue.calls) == 1
    _, (level, evidence) = classifications(stack)
    assert level == "order"
    names = {(e["source"], e["name"], e["level"]) for e in evidence}
    assert ("context", "follow_up:go_ahead_after_advice", "order") in names
    assert ("context", "follow_up:proceed", "advice") in names
    with sessions() as s:
        assert s.get_one(Conversation, stack.conversation_id).level == Level.ORDER.label


def test_the_same_follow_up_after_a_public_question_stays_public(
    sessions: SessionFactory, clock: FakeClock, order_flow: Path
) -> None:
    """ "yes, do it" after a question anyone could ask confirms nothing sensitive."""
    stack = Stack(sessions, clock, flow=order_flow, model=FakeModel(MODEL_PHRASES))
    stack.say("can I open a savings account online?")
    stack.say("yes, do it")
    assert [level for level, _ in classifications(stack)] == ["public", "public"]
    assert len(stack.dialogue.calls) == 2


def test_a_message_that_stands_on_its_own_is_judged_on_its_own(
    sessions: SessionFactory, clock: FakeClock, order_flow: Path
) -> None:
    """A full question after a request for advice does not take the advice's level."""
    stack = Stack(sessions, clock, flow=order_flow, model=FakeModel(MODEL_PHRASES))
    stack.say("I'm thinking of letting go of my tesla, what do you reckon?")
    stack.say("by the way, what time do you open on saturdays?")
    assert [level for level, _ in classifications(stack)] == ["advice", "public"]


def test_a_follow_up_long_after_the_previous_message_stands_on_its_own(
    sessions: SessionFactory, clock: FakeClock, order_flow: Path
) -> None:
    """The next day, "yes, do it" no longer refers to yesterday's question."""
    stack = Stack(sessions, clock, flow=order_flow, model=FakeModel(MODEL_PHRASES))
    stack.say("I'm thinking of letting go of my tesla, what do you reckon?")
    clock.advance(timedelta(days=1).total_seconds())
    stack.say("yes, do it")
    assert [level for level, _ in classifications(stack)] == ["advice", "public"]


def test_the_model_reads_a_follow_up_together_with_its_context(
    sessions: SessionFactory, clock: FakeClock, order_flow: Path
) -> None:
    """The model is asked about the follow-up alone and with the previous message."""
    model = FakeModel(MODEL_PHRASES)
    stack = Stack(sessions, clock, flow=order_flow, model=model)
    stack.say("can I open a savings account online?")
    stack.say("ok, do it")
    assert model.texts[-2:] == ["ok, do it", "can I open a savings account online?\nok, do it"]


def test_yes_to_the_consent_question_is_an_answer_not_a_new_disclosure(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """ "yes" right after a passport number follows it (and is recorded at its level),
    yet the protocol takes it as consent instead of warning about sensitive data."""
    stack = Stack(sessions, clock)
    stack.say("My passport number is C01X00T47")
    replies = stack.say("yes")
    assert any("/secure/invite/" in r for r in replies)
    assert [level for level, _ in classifications(stack)] == ["identity", "identity"]
    with sessions() as s:
        assert s.get_one(Conversation, stack.conversation_id).state == "invite_sent"


def test_a_consent_answer_stays_an_answer_whatever_the_model_reads_into_it(
    sessions: SessionFactory, clock: FakeClock, identity_flow: Path
) -> None:
    """Even a model that takes "ja" for an order cannot turn consent into a warning."""
    eager = FakeModel({"ja": {level: 0.99 for level in Level if level > Level.PUBLIC}})
    stack = Stack(sessions, clock, flow=identity_flow, model=eager)
    stack.say("Meine Passnummer ist C01X00T47")
    replies = stack.say("ja")
    assert any("/secure/invite/" in r for r in replies)
    with sessions() as s:
        assert s.get_one(Conversation, stack.conversation_id).state == "invite_sent"

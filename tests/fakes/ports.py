"""Fakes for the service layer's ports (bot.service_layer.ports)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Literal

from bot.domain.levels import Level
from bot.domain.sensitivity_model import LevelScores
from bot.service_layer.errors import IntegrationError, TransientError
from bot.service_layer.ports import BotReply, SentMessage
from integrations.twilio_history import ListedMessage


class FakeDialogue:
    """Answers "you said: <text>", or raises the queued errors first."""

    def __init__(self, answer: Callable[[str], list[str]] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.errors: list[IntegrationError] = []
        self._answer = answer or (lambda text: [f"you said: {text}"])

    def send_message(
        self, sender: str, text: str, metadata: dict[str, object] | None = None
    ) -> list[BotReply]:
        self.calls.append((sender, text))
        if self.errors:
            raise self.errors.pop(0)
        return [BotReply(text=t, buttons=(), image=None, custom=None) for t in self._answer(text)]


class FakeUnderstanding:
    """An NLU that understands every message as ``intent`` (rules decide the rest)."""

    def __init__(self, intent: str = "greet", confidence: float = 0.9) -> None:
        self.intent, self.confidence = intent, confidence
        self.texts: list[str] = []

    def parse(self, text: str) -> dict[str, object]:
        self.texts.append(text)
        top = {"name": self.intent, "confidence": self.confidence}
        return {"text": text, "intent": top, "entities": [], "intent_ranking": [top]}


class FakeModel:
    """A sensitivity model scoring by phrase: a text holding one of ``phrases`` gets its
    scores, anything else scores 0 for every level (the model never fires)."""

    def __init__(self, phrases: Mapping[str, Mapping[Level, float]] | None = None) -> None:
        self.phrases = dict(phrases or {})
        self.texts: list[str] = []

    def score(self, text: str) -> LevelScores:
        self.texts.append(text)
        found = next((s for p, s in self.phrases.items() if p in text.lower()), {})
        levels = (Level.IDENTITY, Level.FINANCIAL, Level.ADVICE, Level.ORDER)
        return LevelScores("fake", {level: found.get(level, 0.0) for level in levels})


class FakeSender:
    """Records what was sent; can fail, or "crash" after the provider took a message."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.sent: list[SentMessage] = []
        self.errors: list[IntegrationError] = []
        # Fail the next look-ups of what was sent, first to last.
        self.list_errors: list[IntegrationError] = []
        self.lose_response_once = False
        # (body, content_sid, content_variables) of every attempt, in order.
        self.templates: list[tuple[str, str | None, dict[str, str]]] = []
        self._now = now
        self._ids = itertools.count(1)

    def send(
        self,
        *,
        to: str,
        body: str,
        content_sid: str | None = None,
        content_variables: Mapping[str, str] | None = None,
    ) -> SentMessage:
        self.templates.append((body, content_sid, dict(content_variables or {})))
        if self.errors:
            raise self.errors.pop(0)
        msg = SentMessage(
            sid=f"SM{next(self._ids):032x}",
            status="queued",
            to=to,
            body=body,
            date_created=self._now(),
        )
        self.sent.append(msg)
        if self.lose_response_once:
            # The provider created the message but the answer never reached us.
            self.lose_response_once = False
            err = TransientError("twilio", "read timed out")
            err.ambiguous = True
            raise err
        return msg

    def list_sent(self, *, to: str, since: datetime) -> list[SentMessage]:
        if self.list_errors:
            raise self.list_errors.pop(0)
        return [m for m in self.sent if m.to == to and (m.date_created or since) >= since]

    def bodies_to(self, to: str) -> list[str]:
        return [m.body for m in self.sent if m.to == to]


class FakeMessageHistory:
    """The provider's message list, held in memory: ``messages`` are what it knows,
    ``errors`` fail the next listings first."""

    def __init__(self, business_number: str = "whatsapp:+12025550100") -> None:
        self.business_number = business_number
        self.messages: list[ListedMessage] = []
        self.errors: list[IntegrationError] = []
        self.lookups: list[str] = []
        self._ids = itertools.count(1)

    def add(
        self,
        counterpart: str,
        direction: Literal["inbound", "outbound"],
        date_sent: datetime | None,
        *,
        sid: str | None = None,
        status: str | None = None,
    ) -> ListedMessage:
        """A message the provider holds, between the business and ``counterpart``."""
        inbound = direction == "inbound"
        message = ListedMessage(
            sid=sid or f"SM{next(self._ids):032x}",
            direction=direction,
            from_=counterpart if inbound else self.business_number,
            to=self.business_number if inbound else counterpart,
            date_sent=date_sent,
            status=status or ("received" if inbound else "delivered"),
        )
        self.messages.append(message)
        return message

    def sent_between(self, start: datetime, end: datetime) -> list[ListedMessage]:
        if self.errors:
            raise self.errors.pop(0)
        return [m for m in self.messages if m.date_sent is not None and start <= m.date_sent < end]

    def lookup(self, sid: str) -> ListedMessage | None:
        self.lookups.append(sid)
        return next((m for m in self.messages if m.sid == sid), None)


class RecordingMetrics:
    """Keeps every figure reported through the ``Metrics`` port, in order."""

    def __init__(self) -> None:
        self.reported: list[tuple[str, tuple[object, ...]]] = []

    def _keep(self, name: str, *args: object) -> None:
        self.reported.append((name, args))

    def inbound(self, outcome: str) -> None:
        self._keep("inbound", outcome)

    def outbound(self, status: str, error_code: str) -> None:
        self._keep("outbound", status, error_code)

    def reply_latency(self, seconds: float) -> None:
        self._keep("reply_latency", seconds)

    def rasa_request(self, call: str, seconds: float) -> None:
        self._keep("rasa_request", call, seconds)

    def classified(self, level: str) -> None:
        self._keep("classified", level)

    def transition(self, step: str) -> None:
        self._keep("transition", step)

    def timer_lag(self, seconds: float) -> None:
        self._keep("timer_lag", seconds)

    def sla_breach(self) -> None:
        self._keep("sla_breach")

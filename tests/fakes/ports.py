"""Fakes for the service layer's ports (bot.service_layer.ports)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime

from integrations.errors import IntegrationError, TransientError
from integrations.rasa import BotReply
from integrations.twilio_whatsapp import SentMessage


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


class FakeSender:
    """Records what was sent; can fail, or "crash" after the provider took a message."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.sent: list[SentMessage] = []
        self.errors: list[IntegrationError] = []
        self.lose_response_once = False
        self._now = now
        self._ids = itertools.count(1)

    def send(self, *, to: str, body: str) -> SentMessage:
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
            err.ambiguous = True  # type: ignore[attr-defined]
            raise err
        return msg

    def list_sent(self, *, to: str, since: datetime) -> list[SentMessage]:
        return [m for m in self.sent if m.to == to and (m.date_created or since) >= since]

    def bodies_to(self, to: str) -> list[str]:
        return [m.body for m in self.sent if m.to == to]

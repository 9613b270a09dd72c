"""The service layer's view of the outside world. Adapters in `integrations/`
satisfy these; tests pass fakes through the same seams."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from integrations.rasa import BotReply
from integrations.twilio_whatsapp import SentMessage

__all__ = ["BotReply", "Clock", "Dialogue", "MessageSender", "SentMessage", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Dialogue(Protocol):
    """The bot that answers a prospect (Rasa's REST channel in production)."""

    def send_message(
        self, sender: str, text: str, metadata: dict[str, object] | None = None
    ) -> list[BotReply]: ...


class MessageSender(Protocol):
    """The WhatsApp sender (Twilio's Messages API in production)."""

    def send(self, *, to: str, body: str) -> SentMessage: ...

    def list_sent(self, *, to: str, since: datetime) -> list[SentMessage]: ...

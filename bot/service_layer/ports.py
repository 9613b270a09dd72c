"""The service layer's view of the outside world, and the types that cross it.

The adapters to the outside world satisfy these protocols and return these types (the
errors they raise are in ``bot.service_layer.errors``), so the service layer never
depends on an adapter; tests pass fakes through the same seams.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.domain.flows import Flow
from bot.domain.reconciliation import Direction
from bot.domain.sensitivity_model import LevelScores

__all__ = [
    "BotReply",
    "Clock",
    "ContentTemplates",
    "Dialogue",
    "ExternalInvite",
    "FetchedMedia",
    "FlowSource",
    "MediaFetcher",
    "MessageHistory",
    "MessageSender",
    "Metrics",
    "NoMetrics",
    "ProviderMessage",
    "SensitivityScorer",
    "SentMessage",
    "SystemClock",
    "Understanding",
]


@dataclass(frozen=True)
class BotReply:
    """One message of the bot's answer; buttons are (title, payload) pairs."""

    text: str | None = None
    buttons: tuple[tuple[str, str], ...] = ()
    image: str | None = None
    custom: dict[str, Any] | None = None


@dataclass(frozen=True)
class SentMessage:
    """A message as the WhatsApp provider reports it; ``date_created`` is UTC, to the second."""

    sid: str
    status: str | None
    to: str
    body: str
    date_created: datetime | None


@dataclass(frozen=True)
class FetchedMedia:
    """The bytes of one media item and the Content-Type they were served with."""

    content: bytes
    content_type: str | None


@dataclass(frozen=True)
class ExternalInvite:
    """An invite made at the secure messenger: its id there, the link for the prospect,
    its expiry."""

    external_id: str
    link: str
    expires_at: datetime


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


class Understanding(Protocol):
    """The NLU alone, without a dialogue turn (Rasa's ``/model/parse`` in production)."""

    def parse(self, text: str) -> dict[str, Any]: ...


class SensitivityScorer(Protocol):
    """The learned sensitivity model (``bot.domain.sensitivity_model`` in production)."""

    def score(self, text: str) -> LevelScores: ...


class FlowSource(Protocol):
    """The flow in force now: the live flow version (``bot.adapters.flow_version_store``)
    or, for tools without a database, the flow file itself."""

    def current(self) -> Flow:
        """The base flow, without a variant."""
        ...

    def for_conversation(self, conversation_id: str, variant: str | None) -> Flow:
        """The flow a conversation assigned ``variant`` (its recorded one; None: the base
        flow) runs now: the variant's overlay while the variant runs, else the base flow.
        The result's ``version_id`` and ``variant`` name what it is."""
        ...


class MessageSender(Protocol):
    """The WhatsApp sender (Twilio's Messages API in production)."""

    def send(
        self,
        *,
        to: str,
        body: str,
        content_sid: str | None = None,
        content_variables: Mapping[str, str] | None = None,
    ) -> SentMessage: ...

    def list_sent(self, *, to: str, since: datetime) -> list[SentMessage]: ...


class ContentTemplates(Protocol):
    """WhatsApp message templates with buttons (Twilio's Content API in production)."""

    def ensure_quick_reply(
        self, friendly_name: str, language: str, buttons: Sequence[tuple[str, str]]
    ) -> str: ...


class MediaFetcher(Protocol):
    """Downloads an attachment with the account's credentials."""

    def fetch(self, url: str) -> FetchedMedia: ...


class ProviderMessage(Protocol):
    """One message as the provider holds it (read-only: adapters return frozen records)."""

    @property
    def sid(self) -> str: ...

    @property
    def direction(self) -> Direction: ...

    @property
    def from_(self) -> str: ...

    @property
    def to(self) -> str: ...

    @property
    def date_sent(self) -> datetime | None: ...

    @property
    def status(self) -> str | None: ...


class MessageHistory(Protocol):
    """The provider's own record of the business number's messages, in both directions
    (Twilio's Messages list in production), against which gangway's records are checked."""

    def sent_between(self, start: datetime, end: datetime) -> Iterable[ProviderMessage]:
        """Every message to or from the business number whose send date is in
        [start, end) (a provider keeping coarser times may round the range outwards).
        A message not sent yet has no send date and is not among them."""
        ...

    def lookup(self, sid: str) -> ProviderMessage | None:
        """The message with this sid, or None when the provider does not know it."""
        ...


class Metrics(Protocol):
    """What the service counts and times as it works (Prometheus in production; see
    ``bot.adapters.prometheus_metrics``). Labels are small fixed vocabularies: never a
    number, a body or a conversation id.

    Figures that are facts in the database (backlogs, open handoffs, failed rows) are
    not reported here: they are read from the database when the figures are asked for.

    Work is counted where it is recorded, mostly inside its transaction: one that then
    fails to commit (a lost connection, a deadlock) and is done again counts twice. For
    monitoring that is close enough; the records themselves are exact.
    """

    def inbound(self, outcome: str) -> None:
        """An inbound message's outcome: forwarded, withheld, opted_out, duplicate, failed."""
        ...

    def outbound(self, status: str, error_code: str) -> None:
        """An outbound message reached ``status`` (the provider's), with its error code or ""."""
        ...

    def reply_latency(self, seconds: float) -> None:
        """From a prospect's message reaching the webhook to the first message answering
        it being handed to the provider."""
        ...

    def rasa_request(self, call: str, seconds: float) -> None:
        """One request to Rasa: ``call`` is dialogue or nlu."""
        ...

    def classified(self, level: str) -> None: ...

    def transition(self, step: str) -> None:
        """A step of the protocol: the name of the chart event it recorded."""
        ...

    def timer_lag(self, seconds: float) -> None:
        """How long after its due time a timer fired."""
        ...

    def sla_breach(self) -> None:
        """A handoff went unclaimed past its SLA and was escalated."""
        ...


class NoMetrics:
    """Counts nothing: for the tools and tests that do not look at the figures."""

    def inbound(self, outcome: str) -> None:
        pass

    def outbound(self, status: str, error_code: str) -> None:
        pass

    def reply_latency(self, seconds: float) -> None:
        pass

    def rasa_request(self, call: str, seconds: float) -> None:
        pass

    def classified(self, level: str) -> None:
        pass

    def transition(self, step: str) -> None:
        pass

    def timer_lag(self, seconds: float) -> None:
        pass

    def sla_breach(self) -> None:
        pass

"""Screening a message before the bot sees it: its language, attachments and level,
the statechart's decision, and every effect of that decision.

It comes in two halves so that a turn of the conversation holds no transaction
while it waits on the network: ``assess`` fetches the attachments and classifies
the message (which may ask Rasa's NLU) and decides on the conversation as the turn
read it, touching no database; ``record`` then writes the classification row, the
decision and its effects in the caller's transaction. Because they commit together,
a retry after a crash either redoes all of it or finds it done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.tables import Conversation, InboxMessage, MediaItem, MessageClassification
from bot.adapters.vault import vault_of
from bot.domain.commands import parse_command
from bot.domain.conversation_chart import ConversationChart, ConversationModel
from bot.domain.flows import Flow
from bot.domain.follow_ups import PREVIOUS_MESSAGES, PREVIOUS_WITHIN
from bot.domain.inbound_media import AnnouncedMedia, media_items
from bot.domain.levels import Level
from bot.domain.protocol import Inbound, decide
from bot.domain.redaction import redact
from bot.domain.sensitivity import Assessment, too_long
from bot.service_layer.classification import Classifier, Previous
from bot.service_layer.errors import IntegrationError, PermanentError
from bot.service_layer.media_files import seal_media
from bot.service_layer.ports import (
    Clock,
    ContentTemplates,
    FetchedMedia,
    FlowSource,
    MediaFetcher,
    Metrics,
    NoMetrics,
)
from bot.service_layer.transition import (
    Effects,
    Handover,
    InviteSettings,
    chart_model,
    save_model,
)

__all__ = ["Assessed", "Screening", "Unscreened"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unscreened:
    """An inbound message as a turn read it, with what screening needs to know of its
    conversation: the language so far, the chart's state, and the prospect's messages
    just before it (oldest first) that a follow-up may refer to."""

    conversation_id: str
    msg_id: int
    sid: str
    body: str
    params_json: str
    language: str | None
    chart: ConversationModel
    previous: tuple[Previous, ...]
    # The flow this turn runs (the conversation's version and variant); None: the base
    # flow in force.
    flow: Flow | None = None


@dataclass(frozen=True)
class Assessed:
    """What ``assess`` found, for ``record`` to write. ``forward`` is the decision on the
    conversation as the turn read it; ``record`` decides again on the conversation as it
    is when it writes."""

    message: Unscreened
    flow: Flow
    language: str
    assessment: Assessment
    inbound: Inbound
    media: tuple[AnnouncedMedia, ...]
    fetched: tuple[FetchedMedia | IntegrationError | None, ...]
    forward: bool
    assessed_at: datetime


@dataclass(frozen=True)
class Screening:
    """What gangway needs to screen each message before the bot sees it: the classifier,
    the flow, and what the transition protocol's effects need."""

    classifier: Classifier
    flows: FlowSource
    invites: InviteSettings
    media: MediaFetcher | None = None
    templates: ContentTemplates | None = None
    handover: Handover | None = None
    # Longer texts are recorded but not screened: ``too_long`` says why they count as
    # sensitive, and they never reach Rasa (neither its NLU nor its dialogue).
    max_chars: int = 4096
    metrics: Metrics = dataclasses.field(default_factory=NoMetrics)

    def previous(self, s: Session, msg: InboxMessage, body: str) -> tuple[Previous, ...]:
        """The messages before ``msg`` that ``assess`` judges it with (none for a text too
        long to screen)."""
        if len(body) > self.max_chars:
            return ()
        return tuple(_previous(s, msg))

    def assess(self, message: Unscreened, clock: Clock) -> Assessed:
        """Fetch the attachments, classify the message and decide; no database.

        Errors of the NLU propagate; a transient error fetching an attachment too (the
        message waits and is screened again).
        """
        params = json.loads(message.params_json)
        items = tuple(media_items(params))
        fetched = tuple(self._fetch(item.url) if item.url else None for item in items)
        flow = message.flow or self.flows.current()
        body = message.body
        unscreened = len(body) > self.max_chars
        if unscreened:
            language = message.language or flow.default_language
            assessment = too_long(flow, len(body))
        else:
            language = self.classifier.language_of(body, message.language)
            assessment = self.classifier.classify(
                body,
                language=language,
                media_kinds=[item.kind for item in items],
                previous=message.previous,
            )
        inbound = Inbound(
            body,
            assessment,
            command=None if unscreened else parse_command(body),
            button_payload=params.get("ButtonPayload") or None,
            media_kinds=tuple(item.kind for item in items),
            reentry=self.invites.external_provider is None,
        )
        # A copy: the chart records its events on the model it drives.
        model = dataclasses.replace(message.chart, events=[])
        forward = decide(model, flow, inbound).forward
        return Assessed(
            message, flow, language, assessment, inbound, items, fetched, forward, clock.now()
        )

    def record(self, s: Session, assessed: Assessed) -> bool | None:
        """Decide on the conversation as it is now and record it all in ``s``; True when
        the message may go to Rasa, None when it was recorded already (nothing written).

        A message that does not go to Rasa is done here, in the same transaction.
        """
        message = assessed.message
        msg_id, conversation_id = message.msg_id, message.conversation_id
        now = assessed.assessed_at
        msg = s.get_one(InboxMessage, msg_id)
        done = s.execute(
            select(MessageClassification.forwarded).where(MessageClassification.inbox_id == msg_id)
        ).scalar_one_or_none()
        if msg.status != "pending" or done is not None:
            return None
        conv = s.get_one(Conversation, conversation_id)
        conv.language = assessed.language
        for idx, (item, result) in enumerate(zip(assessed.media, assessed.fetched, strict=True)):
            s.add(_media_row(s, msg, idx, item.kind, item.content_type, item.url, result, now))
        model = chart_model(conv)
        flow, assessment = assessed.flow, assessed.assessment
        decision = decide(model, flow, assessed.inbound)
        save_model(conv, model)
        evidence = [e.as_dict() for e in assessment.evidence]
        s.add(
            MessageClassification(
                inbox_id=msg_id,
                conversation_id=conversation_id,
                level=assessment.level.label,
                evidence=json.dumps(evidence),
                language=assessed.language,
                intent=assessment.intent,
                forwarded=decision.forward,
                classified_at=now,
            )
        )
        audit_log.append(
            s,
            kind="inbound_classified",
            conversation_id=conversation_id,
            payload={
                "message_sid": message.sid,
                "level": assessment.level.label,
                "evidence": evidence,
                "language": assessed.language,
                "forwarded": decision.forward,
                "state": conv.state,
                "conversation_level": conv.level,
            },
            now=now,
        )
        log.info(
            "inbox %s: %s, %s; conversation now %s at %s",
            message.sid,
            assessment.level.label,
            "to Rasa" if decision.forward else "withheld from Rasa",
            conv.state,
            conv.level,
        )
        effects = Effects(
            s,
            conv,
            flow,
            now,
            self.invites,
            inbox_id=msg_id,
            message_sid=message.sid,
            handover=self.handover,
        )
        effects.apply(model.events)
        for key in decision.texts:
            effects.send_text(key)
        if not decision.forward:
            msg.status = "done"
            msg.processed_at = now
            msg.last_error = None
            conv.holding_sent_at = None
        self.metrics.classified(assessment.level.label)
        self.metrics.inbound(_outcome(decision.forward, conv.state))
        return decision.forward

    def _fetch(self, url: str) -> FetchedMedia | IntegrationError | None:
        """The attachment's bytes, or the permanent error that kept them (recorded on the
        item). A transient error propagates: the message waits and is screened again."""
        if self.media is None:
            return None
        try:
            return self.media.fetch(url)
        except PermanentError as exc:
            log.warning("an attachment could not be fetched: %s", redact(repr(exc)))
            return exc


def _outcome(forwarded: bool, state: str | None) -> str:
    """What came of a screened message, as ``Metrics.inbound`` counts it."""
    if forwarded:
        return "forwarded"
    return "opted_out" if state == ConversationChart.opted_out.id else "withheld"


def _previous(s: Session, msg: InboxMessage) -> list[Previous]:
    """The prospect's messages just before ``msg`` (oldest first) that a follow-up may
    refer to: at most PREVIOUS_MESSAGES, received within PREVIOUS_WITHIN of it."""
    conversation_id, msg_id, received = msg.conversation_id, msg.id, msg.received_at
    rows = s.execute(
        select(InboxMessage.body, MessageClassification.level)
        .join(MessageClassification, MessageClassification.inbox_id == InboxMessage.id)
        .where(
            InboxMessage.conversation_id == conversation_id,
            InboxMessage.id < msg_id,
            InboxMessage.received_at >= received - PREVIOUS_WITHIN,
        )
        .order_by(InboxMessage.id.desc())
        .limit(PREVIOUS_MESSAGES)
    ).all()
    vault = vault_of(s)
    bodies = [(vault.read(s, conversation_id, "body", b), level) for b, level in reversed(rows)]
    return [Previous(body, Level.parse(level)) for body, level in bodies if body.strip()]


def _media_row(
    s: Session,
    msg: InboxMessage,
    idx: int,
    kind: str,
    content_type: str | None,
    url: str,
    result: FetchedMedia | IntegrationError | None,
    now: datetime,
) -> MediaItem:
    vault = vault_of(s)
    conv_id = msg.conversation_id
    row = MediaItem(
        inbox_id=msg.id,
        conversation_id=conv_id,
        idx=idx,
        kind=kind,
        content_type=content_type,
        provider_url=vault.seal(s, conv_id, "media_url", url) if url else None,
        attempts=0 if result is None else 1,
    )
    if isinstance(result, FetchedMedia):
        row.status = "stored"
        row.data = seal_media(s, conv_id, msg.id, idx, result.content)
        row.size = len(result.content)
        row.sha256 = hashlib.sha256(result.content).hexdigest()
        row.content_type = result.content_type or content_type
        row.fetched_at = now
    elif isinstance(result, IntegrationError):
        row.status = "failed"
        row.last_error = redact(result.message)
    else:
        # A location has no file (its coordinates are in the message); without a
        # fetcher nothing can be downloaded.
        row.status = "recorded" if not url else "pending"
    return row

"""Recording a prospect's qualification answers, as the bot's form collects them.

The bot (a Rasa form) posts every message it gets while qualifying, with Rasa's intent
and the question it asked last; gangway reads the answers (``bot.domain.qualification``),
keeps them itself, sealed, and tells the bot what is still to ask. A later answer
replaces an earlier one: that is how a prospect changes their mind. Each change is an
audit record naming the slots (the values only in its sealed content) and raises the
row's revision; once every question is answered or skipped, and again at each change
after that, the CRM gets the lead (``lead.qualified``), whether or not the prospect ever
reaches the secure channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.tables import Conversation, CrmDelivery, Handoff
from bot.adapters.tables import Qualification as QualificationRow
from bot.adapters.vault import vault_of
from bot.domain.audit import canonical_json
from bot.domain.conversation_chart import ConversationChart
from bot.domain.flows import Flow
from bot.domain.phone_country import country_of
from bot.domain.qualification import Qualification, is_complete, next_question, parse_answers
from bot.service_layer import crm_outbox

__all__ = [
    "LEAD_EVENT",
    "ConversationClosed",
    "NoQuestions",
    "QualificationError",
    "QualificationOutcome",
    "UnknownConversation",
    "UnknownSlot",
    "forget_answers",
    "number_country",
    "qualification_of",
    "qualification_state",
    "record_answer",
]

LEAD_EVENT = "lead.qualified"
_FIELD = "qualification"


class QualificationError(Exception):
    """A refused request; the message is plain words for the caller."""

    status = 400


class UnknownConversation(QualificationError):
    status = 404


class ConversationClosed(QualificationError):
    """Opted out or erased: nothing more is kept about the prospect."""

    status = 409


class NoQuestions(QualificationError):
    """The flow in force has no ``qualification`` section."""

    status = 409


class UnknownSlot(QualificationError):
    status = 422


@dataclass(frozen=True)
class QualificationOutcome:
    answers: dict[str, str | None]  # every question's slot: its answer, "skipped" or None
    next: str | None  # the first question still open, in flow order; None when done
    complete: bool
    changed: list[str] = field(default_factory=list)  # slots this message set or changed
    refused_skip: bool = False  # a required question was "skipped": say why it is needed

    def as_dict(self) -> dict[str, Any]:
        return {
            "answers": self.answers,
            "changed": self.changed,
            "next": self.next,
            "complete": self.complete,
            "refused_skip": self.refused_skip,
        }


def _questions(flow: Flow) -> Qualification:
    if flow.qualification is None:
        raise NoQuestions(f"the flow {flow.name!r} asks no qualification questions")
    return flow.qualification


def _conversation(session: Session, conversation_id: str, *, lock: bool) -> Conversation:
    # Locked while answering: two messages of one prospect must not both start the row.
    conv = session.get(Conversation, conversation_id, with_for_update=lock)
    if conv is None:
        raise UnknownConversation(f"no conversation {conversation_id!r}")
    if conv.erased_at is not None:
        raise ConversationClosed("the conversation was erased; nothing more is kept about it")
    if conv.state == ConversationChart.opted_out.id:
        raise ConversationClosed("the prospect opted out (STOP); nothing more is asked")
    return conv


def _stored(session: Session, row: QualificationRow | None) -> dict[str, str] | None:
    if row is None:
        return {}
    text = vault_of(session).open(session, row.conversation_id, _FIELD, row.answers)
    return None if text is None else dict(json.loads(text))


def number_country(session: Session, conv: Conversation) -> str | None:
    """The ISO code of the country of the prospect's WhatsApp number, if it can be told."""
    if conv.number_sealed is None:
        return None
    number = vault_of(session).open(session, conv.id, "number", conv.number_sealed)
    return None if number is None else country_of(number)


def _outcome(
    q: Qualification, stored: dict[str, str], changed: list[str], refused: bool
) -> QualificationOutcome:
    answers = {slot: stored.get(slot) for slot in q.slots}
    return QualificationOutcome(
        answers, next_question(q, answers), is_complete(q, answers), changed, refused
    )


def record_answer(
    session: Session,
    conversation_id: str,
    text: str,
    intent: str | None,
    requested_slot: str | None,
    flow: Flow,
    now: datetime,
    *,
    crm: bool = True,
) -> QualificationOutcome:
    """Read the answers in one message, keep them and say what is still to ask.

    ``crm``: whether a CRM is configured (without one no lead is queued: see
    ``handoff_events``). Raises UnknownConversation, ConversationClosed (opted out,
    erased), NoQuestions or UnknownSlot (``requested_slot`` is no question of the flow).
    """
    q = _questions(flow)
    if requested_slot is not None and requested_slot not in q.slots:
        raise UnknownSlot(
            f"`{requested_slot}` is not a question of the flow; "
            f"use one of {', '.join(q.slots)} or null"
        )
    conv = _conversation(session, conversation_id, lock=True)
    row = session.get(QualificationRow, conversation_id)
    stored = _stored(session, row)
    if stored is None:  # sealed under a key destroyed meanwhile: treated as erased
        raise ConversationClosed("the conversation was erased; nothing more is kept about it")
    language = conv.language or flow.default_language
    parsed = parse_answers(q, text, language, intent, requested_slot, number_country(session, conv))
    changed = [s for s in q.slots if s in parsed.answers and stored.get(s) != parsed.answers[s]]
    if not changed:
        return _outcome(q, stored, [], parsed.refused_skip)
    merged = {**stored, **{s: parsed.answers[s] for s in changed}}
    sealed = vault_of(session).seal(session, conversation_id, _FIELD, json.dumps(merged))
    if row is None:
        row = QualificationRow(conversation_id=conversation_id, revision=0)
        session.add(row)
    row.answers, row.revision, row.updated_at = sealed, row.revision + 1, now
    outcome = _outcome(q, merged, changed, parsed.refused_skip)
    if outcome.complete and row.completed_at is None:
        row.completed_at = now
    audit_log.append(
        session,
        kind="qualification_answered",
        conversation_id=conversation_id,
        payload={"slots": changed, "revision": row.revision, "complete": outcome.complete},
        now=now,
        content={"answers": {s: merged[s] for s in changed}},
    )
    if outcome.complete and crm:
        crm_outbox.enqueue(
            session,
            event=LEAD_EVENT,
            handoff_id=None,
            data={
                "conversation_id": conversation_id,
                "answers": outcome.answers,
                "language": conv.language,
                "revision": row.revision,
                "flow": flow.name,
            },
            now=now,
        )
    return outcome


def qualification_state(session: Session, conversation_id: str, flow: Flow) -> QualificationOutcome:
    """The answers so far and the next question, changing nothing."""
    q = _questions(flow)
    _conversation(session, conversation_id, lock=False)
    stored = _stored(session, session.get(QualificationRow, conversation_id))
    if stored is None:
        raise ConversationClosed("the conversation was erased; nothing more is kept about it")
    return _outcome(q, stored, [], False)


def qualification_of(session: Session, conversation_id: str) -> dict[str, Any] | None:
    """What the prospect answered, for others to read: ``{"answers": {slot: value},
    "complete": bool, "revision": int}`` (answered slots only; "skipped" for a skipped
    one); None when nothing was answered or the conversation was erased."""
    row = session.get(QualificationRow, conversation_id)
    stored = _stored(session, row)
    if row is None or not stored:
        return None
    return {
        "answers": stored,
        "complete": row.completed_at is not None,
        "revision": row.revision,
    }


def forget_answers(session: Session, conversation_id: str) -> int:
    """Erasure: the answers kept in clear outside their sealed row (the handoff summaries
    and the CRM outbox's leads) are removed, and a lead not yet delivered is cancelled.
    The number of rows changed."""
    changed = 0
    for handoff in session.scalars(
        select(Handoff).where(Handoff.conversation_id == conversation_id)
    ):
        summary = json.loads(handoff.summary or "{}")
        if isinstance(summary, dict) and summary.get("qualification") is not None:
            handoff.summary = json.dumps({**summary, "qualification": None})
            changed += 1
    # The payload is canonical JSON, so the conversation's id appears in it exactly so.
    named = '"conversation_id":' + json.dumps(conversation_id)
    leads = session.scalars(
        select(CrmDelivery).where(
            CrmDelivery.event == LEAD_EVENT, CrmDelivery.payload.contains(named)
        )
    )
    for row in leads:
        body = json.loads(row.payload)
        body["data"] = {**body.get("data", {}), "answers": None}
        row.payload = canonical_json(body)
        if row.status == "pending":
            row.status = "cancelled"
            row.last_error = "the conversation was erased before the lead was delivered"
        changed += 1
    return changed

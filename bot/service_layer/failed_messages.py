"""Failed messages, both ways: replies to prospects (the outbox) and prospects'
messages that could not be answered (the inbox), listed and put back to be done.

What a retry means for the prospect decides whether one is allowed:

- A free-form message cannot go out once WhatsApp's 24-hour window has closed
  (``bot.domain.whatsapp_window``): it would fail again with Twilio's 63016. Such a
  retry is refused until the prospect writes again; an advisor can meanwhile send the
  flow's approved follow-up template from the handoff page.
- Nothing but the opt-out confirmation goes to a prospect who opted out, nothing at all
  to an erased conversation, and a message whose secure-channel link is spent would be
  cancelled as it is sent: those retries are refused too, with the reason. So is a
  "one moment" holding message once the message it was for is no longer waiting.
- A retried reply goes out after the messages sent since it failed; a retried
  prospect's message is answered after those that came later. Its screening is not done
  again once recorded, and its replies can be recorded only once (the outbox's unique
  source), so a message that failed after the bot saw it is not answered twice.
- An advisor's reply is refused once the conversation reached the flow's threshold, as
  a new one would be: from there the advisor continues in the secure channel.
- A resent reply gets a new provider id; the failed attempt's is kept in the audit
  record of the retry.

Each retry locks the conversation's row before the message's, the order every
transaction touching a conversation takes its locks in, ahead of the audit log's head.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.tables import Conversation, InboxMessage, Invite, OutboxMessage
from bot.domain.conversation_chart import ConversationChart
from bot.domain.flow_variants import effective
from bot.domain.flows import Flow
from bot.domain.whatsapp_window import failure_reason, free_form_allowed, window_closes_at
from bot.service_layer.failed_items import (
    FAILED_STATUSES,
    FailedItem,
    NoSuchItem,
    NotRetryable,
    Operator,
    not_failed,
    record_retry,
)
from bot.service_layer.handoffs import ADVISOR_REPLY_KIND, reply_refusal
from bot.service_layer.transition import OPT_OUT_KIND

__all__ = ["inbox_items", "outbox_items", "retry_inbox", "retry_outbox"]

# The "one moment" message the worker sends a prospect kept waiting (processing).
HOLDING_KIND = "holding"


# -- outbox ---------------------------------------------------------------------------


def _outbox_refusal(
    s: Session, row: OutboxMessage, conv: Conversation, now: datetime, flow: Flow
) -> str | None:
    if row.status not in FAILED_STATUSES["outbox"]:
        return not_failed("outbox message", row.id, row.status)
    if conv.erased_at is not None:
        return f"conversation {conv.id} was erased: nothing can be sent to it"
    if row.kind == ADVISOR_REPLY_KIND:
        above = reply_refusal(conv, effective(flow, conv.variant).transition_at)
        if above is not None:
            return above
    if conv.state == ConversationChart.opted_out.id and row.kind != OPT_OUT_KIND:
        return "the prospect opted out (STOP): nothing may be sent to them on WhatsApp"
    if row.content_sid is None and not free_form_allowed(conv.last_inbound_at, now):
        closes = window_closes_at(conv.last_inbound_at)
        if closes is None:
            return (
                "the prospect has not written to us on WhatsApp: only an approved template "
                "may be sent to them, not this free-form message"
            )
        return (
            f"WhatsApp's 24-hour window closed at {closes:%Y-%m-%d %H:%M} UTC: sent now, this "
            "free-form message would fail again (Twilio error 63016). Retry it once the "
            "prospect writes again; meanwhile an advisor can send the flow's follow-up "
            "template from the handoff page."
        )
    if row.kind == HOLDING_KIND and row.inbox_id is not None:
        waiting = s.get_one(InboxMessage, row.inbox_id)
        if waiting.status != "pending":
            return (
                "a holding message is worth sending only while the prospect waits, and the "
                f"message it was for is {waiting.status} now"
            )
    if row.invite_id is not None:
        invite = s.get_one(Invite, row.invite_id)
        if invite.status != "active" or invite.expires_at <= now:
            return (
                f"the secure-channel link this message carries is {invite.status} or expired; "
                "the prospect gets a fresh one by writing 'new link'"
            )
    return None


def _outbox_item(
    s: Session, row: OutboxMessage, conv: Conversation, now: datetime, flow: Flow
) -> FailedItem:
    return FailedItem(
        kind="outbox",
        id=row.id,
        status=row.status,
        what=row.kind,
        conversation_id=row.conversation_id,
        created_at=row.created_at,
        last_attempt_at=row.updated_at if row.attempts else None,
        attempts=row.attempts,
        error_code=row.error_code,
        error=failure_reason(row.error_code) or row.last_error,
        refusal=_outbox_refusal(s, row, conv, now, flow),
    )


def outbox_items(
    s: Session, now: datetime, failed_only: bool, limit: int, flow: Flow
) -> list[FailedItem]:
    """The newest outbox rows; ``flow``, the base flow in force, says which advisor
    replies are past the conversation's threshold."""
    query = select(OutboxMessage, Conversation).join(
        Conversation, Conversation.id == OutboxMessage.conversation_id
    )
    if failed_only:
        query = query.where(OutboxMessage.status.in_(FAILED_STATUSES["outbox"]))
    rows = s.execute(query.order_by(OutboxMessage.id.desc()).limit(limit)).all()
    return [_outbox_item(s, row, conv, now, flow) for row, conv in rows]


def retry_outbox(s: Session, item_id: int, now: datetime, by: Operator, flow: Flow) -> FailedItem:
    conversation_id = s.scalar(
        select(OutboxMessage.conversation_id).where(OutboxMessage.id == item_id)
    )
    if conversation_id is None:
        raise NoSuchItem(f"there is no outbox message {item_id}")
    # The conversation's row first, then the message's: the order every transaction
    # touching a conversation takes its locks in, ahead of the audit log's head.
    conv = s.get_one(Conversation, conversation_id, with_for_update=True)
    row = s.get_one(OutboxMessage, item_id, with_for_update=True, populate_existing=True)
    refused = _outbox_refusal(s, row, conv, now, flow)
    if refused is not None:
        raise NotRetryable(refused)
    previous = {
        "previous_status": row.status,
        "error_code": row.error_code,
        "error": row.last_error,
        "attempts": row.attempts,
        # A resend gets an id of its own; the failed attempt's stays in this record.
        "previous_provider_sid": row.provider_sid,
    }
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    row.first_attempt_at = None
    row.provider_sid = None
    row.error_code = None
    row.last_error = None
    row.updated_at = now
    record_retry(s, "outbox", row.id, row.conversation_id, previous, now, by)
    return _outbox_item(s, row, conv, now, flow)


# -- inbox ----------------------------------------------------------------------------


def _inbox_item(row: InboxMessage, conv: Conversation) -> FailedItem:
    refusal = None
    if row.status not in FAILED_STATUSES["inbox"]:
        refusal = not_failed("inbox message", row.id, row.status)
    elif conv.erased_at is not None:
        refusal = f"conversation {conv.id} was erased: its messages can no longer be read"
    return FailedItem(
        kind="inbox",
        id=row.id,
        status=row.status,
        what="message",
        conversation_id=row.conversation_id,
        created_at=row.received_at,
        last_attempt_at=row.processed_at,
        # Only the attempts that will be tried again are counted on the row; the last
        # one, which failed for good (or answered it), is not.
        attempts=row.attempts + (1 if row.status in ("failed", "done") else 0),
        error_code=None,
        error=row.last_error,
        refusal=refusal,
    )


def inbox_items(s: Session, failed_only: bool, limit: int) -> list[FailedItem]:
    query = select(InboxMessage, Conversation).join(
        Conversation, Conversation.id == InboxMessage.conversation_id
    )
    if failed_only:
        query = query.where(InboxMessage.status.in_(FAILED_STATUSES["inbox"]))
    rows = s.execute(query.order_by(InboxMessage.id.desc()).limit(limit)).all()
    return [_inbox_item(row, conv) for row, conv in rows]


def retry_inbox(s: Session, item_id: int, now: datetime, by: Operator) -> FailedItem:
    conversation_id = s.scalar(
        select(InboxMessage.conversation_id).where(InboxMessage.id == item_id)
    )
    if conversation_id is None:
        raise NoSuchItem(f"there is no inbox message {item_id}")
    conv = s.get_one(Conversation, conversation_id, with_for_update=True)
    row = s.get_one(InboxMessage, item_id, with_for_update=True, populate_existing=True)
    refused = _inbox_item(row, conv).refusal
    if refused is not None:
        raise NotRetryable(refused)
    previous = {
        "previous_status": row.status,
        "error": row.last_error,
        "attempts": row.attempts,
        "message_sid": row.message_sid,
    }
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    row.last_error = None
    row.processed_at = None
    record_retry(s, "inbox", row.id, row.conversation_id, previous, now, by)
    return _inbox_item(row, conv)

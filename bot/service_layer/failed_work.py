"""Failed work an operator can see and send back to the machinery that does it.

Four kinds of row end up failed and then wait for a person, since nothing retries
them on its own:

- ``outbox``: a message to a prospect the provider refused (status ``failed``) or
  reported undelivered (``undelivered``);
- ``crm``: an event the CRM refused for good (``failed``);
- ``inbox``: a prospect's message that could not be answered (``failed``: the bot
  refused it for good);
- ``intake``: a webhook delivery the ingest could not read, set aside.

Listing shows what an operator needs to decide (ids, the conversation's opaque id,
times, attempts, the provider's error code and the reason as recorded), never a
message body or a number. A retry puts one failed row back where the normal machinery
takes it (``pending``, its attempts reset, due now; a set-aside delivery back in the
intake) and records who did it in the audit log; it never sends anything itself.

What a retry of a message means for the prospect decides whether one is allowed (see
``bot.service_layer.failed_messages``). A retried CRM event keeps its idempotency key:
a CRM that took it after all answers 2xx without storing it twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db import SessionFactory
from bot.adapters.tables import CrmDelivery, Handoff, WebhookIntake
from bot.domain.access import Actor, can_handle_failed_work
from bot.domain.flows import Flow
from bot.service_layer.failed_items import (
    FAILED_STATUSES,
    KINDS,
    FailedItem,
    FailedWorkError,
    Kind,
    NoSuchItem,
    NotRetryable,
    Operator,
    not_failed,
    record_retry,
)
from bot.service_layer.failed_messages import inbox_items, outbox_items, retry_inbox, retry_outbox
from bot.service_layer.handoff_access import NotAllowed

__all__ = [
    "FAILED_STATUSES",
    "KINDS",
    "FailedItem",
    "FailedWorkError",
    "Kind",
    "NoSuchItem",
    "NotRetryable",
    "Operator",
    "items",
    "overview",
    "permit",
    "retry",
    "retry_as",
]


def permit(actor: Actor) -> None:
    """Raise NotAllowed unless ``actor`` may see and retry failed work (admins)."""
    if not can_handle_failed_work(actor):
        raise NotAllowed(f"your role ({actor.role}) does not handle failed work")


def overview(
    sessions: SessionFactory, actor: Actor, now: datetime, flow: Flow, limit: int = 50
) -> dict[Kind, list[FailedItem]]:
    """The failed rows of every kind, newest first, for those who handle them."""
    permit(actor)
    return {kind: items(sessions, kind, now, flow, failed_only=True, limit=limit) for kind in KINDS}


def retry_as(
    sessions: SessionFactory, actor: Actor, kind: Kind, item_id: int, now: datetime, flow: Flow
) -> FailedItem:
    """``retry`` by a console user, who must handle failed work (NotAllowed otherwise)."""
    permit(actor)
    return retry(sessions, kind, item_id, now, Operator(user_id=actor.user_id), flow)


def items(
    sessions: SessionFactory,
    kind: Kind,
    now: datetime,
    flow: Flow,
    *,
    failed_only: bool,
    limit: int = 50,
) -> list[FailedItem]:
    """The newest ``limit`` rows of ``kind``, failed ones only when ``failed_only``;
    ``flow`` is the base flow in force (the threshold an advisor's reply is held to)."""
    with sessions.begin() as s:
        if kind == "outbox":
            return outbox_items(s, now, failed_only, limit, flow)
        if kind == "crm":
            return _crm_items(s, failed_only, limit)
        if kind == "inbox":
            return inbox_items(s, failed_only, limit)
        return _intake_items(s, limit)


def retry(
    sessions: SessionFactory, kind: Kind, item_id: int, now: datetime, by: Operator, flow: Flow
) -> FailedItem:
    """Put one failed row back for the normal machinery; its new state.

    NoSuchItem for an unknown id, NotRetryable (with the reason) for a row that is not
    failed or cannot be sent now; in both cases nothing is changed.
    """
    with sessions.begin() as s:
        if kind == "outbox":
            return retry_outbox(s, item_id, now, by, flow)
        if kind == "crm":
            return _retry_crm(s, item_id, now, by)
        if kind == "inbox":
            return retry_inbox(s, item_id, now, by)
        return _retry_intake(s, item_id, now, by)


# -- CRM ------------------------------------------------------------------------------


def _crm_item(row: CrmDelivery, conversation_id: str | None) -> FailedItem:
    failed = row.status in FAILED_STATUSES["crm"]
    return FailedItem(
        kind="crm",
        id=row.id,
        status=row.status,
        what=row.event,
        conversation_id=conversation_id,
        created_at=row.created_at,
        last_attempt_at=row.sent_at,
        attempts=row.attempts,
        error_code=str(row.last_status) if row.last_status is not None else None,
        error=row.last_error,
        refusal=None if failed else not_failed("CRM event", row.id, row.status),
    )


def _crm_items(s: Session, failed_only: bool, limit: int) -> list[FailedItem]:
    query = select(CrmDelivery, Handoff.conversation_id).outerjoin(
        Handoff, Handoff.id == CrmDelivery.handoff_id
    )
    if failed_only:
        query = query.where(CrmDelivery.status.in_(FAILED_STATUSES["crm"]))
    rows = s.execute(query.order_by(CrmDelivery.id.desc()).limit(limit)).all()
    return [_crm_item(row, conv_id) for row, conv_id in rows]


def _retry_crm(s: Session, item_id: int, now: datetime, by: Operator) -> FailedItem:
    row = s.get(CrmDelivery, item_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NoSuchItem(f"there is no CRM event {item_id}")
    conversation_id = (
        s.scalar(select(Handoff.conversation_id).where(Handoff.id == row.handoff_id))
        if row.handoff_id is not None
        else None
    )
    refused = _crm_item(row, conversation_id).refusal
    if refused is not None:
        raise NotRetryable(refused)
    previous = {
        "previous_status": row.status,
        "http_status": row.last_status,
        "error": row.last_error,
        "attempts": row.attempts,
        "idempotency_key": row.idempotency_key,
    }
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    row.last_status = None
    row.last_error = None
    record_retry(s, "crm", row.id, conversation_id, previous, now, by)
    return _crm_item(row, conversation_id)


# -- intake ---------------------------------------------------------------------------


def _intake_item(row: WebhookIntake) -> FailedItem:
    aside = row.failed_at is not None
    return FailedItem(
        kind="intake",
        id=row.id,
        status="set aside" if aside else "waiting",
        what=row.kind,
        conversation_id=None,
        created_at=row.received_at,
        last_attempt_at=row.failed_at,
        attempts=1 if aside else 0,
        error_code=None,
        error=row.failure,
        refusal=None
        if aside
        else f"delivery {row.id} is not set aside: it is waiting to be ingested",
    )


def _intake_items(s: Session, limit: int) -> list[FailedItem]:
    # Only set-aside deliveries stay: the others are ingested and gone within moments.
    rows = s.scalars(
        select(WebhookIntake)
        .where(WebhookIntake.failed_at.is_not(None))
        .order_by(WebhookIntake.id.desc())
        .limit(limit)
    )
    return [_intake_item(row) for row in rows]


def _retry_intake(s: Session, item_id: int, now: datetime, by: Operator) -> FailedItem:
    row = s.get(WebhookIntake, item_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NoSuchItem(f"there is no webhook delivery {item_id} in the intake")
    refused = _intake_item(row).refusal
    if refused is not None:
        raise NotRetryable(refused)
    previous = {"previous_status": "set aside", "error": row.failure, "delivery": row.kind}
    # Back in the intake: the drain takes it again (and sets it aside again if it still
    # cannot be read); a redelivered message it holds is recorded once all the same.
    row.failed_at = None
    row.failure = None
    record_retry(s, "intake", row.id, None, previous, now, by)
    return _intake_item(row)

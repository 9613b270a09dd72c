"""Retention runs: erase what the flow's retention periods say is due, never what a
legal hold keeps. Run daily by the service and by `gangway retention run`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.tables import (
    AuditLog,
    AuditPending,
    Consent,
    Conversation,
    InboxMessage,
    LegalHold,
    MediaItem,
    SecureMessage,
)
from bot.domain.retention import Retention, RetentionCase, retention_due
from bot.service_layer.erasure import erase_conversation, is_held
from bot.service_layer.handoffs import HandoffEvents
from bot.service_layer.ports import Clock

__all__ = ["EVERY", "RUN_KIND", "RetentionReport", "RetentionRunner", "last_run", "run_retention"]

RUN_KIND = "retention_run"
EVERY = timedelta(days=1)

log = logging.getLogger(__name__)


@dataclass
class RetentionReport:
    dry_run: bool
    erased: list[tuple[str, str]] = field(default_factory=list)  # (conversation, why)
    held: list[str] = field(default_factory=list)  # due, but under legal hold
    media: int = 0  # attachments whose files were (or would be) dropped


def _cases(s: Session, conversation_id: str | None = None) -> list[tuple[str, RetentionCase]]:
    """What retention needs to know of each live conversation (or of one, locked)."""
    latest_consent = (
        select(Consent.decision)
        .where(Consent.conversation_id == Conversation.id)
        .order_by(Consent.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = select(
        Conversation.id, Conversation.last_inbound_at, Conversation.created_at, latest_consent
    ).where(Conversation.erased_at.is_(None))
    if conversation_id is not None:
        query = query.where(Conversation.id == conversation_id).with_for_update(of=Conversation)
    return [
        (str(conv_id), RetentionCase(last or created, decision == "declined"))
        for conv_id, last, created, decision in s.execute(query).all()
    ]


def run_retention(
    sessions: SessionFactory,
    rules: Retention,
    now: datetime,
    *,
    dry_run: bool,
    scrub: Callable[[], None] | None = None,
    events: HandoffEvents | None = None,
) -> RetentionReport:
    """Erase every conversation past its period and drop attachment files past theirs.

    Each erasure is its own transaction, so a long run holds no lock for long.
    """
    report = RetentionReport(dry_run)
    with sessions() as s:
        cases = _cases(s)
    due = [(cid, why) for cid, case in cases if (why := retention_due(rules, case, now))]
    for conv_id, why in due:
        with sessions.begin() as s:
            # Again under the row's lock: the prospect may have written meanwhile.
            again = [w for _, case in _cases(s, conv_id) if (w := retention_due(rules, case, now))]
            if not again:
                continue
            if is_held(s, conv_id):
                report.held.append(conv_id)
                continue
            if dry_run:
                report.erased.append((conv_id, why))
                continue
            if erase_conversation(
                s,
                conv_id,
                reason=f"retention period of {why} passed",
                cause="retention",
                now=now,
                events=events,
            ):
                report.erased.append((conv_id, why))
    if rules.media is not None:
        report.media = _drop_media(sessions, now - rules.media, now, dry_run)
    if not dry_run:
        with sessions.begin() as s:
            audit_log.append(
                s,
                kind=RUN_KIND,
                conversation_id=None,
                payload={
                    "erased": [{"conversation_id": c, "why": why} for c, why in report.erased],
                    "held": report.held,
                    "media_dropped": report.media,
                },
                now=now,
            )
        if report.erased and scrub is not None:
            scrub()
    return report


def _drop_media(sessions: SessionFactory, before: datetime, now: datetime, dry_run: bool) -> int:
    held = select(LegalHold.conversation_id).where(LegalHold.released_at.is_(None))
    old = (
        select(MediaItem.id)
        .join(InboxMessage, InboxMessage.id == MediaItem.inbox_id)
        .where(
            MediaItem.data.is_not(None),
            InboxMessage.received_at < before,
            MediaItem.conversation_id.not_in(held),
        )
    )
    # The secure chat's files age like WhatsApp's attachments.
    old_secure = select(SecureMessage.id).where(
        SecureMessage.attachment_data.is_not(None),
        SecureMessage.created_at < before,
        SecureMessage.conversation_id.not_in(held),
    )
    with sessions.begin() as s:
        ids = list(s.execute(old).scalars())
        secure_ids = list(s.execute(old_secure).scalars())
        if secure_ids and not dry_run:
            s.execute(
                update(SecureMessage)
                .where(SecureMessage.id.in_(secure_ids))
                .values(attachment_data=None)
                .execution_options(synchronize_session=False)
            )
            audit_log.append(
                s,
                kind="media_expired",
                conversation_id=None,
                payload={"secure_message_ids": secure_ids, "received_before": before.isoformat()},
                now=now,
            )
        if not ids or dry_run:
            return len(ids) + len(secure_ids)
        s.execute(
            update(MediaItem)
            .where(MediaItem.id.in_(ids))
            .values(data=None, status="expired")
            .execution_options(synchronize_session=False)
        )
        audit_log.append(
            s,
            kind="media_expired",
            conversation_id=None,
            payload={"media_ids": ids, "received_before": before.isoformat()},
            now=now,
        )
    return len(ids) + len(secure_ids)


def last_run(sessions: SessionFactory) -> datetime | None:
    """When the last retention run (by the service or the command) finished.

    Its record may still wait to be chained: both are read, so that a run just made
    counts at once. This only reads, on every beat, and need not chain anything.
    """
    with sessions() as s:
        recorded = [
            s.execute(
                select(func.max(table.recorded_at)).where(table.kind == RUN_KIND)
            ).scalar_one_or_none()
            for table in (AuditLog, AuditPending)
        ]
    latest = max((r for r in recorded if r), default=None)
    return datetime.fromisoformat(latest) if latest else None


class RetentionRunner:
    """The daily job: applies the current flow's retention periods.

    Its beat comes often (hourly); it runs when the last run, whoever made it, is a
    day old, so a restart neither skips a day nor runs twice.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        rules: Callable[[], Retention],
        scrub: Callable[[], None] | None = None,
        events: HandoffEvents | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._rules = rules
        self._scrub = scrub
        self._events = events

    def fire_due(self) -> int:
        last = last_run(self._sessions)
        if last is not None and self._clock.now() - last < EVERY:
            return 0
        report = run_retention(
            self._sessions,
            self._rules(),
            self._clock.now(),
            dry_run=False,
            scrub=self._scrub,
            events=self._events,
        )
        if report.erased or report.media:
            log.info(
                "retention: %d conversations erased, %d attachment files dropped, %d held",
                len(report.erased),
                report.media,
                len(report.held),
            )
        return len(report.erased)

"""Invites from an external secure messenger: made at the provider, then delivered.

The protocol records a ``pending`` invite in the conversation's unit of work (see
``Effects._request_external_invite``); this issuer, run by a scheduler, creates each one
at the provider outside any transaction and then, in one transaction, stores the
provider's id, keeps only the link's SHA-256 on the row, and queues the invite message
with its reminder and expiry timers, exactly as for a built-in link.

The provider's idempotency key is the invite's own id, so a crash between the provider's
answer and our commit makes the next attempt get the same invite back, not a second one.
A transient failure is tried again on the next run (or, when the provider answered
with a ``Retry-After``, on the first run after it, up to `LONGEST_PAUSE`); a permanent
one marks the invite ``failed`` and opens a handoff so that a person follows up with
the prospect.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.tables import Conversation, Invite
from bot.domain.redaction import redact
from bot.service_layer.errors import PermanentError, TransientError
from bot.service_layer.flow_in_force import flow_of
from bot.service_layer.ports import Clock, ExternalInvite, FlowSource
from bot.service_layer.transition import Effects, Handover, InviteSettings

__all__ = ["LONGEST_PAUSE", "ExternalInviteIssuer", "SecureChannel"]

log = logging.getLogger(__name__)

# The longest a provider's Retry-After pauses the issuer: invites are waited for by
# prospects, so one asking for an hour is asked again after this.
LONGEST_PAUSE = timedelta(minutes=5)


class SecureChannel(Protocol):
    """A secure messenger that makes invites (the provider's REST API in production)."""

    def create_invite(
        self, *, reference: str, language: str, expires_at: datetime, display_name: str | None
    ) -> ExternalInvite: ...


class ExternalInviteIssuer:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        channel: SecureChannel,
        flows: FlowSource,
        invite_settings: InviteSettings,
        handover: Handover | None,
        *,
        batch: int = 20,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._channel = channel
        self._flows = flows
        self._invite_settings = invite_settings
        self._handover = handover
        self._batch = batch
        self._paused_until: datetime | None = None  # as the provider's Retry-After asked

    def fire_due(self) -> int:
        """Make and deliver the pending invites; returns how many were delivered."""
        if self._paused_until is not None and self._clock.now() < self._paused_until:
            return 0
        with self._sessions() as s:
            pending = list(
                s.execute(
                    select(
                        Invite.id, Invite.conversation_id, Invite.expires_at, Conversation.language
                    )
                    .join(Conversation, Conversation.id == Invite.conversation_id)
                    .where(Invite.status == "pending")
                    .order_by(Invite.id)
                    .limit(self._batch)
                )
            )
        delivered = 0
        for invite_id, _conversation_id, expires_at, language in pending:
            try:
                made = self._channel.create_invite(
                    reference=f"gangway-invite-{invite_id}",
                    language=language or self._flows.current().default_language,
                    expires_at=expires_at,
                    display_name=None,
                )
            except TransientError as exc:
                log.warning("invite %s: the secure messenger is unavailable: %r", invite_id, exc)
                if exc.retry_after is not None:
                    pause = min(timedelta(seconds=exc.retry_after), LONGEST_PAUSE)
                    self._paused_until = self._clock.now() + pause
                break  # the provider is down: the others would fail the same way
            except PermanentError as exc:
                self._failed(invite_id, exc)
                continue
            delivered += self._deliver(invite_id, made)
        return delivered

    def _deliver(self, invite_id: int, made: ExternalInvite) -> int:
        now = self._clock.now()
        with self._sessions.begin() as s:
            invite = _locked(s, invite_id)
            if invite.status != "pending":
                return 0  # delivered by another process, or superseded, meanwhile
            invite.status = "active"
            invite.external_id = made.external_id
            invite.token_sha256 = hashlib.sha256(made.link.encode()).hexdigest()
            invite.expires_at = made.expires_at
            conv = s.get_one(Conversation, invite.conversation_id)
            audit_log.append(
                s,
                kind="invite_issued",
                conversation_id=conv.id,
                payload={
                    "invite_id": invite.id,
                    "provider": invite.provider,
                    "external_id": made.external_id,
                    "expires_at": made.expires_at.isoformat(),
                },
                now=now,
            )
            effects = Effects(
                s,
                conv,
                flow_of(self._flows, conv),
                now,
                self._invite_settings,
                handover=self._handover,
            )
            effects.deliver_invite(invite.id, made.link, made.expires_at)
        return 1

    def _failed(self, invite_id: int, exc: PermanentError) -> None:
        now = self._clock.now()
        with self._sessions.begin() as s:
            invite = _locked(s, invite_id)
            if invite.status != "pending":
                return
            invite.status = "failed"
            conv = s.get_one(Conversation, invite.conversation_id)
            audit_log.append(
                s,
                kind="invite_failed",
                conversation_id=conv.id,
                payload={
                    "invite_id": invite.id,
                    "provider": invite.provider,
                    "error": redact(exc.message),
                },
                now=now,
            )
            effects = Effects(
                s,
                conv,
                flow_of(self._flows, conv),
                now,
                self._invite_settings,
                handover=self._handover,
            )
            effects.open_handoff("invite_failed")
        log.error("invite %s: the secure messenger refused it: %s", invite_id, redact(repr(exc)))


def _locked(session: Session, invite_id: int) -> Invite:
    """The invite as stored now, its row locked until the transaction ends (PostgreSQL).

    Every service process runs this issuer: two may make the same invite at the provider
    (its idempotency key gives both the same one) and then both try to deliver it. The
    lock makes the second wait for the first to commit and then see it ``active``, so the
    invite message is queued once.
    """
    return session.get_one(Invite, invite_id, with_for_update=True, populate_existing=True)

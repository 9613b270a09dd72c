"""Messages as gangway records them, for the reconciliation tests: an inbound one
through the real receiving use case, an outbound one as the outbox holds it once the
provider accepted it (or never did)."""

from __future__ import annotations

from datetime import datetime

from bot.adapters.db import SessionFactory
from bot.adapters.tables import OutboxMessage
from bot.domain.inbound import parse_inbound
from bot.service_layer.receiving import conversation_for, record_inbound


def record_in(sessions: SessionFactory, sid: str, number: str, at: datetime) -> None:
    """An inbound message gangway received at ``at``."""
    with sessions.begin() as s:
        params = {"MessageSid": sid, "From": number, "Body": "hello"}
        assert record_inbound(s, parse_inbound(params), at)


def record_out(
    sessions: SessionFactory, provider_sid: str | None, number: str, at: datetime
) -> None:
    """An outbound message gangway first sent at ``at``; None: the provider never took it."""
    with sessions.begin() as s:
        conv = conversation_for(s, number, at)
        s.flush()
        s.add(
            OutboxMessage(
                conversation_id=conv.id,
                kind="reply",
                seq=0,
                to_number=number,
                body="Our opening hours are 9 to 5.",
                status="delivered" if provider_sid else "failed",
                provider_sid=provider_sid,
                attempts=1,
                next_attempt_at=at,
                first_attempt_at=at,
                created_at=at,
                updated_at=at,
            )
        )

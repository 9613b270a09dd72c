"""Messages as gangway records them, for the reconciliation tests: an inbound one
through the real receiving use case, an outbound one as the outbox holds it once the
provider accepted it (or never did)."""

from __future__ import annotations

from datetime import datetime

from bot.adapters.db import SessionFactory
from bot.domain.inbound import parse_inbound
from bot.service_layer.outbox import new_outbox_row
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
        row = new_outbox_row(s, conv, kind="reply", body="Our opening hours are 9 to 5.", now=at)
        row.status = "delivered" if provider_sid else "failed"
        row.provider_sid = provider_sid
        row.attempts = 1
        row.first_attempt_at = at

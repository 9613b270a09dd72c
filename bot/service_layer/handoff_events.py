"""Who hears of handoffs: the CRM outbox when a CRM is configured, nobody otherwise.

Without a CRM nothing is queued (rows would pile up and flood a CRM configured months
later with old history); the audit log records every change either way.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from bot.adapters.tables import Handoff
from bot.service_layer import crm_outbox

__all__ = ["CrmHandoffEvents", "NoHandoffEvents", "handoff_data"]


def handoff_data(handoff: Handoff) -> dict[str, object]:
    """What the CRM gets: the lead and its status; the summary names rules, not values."""
    return {
        "handoff_id": handoff.id,
        "conversation_id": handoff.conversation_id,
        "status": handoff.status,
        "reason": handoff.reason,
        "queue": handoff.queue,
        "assigned_to": handoff.assigned_to,
        "claimed_by": handoff.claimed_by,
        "escalated_to": handoff.escalated_to,
        "language": handoff.language,
        "country": handoff.country,
        "product": handoff.product,
        "level": handoff.level,
        "summary": json.loads(handoff.summary or "{}"),
    }


class CrmHandoffEvents:
    def record(self, session: Session, *, event: str, handoff: Handoff, now: datetime) -> None:
        session.flush()
        crm_outbox.enqueue(
            session, event=event, handoff_id=handoff.id, data=handoff_data(handoff), now=now
        )


class NoHandoffEvents:
    def record(self, session: Session, *, event: str, handoff: Handoff, now: datetime) -> None:
        return None

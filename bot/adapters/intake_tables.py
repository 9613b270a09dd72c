"""The webhook intake: each Twilio webhook delivery as it arrived, until it is ingested.

A webhook is acknowledged once its row here is committed; the ingest drain turns the
rows into inbox messages and status events and deletes them, so a row lives for the
moments between the two. Its parameters are sealed with the service's intake key
(see ``bot.adapters.intake``): the sender's number is not yet tied to a conversation,
so no conversation's data key can seal it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.adapters.schema_base import Base, UTCDateTime

__all__ = ["WebhookIntake"]


class WebhookIntake(Base):
    """One webhook delivery: an inbound message or a delivery status callback."""

    __tablename__ = "webhook_intake"
    __table_args__ = (Index("ix_webhook_intake_lane", "lane", "id"),)

    # The order of arrival, in which the drain ingests.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))  # "inbound" | "status"
    # An inbound message's MessageSid: a redelivery while the first is still here adds
    # nothing. Status callbacks have none (one message has several statuses).
    dedup_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The sender's keyed hash for an inbound message (as conversations are found by):
    # rows of one lane are ingested one after another, in the order they arrived.
    lane: Mapped[str | None] = mapped_column(String(64))
    sealed: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when a row could not be ingested: it is kept aside, never retried on its own.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failure: Mapped[str | None] = mapped_column(String(200))

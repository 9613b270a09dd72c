"""Flow versions: every flow content that was proposed, and which one is live.

A flow file is marketing's, and what it says about terms and consent is compliance's
business: a changed file is recorded here as a version (its content, the SHA-256 of
that content, a sequence number per flow) and, where the flow asks for governance,
goes live only once someone approved it. Conversations and their turns name the
version (and the A/B variant) they ran under, so a figure or a consent can always be
traced to the exact words in force.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.adapters.schema_base import Base, UTCDateTime

__all__ = ["FlowVersion"]


class FlowVersion(Base):
    """One content of one flow, from its proposal to its retirement."""

    __tablename__ = "flow_versions"
    __table_args__ = (
        UniqueConstraint("flow", "seq", name="uq_flow_versions_seq"),
        Index("ix_flow_versions_status", "flow", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The flow's name (its `flow:` setting) and this content's number within it: 1, 2, ...
    flow: Mapped[str] = mapped_column(String(100))
    seq: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # The file's text as proposed: what goes live is exactly this, never the file again.
    content: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(300))  # the file name it came from
    # pending | live | retired (was live, replaced) | rejected | withdrawn
    status: Mapped[str] = mapped_column(String(16))
    proposed_by: Mapped[str] = mapped_column(String(200))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    comment: Mapped[str | None] = mapped_column(Text)

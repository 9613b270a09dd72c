"""Aggregate figures and the versions in force: what marketing tunes the flows by.

Only counts leave this module — conversations per chart state (the funnel), handoffs
per status and open handoffs per queue — and which flow and routing files are in force
(name, file name, SHA-256 of the content). Never a transcript, phone number, summary or
evidence, so a role that reads no conversation may see them (``can_see_figures``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.adapters.tables import Conversation, Handoff
from bot.domain.access import Actor, can_see_figures
from bot.domain.flows import Flow
from bot.domain.routing import RoutingRules
from bot.service_layer.handoffs import OPEN_STATUSES, NotAllowed

__all__ = ["Figures", "Version", "figures"]


@dataclass(frozen=True)
class Version:
    """One file in force: what it is called and the SHA-256 of what was loaded."""

    name: str
    file: str
    sha256: str


@dataclass(frozen=True)
class Figures:
    conversations_by_state: dict[str, int]
    handoffs_by_status: dict[str, int]
    open_handoffs_by_queue: dict[str, int]
    flow: Version
    routing: Version


def _counts(
    session: Session, column: InstrumentedAttribute[Any], *where: ColumnElement[bool]
) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).where(*where).group_by(column))
    return dict(sorted((str(key) if key is not None else "not started", n) for key, n in rows))


def figures(session: Session, actor: Actor, flow: Flow, rules: RoutingRules) -> Figures:
    """The counts and versions, for those who may see them (NotAllowed otherwise)."""
    if not can_see_figures(actor):
        raise NotAllowed(f"your role ({actor.role}) does not see the figures")
    return Figures(
        conversations_by_state=_counts(session, Conversation.state),
        handoffs_by_status=_counts(session, Handoff.status),
        open_handoffs_by_queue=_counts(session, Handoff.queue, Handoff.status.in_(OPEN_STATUSES)),
        flow=Version(flow.name, PurePath(flow.source).name, flow.digest),
        routing=Version("routing", PurePath(rules.source).name, rules.digest),
    )

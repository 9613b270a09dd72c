"""The handoff router: flows/routing.yml's rules applied to the people in the database.

An advisor's load is the number of open handoffs assigned to or claimed by them; their
turn in round-robin is the last time a handoff was routed to them (the newest
``updated_at`` of a handoff assigned to them), so the rules need no bookkeeping column.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.adapters.tables import Handoff, User
from bot.domain.routing import Advisor, Request, RoutingRules, escalation_target, route
from bot.service_layer.handoffs import OPEN_STATUSES, Route

__all__ = ["RulesRouter", "RulesSource"]


class RulesSource(Protocol):
    def current(self) -> RoutingRules: ...


def _people(session: Session, role: str) -> list[Advisor]:
    users = list(
        session.execute(select(User).where(User.role == role, User.active.is_(True))).scalars()
    )
    if not users:
        return []
    ids = [u.id for u in users]
    owner = func.coalesce(Handoff.claimed_by, Handoff.assigned_to)
    # Rows into dicts by hand: a Result has keys(), so dict(result) would misread it.
    loads = {
        user: count
        for user, count in session.execute(
            select(owner, func.count())
            .where(Handoff.status.in_(OPEN_STATUSES), owner.in_(ids))
            .group_by(owner)
        )
    }
    last = {
        user: at
        for user, at in session.execute(
            select(Handoff.assigned_to, func.max(Handoff.updated_at))
            .where(Handoff.assigned_to.in_(ids))
            .group_by(Handoff.assigned_to)
        )
    }
    return [
        Advisor(
            user_id=u.id,
            countries=frozenset(c.upper() if c != "*" else c for c in json.loads(u.countries)),
            products=frozenset(json.loads(u.products)),
            languages=frozenset(json.loads(u.languages)),
            available=u.available,
            load=loads.get(u.id, 0),
            last_assigned_at=last.get(u.id),
            team=u.team,
        )
        for u in users
    ]


class RulesRouter:
    def __init__(self, rules: RulesSource) -> None:
        self._rules = rules

    def route(self, session: Session, handoff: Handoff, now: datetime) -> Route:
        rules = self._rules.current()
        advisors = [a for a in _people(session, "advisor") if a.user_id != handoff.claimed_by]
        decision = route(
            Request(handoff.country, handoff.product, handoff.language), advisors, rules
        )
        return Route(
            decision.queue, decision.advisor_id, decision.why, rules.sla_for(decision.queue)
        )

    def escalation_target(self, session: Session, handoff: Handoff) -> int | None:
        rules = self._rules.current()
        owner = handoff.claimed_by or handoff.assigned_to
        team = session.get_one(User, owner).team if owner is not None else None
        target = escalation_target(
            _people(session, "supervisor"), team or rules.team_of(handoff.queue), rules
        )
        return target.supervisor_id

"""Who may see and do what in the advisor console and its API.

    advisor     reads and acts on handoffs assigned to or claimed by them, and on
                unassigned ones waiting in a queue (which they may claim)
    supervisor  reads and acts on their team's handoffs and every unassigned one
    compliance  reads everything, changes nothing; alone downloads a conversation's
                evidence bundle (its whole record, opened: the others work on a
                handoff and have the transcript on screen, not a copy to take away)
    admin       manages users and routing; reads no conversation (least privilege:
                an administrator of accounts has no need to read prospects' chats)

The checks are pure: the caller passes the facts (a handoff's assignee and their team).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Actor",
    "HandoffFacts",
    "Role",
    "can_act",
    "can_export_evidence",
    "can_manage_users",
    "can_read",
]


class Role(StrEnum):
    ADVISOR = "advisor"
    SUPERVISOR = "supervisor"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


@dataclass(frozen=True)
class Actor:
    user_id: int
    role: Role
    team: str | None = None


@dataclass(frozen=True)
class HandoffFacts:
    """What the checks need to know about one handoff."""

    assigned_to: int | None
    claimed_by: int | None
    owner_team: str | None  # the team of whoever has it (assignee or claimer), if anyone
    closed: bool = False
    escalated_to: int | None = None  # the supervisor an overdue handoff went to

    @property
    def owner(self) -> int | None:
        return self.claimed_by if self.claimed_by is not None else self.assigned_to


def _in_reach(actor: Actor, handoff: HandoffFacts) -> bool:
    if handoff.owner is None:  # waiting in a queue: any advisor or supervisor may take it
        return actor.role in (Role.ADVISOR, Role.SUPERVISOR)
    if actor.role is Role.ADVISOR:
        return handoff.owner == actor.user_id
    if actor.role is Role.SUPERVISOR:
        return (
            handoff.owner == actor.user_id
            or handoff.escalated_to == actor.user_id
            or (actor.team is not None and handoff.owner_team == actor.team)
        )
    return False


def can_read(actor: Actor, handoff: HandoffFacts) -> bool:
    if actor.role is Role.COMPLIANCE:
        return True
    return _in_reach(actor, handoff)


def can_act(actor: Actor, handoff: HandoffFacts) -> bool:
    """Claim, release, reply: never compliance or admin, never on a closed handoff."""
    return not handoff.closed and _in_reach(actor, handoff)


def can_export_evidence(actor: Actor) -> bool:
    """Download a conversation's evidence bundle: compliance only, whoever has the handoff."""
    return actor.role is Role.COMPLIANCE


def can_manage_users(actor: Actor) -> bool:
    return actor.role is Role.ADMIN

"""Who may see and do what in the advisor console and its API.

Reading follows the routing rules, so that an advisor sees only what the firm would
have given them anyway:

    advisor     reads a handoff assigned to or claimed by them, or an unowned one they
                could be routed: their licence covers its country and product (and its
                language when the rules require a speaker), and it waits in one of their
                queues (their team's queues and the fallback queue; every queue for an
                advisor in no team). They may claim what they may read and is unclaimed.
    supervisor  reads their team's handoffs, those escalated to them, and unowned ones
                waiting in their team's queues (the fallback queue too for the escalation
                team); licences play no part, supervisors oversee.
    compliance  reads everything, changes no handoff; alone downloads a conversation's
                evidence bundle (its whole record, opened: the others work on a
                handoff and have the transcript on screen, not a copy to take away),
                and alone approves or rejects a changed flow
    admin       manages users and routing, and retries failed work (by ids, times and
                errors); reads no conversation (least privilege: an administrator of
                accounts has no need to read prospects' chats)
    marketing   sees aggregate figures and the versions of the flow and routing rules in
                force, and the pending flow changes (read-only); reads no conversation,
                phone number, summary or evidence

Changing a handoff needs more than reading it. Replying (on WhatsApp, with the
follow-up template, or in the secure chat, files included) needs having claimed it,
for everyone: the prospect talks to one named person. Releasing and closing need
having claimed it too, except that a supervisor may release or close any open handoff
in their reach (their team's, escalated to them, or waiting in their queues), so work
does not stall while its advisor is away. Nobody changes a closed handoff.

A handoff someone may not read does not exist for them (the routes answer 404, whatever
the reason: role, licence or team), so its existence is never revealed; a handoff they
may read but not change in that way answers 403 with ``refusal``'s words.

The checks are pure: the caller passes the facts (the handoff's owner, team and routing
facts; the actor's licence and queues, from ``queues_of``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.routing import ANY, RoutingRules

__all__ = [
    "Action",
    "Actor",
    "HandoffFacts",
    "Licence",
    "Role",
    "allowed",
    "can",
    "can_approve_flow_changes",
    "can_export_evidence",
    "can_handle_failed_work",
    "can_manage_users",
    "can_read",
    "can_see_figures",
    "can_see_flow_changes",
    "queues_of",
    "reads_conversations",
    "refusal",
]


class Role(StrEnum):
    ADVISOR = "advisor"
    SUPERVISOR = "supervisor"
    COMPLIANCE = "compliance"
    ADMIN = "admin"
    MARKETING = "marketing"


class Action(StrEnum):
    """What a person may do to a handoff beyond reading it."""

    CLAIM = "claim"
    RELEASE = "release"
    REPLY = "reply"  # WhatsApp reply, follow-up template, secure chat message or file
    CLOSE = "close"


def _covers(values: frozenset[str], value: str | None) -> bool:
    return ANY in values or (value is not None and value in values)


@dataclass(frozen=True)
class Licence:
    """What an advisor is licensed for, as routing reads it (``*`` covers all)."""

    countries: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()

    def covers(self, country: str | None, product: str | None) -> bool:
        """An unknown country or product is covered only by ``*``, as in routing."""
        return _covers(self.countries, country) and _covers(self.products, product)

    def speaks(self, language: str | None) -> bool:
        return _covers(self.languages, language)


@dataclass(frozen=True)
class Actor:
    """Who is asking. ``queues`` are the queues whose unowned handoffs they may take
    (None: every queue); ``language_required`` mirrors the rules' ``language_match``."""

    user_id: int
    role: Role
    team: str | None = None
    licence: Licence = field(default_factory=Licence)
    queues: frozenset[str] | None = frozenset()
    language_required: bool = False


@dataclass(frozen=True)
class HandoffFacts:
    """What the checks need to know about one handoff."""

    assigned_to: int | None
    claimed_by: int | None
    owner_team: str | None  # the team of whoever has it (assignee or claimer), if anyone
    closed: bool = False
    escalated_to: int | None = None  # the supervisor an overdue handoff went to
    queue: str = ""
    country: str | None = None
    product: str | None = None
    language: str | None = None

    @property
    def owner(self) -> int | None:
        return self.claimed_by if self.claimed_by is not None else self.assigned_to


def queues_of(role: Role, team: str | None, rules: RoutingRules) -> frozenset[str] | None:
    """The queues whose unowned handoffs someone of ``role`` in ``team`` may take.

    An advisor: their team's queues and the fallback queue (which no team owns); an
    advisor in no team, every queue. A supervisor: their team's queues, and the
    fallback queue if theirs is the escalation team (its supervisors answer for it).
    Nobody else takes handoffs.
    """
    own = frozenset(q.name for q in rules.queues if team is not None and q.team == team)
    fallback = frozenset({rules.fallback_queue})
    if role is Role.ADVISOR:
        return None if team is None else own | fallback
    if role is Role.SUPERVISOR:
        escalation = team is not None and team == rules.escalation_team
        return own | fallback if escalation else own
    return frozenset()


def reads_conversations(actor: Actor) -> bool:
    """Whether the role reads any conversation at all."""
    return actor.role in (Role.ADVISOR, Role.SUPERVISOR, Role.COMPLIANCE)


def _could_take(actor: Actor, handoff: HandoffFacts) -> bool:
    """An unowned handoff the routing rules would let ``actor`` take."""
    in_queue = actor.queues is None or handoff.queue in actor.queues
    if actor.role is Role.SUPERVISOR:
        return in_queue
    if actor.role is Role.ADVISOR:
        speaks = not actor.language_required or actor.licence.speaks(handoff.language)
        return in_queue and speaks and actor.licence.covers(handoff.country, handoff.product)
    return False


def _in_reach(actor: Actor, handoff: HandoffFacts) -> bool:
    if actor.role not in (Role.ADVISOR, Role.SUPERVISOR):
        return False
    if actor.user_id in (handoff.owner, handoff.escalated_to):
        return True
    supervised = actor.role is Role.SUPERVISOR and actor.team is not None
    if supervised and handoff.owner_team == actor.team:
        return True
    return handoff.owner is None and _could_take(actor, handoff)


def can_read(actor: Actor, handoff: HandoffFacts) -> bool:
    if actor.role is Role.COMPLIANCE:
        return True
    return _in_reach(actor, handoff)


def allowed(actor: Actor, handoff: HandoffFacts) -> frozenset[Action]:
    """Everything ``actor`` may do to ``handoff`` now, beyond reading it."""
    if handoff.closed or not _in_reach(actor, handoff):
        return frozenset()
    actions: set[Action] = set()
    mine = handoff.claimed_by == actor.user_id
    if handoff.claimed_by is None or mine:
        actions.add(Action.CLAIM)
    if mine:
        actions |= {Action.REPLY, Action.RELEASE, Action.CLOSE}
    elif actor.role is Role.SUPERVISOR:
        actions.add(Action.CLOSE)
        if handoff.claimed_by is not None:
            actions.add(Action.RELEASE)
    return frozenset(actions)


def can(actor: Actor, action: Action, handoff: HandoffFacts) -> bool:
    return action in allowed(actor, handoff)


def refusal(actor: Actor, action: Action, handoff: HandoffFacts) -> str | None:
    """Why ``actor`` may not do ``action`` to a handoff they can read, in plain words;
    None when they may."""
    if can(actor, action, handoff):
        return None
    if actor.role not in (Role.ADVISOR, Role.SUPERVISOR):
        return f"your role ({actor.role}) cannot change handoffs"
    if handoff.closed:
        return "this handoff is closed"
    if action is Action.CLAIM:
        return "this handoff is already claimed by someone else"
    return f"claim this handoff first: only whoever claimed it may {action} it"


def can_export_evidence(actor: Actor) -> bool:
    """Download a conversation's evidence bundle: compliance only, whoever has the handoff."""
    return actor.role is Role.COMPLIANCE


def can_manage_users(actor: Actor) -> bool:
    return actor.role is Role.ADMIN


def can_handle_failed_work(actor: Actor) -> bool:
    """See failed work (messages, CRM events, deliveries) and send it back to be done:
    admins, who run the service. The listing shows ids, times and errors, never a
    conversation's content."""
    return actor.role is Role.ADMIN


def can_see_figures(actor: Actor) -> bool:
    """Aggregate counts and flow versions: marketing, and those who oversee (supervisors,
    compliance). Advisors work on handoffs, not on the funnel; admins manage accounts."""
    return actor.role in (Role.MARKETING, Role.SUPERVISOR, Role.COMPLIANCE)


def can_see_flow_changes(actor: Actor) -> bool:
    """The pending flow changes and their diffs: compliance, who decides on them, and
    marketing, who proposed them (read-only)."""
    return actor.role in (Role.COMPLIANCE, Role.MARKETING)


def can_approve_flow_changes(actor: Actor) -> bool:
    """Approve or reject a flow change: compliance alone (what prospects are told about
    terms and consent is theirs to allow)."""
    return actor.role is Role.COMPLIANCE

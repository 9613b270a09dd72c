"""Who may read and change a handoff: the routing rules decide what an advisor sees."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.access import (
    Action,
    Actor,
    HandoffFacts,
    Licence,
    Role,
    allowed,
    can_export_evidence,
    can_manage_users,
    can_read,
    can_see_figures,
    queues_of,
    reads_conversations,
    refusal,
)
from bot.domain.routing import QueueRule, RoutingRules

RULES = RoutingRules(
    queues=(
        QueueRule("mortgages", products=frozenset({"mortgage"}), team="mortgages"),
        QueueRule("german", languages=frozenset({"de"}), team="dach"),
    ),
    fallback_queue="general",
    max_load=5,
    sla=timedelta(minutes=15),
    escalation_team="operations",
)
EVERYWHERE = Licence(frozenset({"*"}), frozenset({"*"}), frozenset({"*"}))
GERMAN_SAVINGS = Licence(frozenset({"DE"}), frozenset({"savings"}), frozenset({"de"}))


def person(
    user_id: int, role: Role, team: str | None = None, licence: Licence = EVERYWHERE
) -> Actor:
    return Actor(user_id, role, team, licence, queues_of(role, team, RULES))


ANNA = person(1, Role.ADVISOR, "dach", GERMAN_SAVINGS)
BEN = person(2, Role.ADVISOR, "dach", GERMAN_SAVINGS)
MONA = person(3, Role.ADVISOR, "mortgages")
FREE = person(4, Role.ADVISOR, None, GERMAN_SAVINGS)  # in no team: every queue
SARA = person(10, Role.SUPERVISOR, "dach")
SAM = person(11, Role.SUPERVISOR, "mortgages")
OLGA = person(12, Role.SUPERVISOR, "operations")
CLARA = person(20, Role.COMPLIANCE)
ADA = person(21, Role.ADMIN)
MARK = person(22, Role.MARKETING)


def waiting(
    queue: str = "german", country: str | None = "DE", product: str = "savings"
) -> HandoffFacts:
    """An unowned handoff waiting in ``queue``."""
    return HandoffFacts(
        None, None, None, queue=queue, country=country, product=product, language="de"
    )


ANNAS = HandoffFacts(1, 1, "dach", queue="german", country="DE", product="savings")


def test_a_licensed_advisor_reads_and_may_claim_a_handoff_waiting_in_their_teams_queue() -> None:
    """Anna (DE, savings, team dach) sees the German queue's savings handoff and may claim it."""
    assert can_read(ANNA, waiting())
    assert allowed(ANNA, waiting()) == {Action.CLAIM}


@pytest.mark.parametrize(
    ("why", "facts"),
    [
        ("another country", waiting(country="FR")),
        ("an unknown country", waiting(country=None)),
        ("another product", waiting(product="pension")),
        ("another team's queue", waiting(queue="mortgages")),
    ],
)
def test_an_advisor_cannot_see_a_waiting_handoff_they_could_not_be_routed(
    why: str, facts: HandoffFacts
) -> None:
    """Outside her licence or her team's queues, a waiting handoff is invisible to Anna."""
    assert not can_read(ANNA, facts), why
    assert allowed(ANNA, facts) == frozenset()


def test_the_fallback_queue_is_open_to_every_licensed_advisor() -> None:
    """No team owns the fallback queue: licensed advisors of any team may take from it."""
    assert can_read(ANNA, waiting(queue="general")) and can_read(MONA, waiting(queue="general"))
    assert not can_read(ANNA, waiting(queue="general", product="pension"))


def test_an_advisor_in_no_team_takes_from_every_queue_they_are_licensed_for() -> None:
    """Team-less advisors are routed by licence alone."""
    assert can_read(FREE, waiting(queue="mortgages"))
    assert not can_read(FREE, waiting(queue="mortgages", product="mortgage"))


def test_a_required_language_limits_what_an_advisor_sees() -> None:
    """With language_match require, a non-speaker does not see the handoff."""
    mute = Actor(
        5,
        Role.ADVISOR,
        None,
        Licence(frozenset({"*"}), frozenset({"*"}), frozenset({"en"})),
        None,
        True,
    )
    assert not can_read(mute, waiting())
    assert can_read(Actor(5, Role.ADVISOR, None, EVERYWHERE, None, True), waiting())


def test_an_advisor_reads_what_is_assigned_to_them_even_outside_their_licence() -> None:
    """Routing (or a supervisor) gave it to her: she reads it and may claim it."""
    assigned = HandoffFacts(1, None, "dach", queue="mortgages", country="FR", product="mortgage")
    assert can_read(ANNA, assigned)
    assert allowed(ANNA, assigned) == {Action.CLAIM}


def test_reply_release_and_close_need_having_claimed_it() -> None:
    """Assigned is not enough: only once she claimed it may Anna reply, release or close."""
    assert allowed(ANNA, ANNAS) == {Action.CLAIM, Action.REPLY, Action.RELEASE, Action.CLOSE}
    assert refusal(ANNA, Action.CLOSE, waiting()) == (
        "claim this handoff first: only whoever claimed it may close it"
    )
    assert refusal(ANNA, Action.REPLY, waiting()) is not None


def test_another_advisor_cannot_see_a_claimed_handoff_even_in_their_own_queue() -> None:
    """Ben, same team and licence, loses sight of it once Anna claims it."""
    assert can_read(BEN, waiting())
    assert not can_read(BEN, ANNAS) and allowed(BEN, ANNAS) == frozenset()


def test_a_supervisor_covers_their_teams_handoffs_and_queues() -> None:
    """Sara (dach) reads Anna's and may release or close it, but not reply for her."""
    assert can_read(SARA, ANNAS)
    assert allowed(SARA, ANNAS) == {Action.RELEASE, Action.CLOSE}
    assert allowed(SARA, waiting()) == {Action.CLAIM, Action.CLOSE}
    assert not can_read(SARA, waiting(queue="mortgages"))


def test_a_supervisor_of_another_team_sees_nothing_of_this_one() -> None:
    """Sam (mortgages) reads neither Anna's handoff nor the German queue."""
    assert not can_read(SAM, ANNAS) and not can_read(SAM, waiting())


def test_a_supervisor_reads_what_was_escalated_to_them() -> None:
    """An escalation makes it Sam's to read and claim, whatever its team."""
    escalated = HandoffFacts(None, None, None, escalated_to=11, queue="german")
    assert can_read(SAM, escalated)
    assert Action.CLAIM in allowed(SAM, escalated)


def test_the_escalation_teams_supervisors_watch_the_fallback_queue() -> None:
    """Olga (operations, the escalation team) sees the fallback queue; Sara does not."""
    assert can_read(OLGA, waiting(queue="general"))
    assert not can_read(SARA, waiting(queue="general"))


@pytest.mark.parametrize("facts", [waiting(), ANNAS, waiting(queue="mortgages")])
def test_compliance_reads_everything_and_changes_nothing(facts: HandoffFacts) -> None:
    """Clara reads every handoff; every action is refused in words naming her role."""
    assert can_read(CLARA, facts) and allowed(CLARA, facts) == frozenset()
    assert refusal(CLARA, Action.CLAIM, facts) == "your role (compliance) cannot change handoffs"


@pytest.mark.parametrize("actor", [ADA, MARK])
def test_admins_and_marketing_read_no_conversation(actor: Actor) -> None:
    """Neither reads nor changes a handoff, waiting or owned."""
    assert not reads_conversations(actor)
    assert not can_read(actor, waiting()) and not can_read(actor, ANNAS)
    assert allowed(actor, waiting()) == frozenset()


def test_figures_are_for_marketing_and_those_who_oversee() -> None:
    """Marketing, supervisors and compliance see the figures; advisors and admins do not."""
    assert [a.role for a in (ANNA, SARA, CLARA, ADA, MARK) if can_see_figures(a)] == [
        Role.SUPERVISOR,
        Role.COMPLIANCE,
        Role.MARKETING,
    ]


def test_nobody_acts_on_a_closed_handoff() -> None:
    """The claimer still reads it; nothing more."""
    closed = HandoffFacts(1, 1, "dach", closed=True)
    assert can_read(ANNA, closed) and allowed(ANNA, closed) == frozenset()
    assert refusal(ANNA, Action.REPLY, closed) == "this handoff is closed"


def test_queues_follow_the_team_and_the_rules() -> None:
    """Advisors: their team's queues and the fallback; supervisors: their team's, plus the
    fallback for the escalation team; others: none."""
    assert queues_of(Role.ADVISOR, "dach", RULES) == {"german", "general"}
    assert queues_of(Role.ADVISOR, None, RULES) is None
    assert queues_of(Role.SUPERVISOR, "dach", RULES) == {"german"}
    assert queues_of(Role.SUPERVISOR, "operations", RULES) == {"general"}
    assert queues_of(Role.MARKETING, "dach", RULES) == frozenset()


def test_only_compliance_downloads_evidence_bundles() -> None:
    """Not even the advisor who has the handoff, her supervisor, an admin or marketing."""
    assert can_export_evidence(CLARA)
    assert not [a for a in (ANNA, SARA, ADA, MARK) if can_export_evidence(a)]


def test_only_an_admin_manages_users() -> None:
    """Account management is the admin's alone."""
    assert can_manage_users(ADA) and not [a for a in (SARA, CLARA, MARK) if can_manage_users(a)]

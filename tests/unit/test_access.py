"""Who may read and change a handoff."""

from __future__ import annotations

import pytest

from bot.domain.access import (
    Actor,
    HandoffFacts,
    Role,
    can_act,
    can_export_evidence,
    can_manage_users,
    can_read,
)

ANNA = Actor(1, Role.ADVISOR, "berlin")
BEN = Actor(2, Role.ADVISOR, "berlin")
SARA = Actor(3, Role.SUPERVISOR, "berlin")
SAM = Actor(4, Role.SUPERVISOR, "madrid")
CLARA = Actor(5, Role.COMPLIANCE)
ADA = Actor(6, Role.ADMIN)

QUEUED = HandoffFacts(None, None, None)
ANNAS = HandoffFacts(1, 1, "berlin")


def test_an_advisor_reads_and_acts_on_their_own_and_queued_handoffs_only() -> None:
    assert can_read(ANNA, ANNAS) and can_act(ANNA, ANNAS)
    assert can_read(BEN, QUEUED) and can_act(BEN, QUEUED)
    assert not can_read(BEN, ANNAS) and not can_act(BEN, ANNAS)


def test_a_supervisor_covers_their_team_and_what_was_escalated_to_them() -> None:
    assert can_read(SARA, ANNAS) and can_act(SARA, ANNAS)
    assert not can_read(SAM, ANNAS)
    escalated = HandoffFacts(1, None, "berlin", escalated_to=4)
    assert can_read(SAM, escalated) and can_act(SAM, escalated)


@pytest.mark.parametrize("facts", [QUEUED, ANNAS])
def test_compliance_reads_everything_and_changes_nothing(facts: HandoffFacts) -> None:
    assert can_read(CLARA, facts) and not can_act(CLARA, facts)


def test_an_admin_manages_users_but_reads_no_conversation() -> None:
    assert can_manage_users(ADA) and not can_manage_users(SARA)
    assert not can_read(ADA, QUEUED) and not can_act(ADA, ANNAS)


def test_nobody_acts_on_a_closed_handoff() -> None:
    closed = HandoffFacts(1, 1, "berlin", closed=True)
    assert can_read(ANNA, closed) and not can_act(ANNA, closed)


def test_only_compliance_downloads_evidence_bundles() -> None:
    """Not even the advisor who has the handoff, her supervisor or an admin."""
    assert can_export_evidence(CLARA)
    assert not [a for a in (ANNA, SARA, ADA) if can_export_evidence(a)]

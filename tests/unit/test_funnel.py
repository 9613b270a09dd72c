"""The funnel's arithmetic: stages from milestones, drop-offs, the consent branch, times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.funnel import (
    STAGES,
    HandoffFacts,
    Journey,
    funnel_of,
    grouped,
    in_words,
    moved_handoff,
    percentile,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def claimed_journey(group: str = "") -> Journey:
    """Started, offered at 1 min, agreed at 2, link at 2, opened at 12, claimed at 15."""
    return Journey(
        started_at=at(0),
        group=group,
        reached_threshold=True,
        offered_at=at(1),
        agreed_at=at(2),
        invited_at=at(2),
        activated_at=at(12),
        handoffs=(HandoffFacts("threshold", at(12), claimed_at=at(15)),),
    )


def counts(*journeys: Journey, until: datetime | None = None) -> list[int]:
    found = funnel_of(journeys, until)
    return [found.counts[s] for s in STAGES]


def test_a_journey_to_an_advisor_counts_once_in_every_stage_but_declined() -> None:
    assert counts(claimed_journey()) == [1, 1, 1, 1, 0, 1, 1, 1, 1]


def test_a_conversation_that_never_reached_the_threshold_only_started() -> None:
    assert counts(Journey(started_at=at(0))) == [1, 0, 0, 0, 0, 0, 0, 0, 0]


def test_terms_offered_implies_the_threshold_even_when_the_level_says_otherwise() -> None:
    """A variant with a lower threshold offers the terms below the flow's own."""
    assert counts(Journey(at(0), offered_at=at(1)))[:3] == [1, 1, 1]


def test_declined_then_agreed_counts_as_consented_only() -> None:
    both = Journey(at(0), reached_threshold=True, offered_at=at(1), declined_at=at(2),
                   agreed_at=at(30))  # fmt: skip
    declined = Journey(at(0), reached_threshold=True, offered_at=at(1), declined_at=at(2))
    unanswered = Journey(at(0), reached_threshold=True, offered_at=at(1))
    found = funnel_of([both, declined, unanswered])
    assert (found.counts["consented"], found.counts["declined"]) == (1, 1)
    branch = found.branch()
    assert branch["unanswered"] == {"count": 1, "percent": 33.3}
    assert branch["declined"]["count"] + branch["consented"]["count"] + 1 == 3


def test_drop_off_is_the_difference_along_the_main_path_skipping_declined() -> None:
    stalled = Journey(at(0), reached_threshold=True, offered_at=at(1), declined_at=at(2))
    found = funnel_of([claimed_journey(), claimed_journey(), stalled, Journey(at(0))])
    drops = {(d["from"], d["to"]): (d["lost"], d["percent"]) for d in found.drop_off()}
    assert drops[("started", "reached_threshold")] == (1, 25.0)
    assert drops[("terms_offered", "consented")] == (1, 33.3)
    assert ("consented", "invite_sent") in drops and ("declined", "invite_sent") not in drops
    assert drops[("handed_off", "claimed")] == (0, 0.0)


def test_a_stage_nobody_reached_has_no_percentage() -> None:
    [first, *_] = funnel_of([]).drop_off()
    assert (first["lost"], first["percent"]) == (0, None)


def test_until_ignores_what_happened_after_the_period() -> None:
    assert counts(claimed_journey(), until=at(10)) == [1, 1, 1, 1, 0, 1, 0, 0, 0]


def test_a_human_request_handoff_does_not_count_unless_the_prospect_then_moved() -> None:
    asked = HandoffFacts("human_request", at(1))
    assert counts(Journey(at(0), handoffs=(asked,)))[-2:] == [0, 0]
    moved = Journey(
        at(0), reached_threshold=True, offered_at=at(2), agreed_at=at(3), invited_at=at(3),
        activated_at=at(5), handoffs=(HandoffFacts("human_request", at(1), claimed_at=at(9)),),
    )  # fmt: skip
    assert moved_handoff(moved) is not None
    assert counts(moved)[-2:] == [1, 1]
    closed_before = Journey(
        at(0), activated_at=at(5), handoffs=(HandoffFacts("human_request", at(1), at(2)),)
    )
    assert moved_handoff(closed_before) is None


def test_times_are_nearest_rank_percentiles_in_seconds() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, p) for p in (50, 90, 95)] == [50.0, 90.0, 95.0]
    times = funnel_of([claimed_journey()]).times()
    assert times["time_to_activation"]["p50"] == 11 * 60  # offered at 1, opened at 12
    assert times["time_to_claim"] == {
        "span": "handed_off → claimed", "n": 1, "p50": 180.0, "p90": 180.0, "p95": 180.0,
    }  # fmt: skip


def test_grouped_splits_by_the_journeys_group_in_name_order() -> None:
    groups = grouped([claimed_journey("b"), Journey(at(0), group="base"), claimed_journey("b")])
    assert list(groups) == ["b", "base"]
    assert groups["b"].counts["claimed"] == 2 and groups["base"].counts["claimed"] == 0


def test_durations_in_words() -> None:
    assert [in_words(s) for s in (None, 42, 600, 3 * 3600 + 300, 50 * 3600)] == [
        "–", "42 s", "10 min", "3 h 5 min", "2 d 2 h",
    ]  # fmt: skip

"""Routing a handoff: licensed advisors only, then language, availability, load, round robin
and user id, in that order; otherwise the matching queue or the fallback queue."""

from __future__ import annotations

import ast
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.routing import (
    Advisor,
    QueueRule,
    Request,
    RoutingRules,
    escalation_target,
    route,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DE_CURRENT = Request(country="DE", product="current_account", language="de")

RULES = RoutingRules(
    queues=(
        QueueRule("mortgages", products=frozenset({"mortgage"}), team="mortgages"),
        QueueRule("german", languages=frozenset({"de"}), team="dach", sla=timedelta(minutes=5)),
        QueueRule("french", languages=frozenset({"fr"}), team="france"),
    ),
    fallback_queue="general",
    max_load=3,
    sla=timedelta(minutes=15),
    escalation_team="operations",
)


def advisor(user_id: int, **fields: object) -> Advisor:
    """An advisor licensed for DE and AT current accounts and savings, speaking de and en."""
    base = Advisor(
        user_id=user_id,
        countries=frozenset({"DE", "AT"}),
        products=frozenset({"current_account", "savings"}),
        languages=frozenset({"de", "en"}),
        team="dach",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


# 1. Licensing


def test_only_advisors_licensed_for_both_country_and_product_qualify() -> None:
    """Licensed for the country but not the product, or the reverse, is not enough."""
    advisors = [
        advisor(1, countries=frozenset({"FR"})),  # wrong country
        advisor(2, products=frozenset({"mortgage"})),  # wrong product
        advisor(3, load=2),  # licensed, though busier than the others
    ]
    decision = route(DE_CURRENT, advisors, RULES)
    assert decision.advisor_id == 3
    assert decision.queue == "german"


def test_nobody_licensed_waits_in_the_matching_queue() -> None:
    """No licensed advisor: no assignment, the handoff waits in the queue its rule picks."""
    advisors = [advisor(1, countries=frozenset({"FR"})), advisor(2, countries=frozenset({"CH"}))]
    decision = route(DE_CURRENT, advisors, RULES)
    assert (decision.queue, decision.advisor_id) == ("german", None)
    assert "nobody is licensed for DE/current_account" in decision.why
    assert decision.team == "dach"


def test_a_star_covers_every_country_and_product() -> None:
    """``*`` licenses an advisor for any country (or product), even one not listed anywhere."""
    roaming = advisor(7, countries=frozenset({"*"}), products=frozenset({"*"}))
    request = Request(country="JP", product="mortgage", language="en")
    assert route(request, [advisor(1), roaming], RULES).advisor_id == 7


def test_unknown_country_or_product_is_covered_only_by_a_star() -> None:
    """An unknown country (or product) goes only to advisors licensed for every one."""
    everywhere = advisor(5, countries=frozenset({"*"}), load=2)
    unknown_country = Request(country=None, product="current_account", language="de")
    assert route(unknown_country, [advisor(1), everywhere], RULES).advisor_id == 5

    unknown_product = Request(country="DE", product=None, language="de")
    decision = route(unknown_product, [advisor(1), everywhere], RULES)
    assert decision.advisor_id is None
    assert "nobody is licensed for DE/unknown product" in decision.why


# 2. Language


def test_a_speaker_of_the_prospects_language_is_preferred() -> None:
    """Between two licensed advisors, the one who speaks the prospect's language wins,
    even with a higher load."""
    advisors = [advisor(1, languages=frozenset({"en"})), advisor(2, load=2)]
    decision = route(DE_CURRENT, advisors, RULES)
    assert decision.advisor_id == 2
    assert decision.why == (
        "de-speaking, licensed for DE/current_account, the only de-speaking one free"
    )


def test_with_prefer_a_non_speaker_is_better_than_waiting() -> None:
    """No licensed advisor speaks French: a licensed one who does not is still chosen."""
    request = Request(country="DE", product="savings", language="fr")
    decision = route(request, [advisor(1), advisor(2, load=1)], RULES)
    assert decision.advisor_id == 1
    assert decision.why.startswith("not fr-speaking (nobody free speaks it)")
    assert decision.queue == "french"


def test_with_require_only_speakers_qualify() -> None:
    """``language_match: require``: no French speaker free, so the handoff waits."""
    rules = replace(RULES, language_match="require")
    request = Request(country="DE", product="savings", language="fr")
    decision = route(request, [advisor(1), advisor(2)], rules)
    assert (decision.queue, decision.advisor_id) == ("french", None)
    assert "2 not fr-speaking" in decision.why


def test_unknown_language_prefers_nobody() -> None:
    """Without a language, the usual order (load, then turn) decides."""
    request = Request(country="DE", product="savings", language=None)
    advisors = [advisor(1, languages=frozenset({"en"}), load=1), advisor(2, load=2)]
    decision = route(request, advisors, RULES)
    assert decision.advisor_id == 1
    assert decision.why.startswith("language not known yet")
    assert decision.queue == "general"


# 3. Availability


def test_unavailable_advisors_are_skipped() -> None:
    """An unavailable advisor is never chosen, however well they fit."""
    advisors = [advisor(1, available=False), advisor(2, languages=frozenset({"en"}), load=2)]
    assert route(DE_CURRENT, advisors, RULES).advisor_id == 2


# 4. Load


def test_lowest_load_wins_among_speakers() -> None:
    """Among licensed speakers who are free, the one holding fewest handoffs gets it."""
    advisors = [advisor(1, load=2), advisor(2, load=0), advisor(3, load=1)]
    decision = route(DE_CURRENT, advisors, RULES)
    assert decision.advisor_id == 2
    assert decision.why == "de-speaking, licensed for DE/current_account, lowest load (0 of 3)"


def test_advisors_at_max_load_get_no_more() -> None:
    """Advisors at max_load are skipped; if all are, the handoff waits in its queue."""
    advisors = [advisor(1, load=3), advisor(2, load=4), advisor(3, available=False)]
    decision = route(DE_CURRENT, advisors, RULES)
    assert decision.advisor_id is None
    assert decision.why == (
        "no advisor free for DE/current_account (3 licensed: 1 unavailable, "
        "2 at the maximum load of 3); waiting in queue german"
    )
    assert route(DE_CURRENT, [*advisors, advisor(4, load=2)], RULES).advisor_id == 4


# 5. Round robin, 6. user id


def test_round_robin_among_equals_as_the_caller_records_assignments() -> None:
    """Equal advisors take turns when the caller updates last_assigned_at after each one."""
    team = {n: advisor(n) for n in (3, 1, 2)}
    chosen = []
    for minute in range(7):
        decision = route(DE_CURRENT, team.values(), RULES)
        assert decision.advisor_id is not None
        chosen.append(decision.advisor_id)
        picked = team[decision.advisor_id]
        team[picked.user_id] = replace(picked, last_assigned_at=T0 + timedelta(minutes=minute))
    # Never-assigned advisors first, by user id; then whoever waited longest.
    assert chosen == [1, 2, 3, 1, 2, 3, 1]


def test_never_assigned_comes_before_recently_assigned() -> None:
    """An advisor never assigned goes before one assigned a minute ago, whatever the ids."""
    advisors = [advisor(1, last_assigned_at=T0), advisor(9)]
    decision = route(DE_CURRENT, advisors, RULES)
    assert decision.advisor_id == 9
    assert decision.why.endswith("next in turn (least recently assigned)")


def test_full_ties_go_to_the_lowest_user_id_every_time() -> None:
    """Same load, same last assignment: the lowest user id, the same on every call."""
    advisors = [advisor(n, last_assigned_at=T0) for n in (8, 4, 6)]
    decisions = {route(DE_CURRENT, order, RULES).advisor_id for order in (advisors, advisors[::-1])}
    assert decisions == {4}
    assert route(DE_CURRENT, advisors, RULES).why.endswith("lowest user id among equals)")


def test_load_comes_before_round_robin() -> None:
    """A long-waiting but busier advisor loses to a recently assigned idle one."""
    advisors = [advisor(1, load=1), advisor(2, last_assigned_at=T0)]
    assert route(DE_CURRENT, advisors, RULES).advisor_id == 2


def test_several_languages_and_advisors_route_each_prospect_to_a_speaker() -> None:
    """A mixed team: German, French and Spanish prospects each reach a speaker."""
    team = [
        advisor(1, countries=frozenset({"*"}), languages=frozenset({"de"})),
        advisor(2, countries=frozenset({"FR", "BE"}), languages=frozenset({"fr", "en"})),
        advisor(3, countries=frozenset({"ES"}), languages=frozenset({"es"})),
        advisor(4, countries=frozenset({"*"}), languages=frozenset({"en"}), load=2),
    ]
    expect = {
        ("DE", "de"): (1, "german"),
        ("BE", "fr"): (2, "french"),
        ("ES", "es"): (3, "general"),
        ("IE", "en"): (4, "general"),
        # Nobody licensed for ES speaks fr: 1 and 3 are idle, 1 has the lower id.
        ("ES", "fr"): (1, "french"),
    }
    for (country, language), (advisor_id, queue) in expect.items():
        decision = route(Request(country, "savings", language), team, RULES)
        assert (decision.advisor_id, decision.queue) == (advisor_id, queue), decision.why


# Queues


def test_first_matching_queue_wins_and_fallback_catches_the_rest() -> None:
    """Queues are tried in order; one that matches nothing sends the handoff to the fallback."""
    nobody: list[Advisor] = []
    mortgage_de = Request("DE", "mortgage", "de")
    assert route(mortgage_de, nobody, RULES).queue == "mortgages"
    decision = route(Request("DE", "savings", "es"), nobody, RULES)
    assert (decision.queue, decision.team) == ("general", None)
    assert decision.why.endswith("waiting in the fallback queue general")
    assert route(Request("DE", "savings", None), nobody, RULES).queue == "general"


def test_queue_conditions_must_all_hold() -> None:
    """A queue naming countries and languages takes only requests matching both."""
    rule = QueueRule("dach", countries=frozenset({"DE", "AT"}), languages=frozenset({"de"}))
    assert rule.matches(Request("AT", None, "de"))
    assert not rule.matches(Request("FR", None, "de"))
    assert not rule.matches(Request(None, None, "de"))
    assert not rule.matches(Request("DE", None, None))


def test_the_assigned_advisors_team_answers_for_the_handoff() -> None:
    """The decision names the advisor's team; the queue's team if the advisor has none."""
    assert route(DE_CURRENT, [advisor(1, team="berlin")], RULES).team == "berlin"
    assert route(DE_CURRENT, [advisor(1, team=None)], RULES).team == "dach"


def test_sla_and_team_per_queue() -> None:
    """A queue's own SLA replaces the default; the fallback queue has the default and no team."""
    assert RULES.sla_for("german") == timedelta(minutes=5)
    assert RULES.sla_for("french") == timedelta(minutes=15)
    assert RULES.sla_for("general") == timedelta(minutes=15)
    assert (RULES.team_of("mortgages"), RULES.team_of("general")) == ("mortgages", None)


def test_rules_refuse_impossible_settings() -> None:
    """A max load below 1, a zero SLA or a nameless fallback queue are refused."""
    with pytest.raises(ValueError, match="max_load"):
        replace(RULES, max_load=0)
    with pytest.raises(ValueError, match="SLA"):
        replace(RULES, sla=timedelta(0))
    with pytest.raises(ValueError, match="fallback"):
        replace(RULES, fallback_queue=" ")


# Escalation


def supervisor(user_id: int, team: str, **fields: object) -> Advisor:
    return replace(Advisor(user_id=user_id, team=team), **fields)  # type: ignore[arg-type]


def test_escalation_goes_to_an_available_supervisor_of_the_team() -> None:
    """The team's available supervisor with the lowest load takes the escalation."""
    supervisors = [
        supervisor(10, "dach", load=2),
        supervisor(11, "dach", load=1),
        supervisor(12, "dach", available=False),
        supervisor(20, "operations"),
    ]
    escalation = escalation_target(supervisors, "dach", RULES)
    assert (escalation.supervisor_id, escalation.team) == (11, "dach")
    assert escalation.why == "unclaimed past the SLA; a supervisor of team dach"


def test_escalation_falls_back_to_the_escalation_team_then_anyone() -> None:
    """No one free in the team: the escalation team; no one there either: any supervisor."""
    supervisors = [supervisor(10, "dach", available=False), supervisor(20, "operations")]
    escalation = escalation_target(supervisors, "dach", RULES)
    assert escalation.supervisor_id == 20
    assert "escalation team operations (none in dach was free)" in escalation.why

    others = [supervisor(10, "dach", available=False), supervisor(30, "france")]
    assert escalation_target(others, "dach", RULES).supervisor_id == 30


def test_escalation_reaches_an_away_supervisor_rather_than_nobody() -> None:
    """If every supervisor is away, the team's own still gets it, and the reason says so."""
    supervisors = [supervisor(10, "dach", available=False), supervisor(20, "ops", available=False)]
    escalation = escalation_target(supervisors, "dach", RULES)
    assert escalation.supervisor_id == 10
    assert "though unavailable" in escalation.why
    assert escalation_target([], "dach", RULES).supervisor_id is None


def test_fallback_queue_escalates_to_the_escalation_team() -> None:
    """A handoff of no team (the fallback queue) goes to the escalation team's supervisors."""
    supervisors = [supervisor(10, "dach"), supervisor(20, "operations", load=3)]
    assert escalation_target(supervisors, RULES.team_of("general"), RULES).supervisor_id == 20


def test_routing_module_imports_no_io() -> None:
    """bot.domain.routing and phone_country import only the stdlib, phonenumbers, the domain."""
    import bot.domain.phone_country
    import bot.domain.routing

    for module in (bot.domain.routing, bot.domain.phone_country):
        tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        outside = [
            name
            for name in names
            if name.split(".")[0] not in sys.stdlib_module_names
            and name.split(".")[0] != "phonenumbers"
            and not name.startswith("bot.domain")
        ]
        assert outside == [], module.__name__

"""The conversation statechart: protocol transitions, STOP/START, human handoff, the ratchet."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest
from statemachine.exceptions import InvalidStateValue, TransitionNotAllowed

from bot.domain.conversation_chart import (
    LEVELS,
    ConversationChart,
    ConversationModel,
    GangwayChart,
    Recorded,
    Step,
    describe,
    try_send,
)

ALL_STATES = [state.id for state in ConversationChart.states]
ACTIVE_STATES = [s for s in ALL_STATES if s != "opted_out"]


def chart_in(state: str, **fields: Any) -> ConversationChart:
    return ConversationChart(ConversationModel(state=state, **fields))


def names(chart: ConversationChart) -> list[str]:
    return [recorded.name for recorded in chart.model.events]


def test_a_new_conversation_starts_qualifying() -> None:
    """A model with no state yet is started in qualifying, with nothing recorded."""
    model = ConversationModel()
    ConversationChart(model)
    assert model.state == "qualifying"
    assert model.events == []


@pytest.mark.parametrize(
    ("source", "event", "target", "recorded"),
    [
        ("qualifying", "threshold_reached", "terms_offered", ["terms_offered"]),
        ("terms_offered", "consent_given", "invite_sent", ["consent_given", "invite_requested"]),
        ("terms_offered", "consent_declined", "public_only", ["consent_declined"]),
        ("public_only", "threshold_reached", "terms_offered", ["terms_offered"]),
        ("invite_sent", "invite_activated", "handed_off", ["handed_off"]),
        ("invite_sent", "invite_expired", "invite_sent", ["invite_expired"]),
        ("invite_sent", "invite_renewal_requested", "invite_sent", ["invite_requested"]),
        ("handoff_requested", "threshold_reached", "terms_offered", ["terms_offered"]),
        ("qualifying", "human_requested", "handoff_requested", ["handoff_requested"]),
        ("invite_sent", "opt_out", "opted_out", ["opted_out"]),
    ],
)
def test_each_transition_of_the_design_diagram(
    source: str, event: str, target: str, recorded: list[str]
) -> None:
    """Every arrow of the chart drawn in its module's docstring moves to its target and
    records its domain events."""
    chart = chart_in(source)
    chart.send(event)
    assert chart.model.state == target
    assert names(chart) == recorded


def test_decline_then_threshold_again_reoffers_the_terms() -> None:
    """Declining keeps the bot on public questions; the next threshold re-offers the terms."""
    chart = chart_in("qualifying")
    chart.send("threshold_reached")
    chart.send("consent_declined")
    assert chart.model.state == "public_only"
    chart.send("threshold_reached")
    assert chart.model.state == "terms_offered"
    offers = [r for r in chart.model.events if r.name == "terms_offered"]
    assert [r.data["reoffer"] for r in offers] == [False, True]


def test_expired_invite_waits_for_the_prospect_to_ask_for_a_fresh_one() -> None:
    """An expiry is recorded without a new link; asking for one issues it."""
    chart = chart_in("invite_sent")
    chart.send("invite_expired")
    assert chart.model.state == "invite_sent"
    assert names(chart) == ["invite_expired"]
    chart.send("invite_renewal_requested")
    assert chart.model.events[-1] == Recorded("invite_requested", {"reissue": True})


@pytest.mark.parametrize("state", ["terms_offered", "invite_sent", "handed_off"])
def test_threshold_after_the_offer_sends_the_redirect_notice(state: str) -> None:
    """More sensitive data after the terms went out stays put and records a redirect notice."""
    chart = chart_in(state, level="financial")
    chart.send("threshold_reached")
    assert chart.model.state == state
    assert chart.model.events == [
        Recorded("redirect_notice", {"state": state, "level": "financial"})
    ]


@pytest.mark.parametrize("state", ALL_STATES)
def test_stop_from_every_state_and_start_returns_there(state: str) -> None:
    """STOP opts out from anywhere; START resumes the state the conversation was in."""
    chart = chart_in(state)
    chart.send("opt_out")
    assert chart.model.state == "opted_out"
    chart.send("opt_in")
    expected = "qualifying" if state == "opted_out" else state
    assert chart.model.state == expected
    assert chart.model.resume_state is None


def test_repeated_stop_keeps_the_place_to_resume() -> None:
    """A second STOP neither forgets where to resume nor records a second opt-out."""
    chart = chart_in("invite_sent")
    chart.send("opt_out")
    chart.send("opt_out")
    assert chart.model.resume_state == "invite_sent"
    assert names(chart) == ["opted_out"]
    chart.send("opt_in")
    assert chart.model.state == "invite_sent"


@pytest.mark.parametrize(
    "event", ["threshold_reached", "consent_given", "invite_activated", "human_requested"]
)
def test_nothing_but_start_moves_an_opted_out_conversation(event: str) -> None:
    """While opted out, protocol events and human requests are refused."""
    chart = chart_in("opted_out", resume_state="terms_offered")
    with pytest.raises(TransitionNotAllowed):
        chart.send(event)
    assert chart.model.state == "opted_out"


@pytest.mark.parametrize(
    "state", ["qualifying", "terms_offered", "public_only", "invite_sent", "handed_off"]
)
def test_human_request_from_active_states(state: str) -> None:
    """Asking for a person moves to handoff_requested and remembers where from."""
    chart = chart_in(state)
    chart.send("human_requested")
    assert chart.model.state == "handoff_requested"
    assert chart.model.events == [Recorded("handoff_requested", {"previous": state})]


def test_repeated_human_request_is_not_an_error() -> None:
    """Asking again while waiting for a person stays in handoff_requested."""
    chart = chart_in("handoff_requested")
    chart.send("human_requested")
    assert chart.model.state == "handoff_requested"


def test_human_request_refused_when_opted_out() -> None:
    """An opted-out number cannot be handed to an advisor."""
    assert try_send(chart_in("opted_out"), "human_requested") is False


def test_level_ratchet_only_rises() -> None:
    """Raising records the change; a lower or equal level is ignored."""
    model = ConversationModel()
    assert model.raise_level("financial") is True
    assert model.raise_level("identity") is False
    assert model.raise_level("financial") is False
    assert model.level == "financial"
    assert model.events == [Recorded("level_raised", {"previous": "public", "level": "financial"})]


def test_unknown_level_is_an_error() -> None:
    """A level outside the ladder is refused rather than guessed."""
    with pytest.raises(ValueError):
        ConversationModel().raise_level("secret")
    assert LEVELS[0] == "public" and LEVELS[-1] == "order"


def test_persistence_round_trip_continues_where_it_left_off() -> None:
    """A chart built over a reloaded state, level and resume_state carries on."""
    first = ConversationModel()
    chart = ConversationChart(first)
    first.raise_level("identity")
    chart.send("threshold_reached")
    chart.send("opt_out")
    saved = (first.state, first.level, first.resume_state)
    assert saved == ("opted_out", "identity", "terms_offered")

    reloaded = ConversationModel(state=saved[0], level=saved[1], resume_state=saved[2])
    again = ConversationChart(reloaded)
    assert reloaded.events == []  # loading records nothing and runs no entry action
    again.send("opt_in")
    again.send("consent_given")
    assert reloaded.state == "invite_sent"
    assert names(again) == ["opted_in", "consent_given", "invite_requested"]


def test_unknown_persisted_state_is_refused() -> None:
    """A state value the chart does not define fails at construction, naming the value."""
    with pytest.raises(InvalidStateValue, match="archived"):
        chart_in("archived")


def test_base_chart_sets_both_flags() -> None:
    """Gangway charts neither swallow errors nor ignore events (StateChart's defaults do)."""
    assert GangwayChart.catch_errors_as_events is False
    assert GangwayChart.allow_event_without_transition is False


class ExplodingModel(ConversationModel):
    def offer_terms(self, source: Any) -> None:
        raise RuntimeError("terms text missing")


def test_error_in_an_action_propagates_and_the_state_stays() -> None:
    """An action that raises reaches the caller and the conversation does not move."""
    model = ExplodingModel(state="qualifying")
    chart = ConversationChart(model)
    with pytest.raises(RuntimeError, match="terms text missing"):
        chart.send("threshold_reached")
    assert model.state == "qualifying"


def test_event_not_allowed_in_state_raises() -> None:
    """Consent before the terms were offered is refused with TransitionNotAllowed."""
    with pytest.raises(TransitionNotAllowed):
        chart_in("qualifying").send("consent_given")


def test_try_send_refusal_records_nothing() -> None:
    """try_send returns False for a refused event and leaves state and events untouched."""
    chart = chart_in("public_only")
    assert try_send(chart, "invite_activated") is False
    assert chart.model.state == "public_only"
    assert chart.model.events == []
    assert try_send(chart, "threshold_reached") is True
    assert chart.model.state == "terms_offered"


def test_try_send_rejects_an_event_the_chart_does_not_define() -> None:
    """A misspelt event is a bug, not a refusal."""
    with pytest.raises(ValueError, match="consent_givn"):
        try_send(chart_in("terms_offered"), "consent_givn")


def test_describe_lists_every_transition_as_data() -> None:
    """describe() gives (source, event, target) rows covering every state and event."""
    steps = describe()
    assert Step("qualifying", "threshold_reached", "terms_offered") in steps
    assert Step("invite_sent", "invite_expired", "invite_sent") in steps
    assert Step("opted_out", "opt_in", "handed_off") in steps
    assert ("opted_out", "human_requested", "handoff_requested") not in steps
    assert {s.source for s in steps} == set(ALL_STATES)
    assert {s.event for s in steps} == {e.id for e in ConversationChart(ConversationModel()).events}
    assert sum(1 for s in steps if s.event == "opt_out") == len(ALL_STATES)
    assert sum(1 for s in steps if s.event == "human_requested") == len(ACTIVE_STATES)


def test_domain_module_imports_no_io() -> None:
    """The chart module imports only the standard library, statemachine and bot.domain."""
    import bot.domain.conversation_chart as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    outside = [
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] != "statemachine"
        and not name.startswith("bot.domain")
    ]
    assert outside == []

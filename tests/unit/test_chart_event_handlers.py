"""Every event the conversation chart can record has a handler in the service layer."""

from __future__ import annotations

from bot.domain.conversation_chart import (
    CHART_EVENTS,
    LEVELS,
    ConversationChart,
    ConversationModel,
    describe,
)
from bot.service_layer.transition import HANDLERS


def recorded_by_every_transition() -> set[str]:
    """The names recorded by taking each transition of the chart once, and by the ratchet."""
    names: set[str] = set()
    for step in describe(ConversationChart):
        # opt_in goes back to the state the conversation opted out from.
        model = ConversationModel(state=step.source, resume_state=step.target)
        ConversationChart(model).send(step.event)
        names.update(event.name for event in model.events)
    model = ConversationModel()
    model.raise_level(LEVELS[-1])
    names.update(event.name for event in model.events)
    return names


def test_every_listed_chart_event_has_a_handler() -> None:
    """The handler table names exactly the events the chart declares it can record."""
    assert set(HANDLERS) == CHART_EVENTS


def test_every_transition_records_only_events_with_handlers() -> None:
    """Taking every transition records only handled events, and each handled event occurs."""
    recorded = recorded_by_every_transition()
    assert recorded <= set(HANDLERS)
    assert recorded == CHART_EVENTS

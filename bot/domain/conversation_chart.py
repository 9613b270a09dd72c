"""The conversation statechart: where a WhatsApp conversation is in the transition protocol.

    qualifying, public_only, handoff_requested ──threshold_reached──▶ terms_offered
    terms_offered ──consent_given──▶ invite_sent ──invite_activated──▶ handed_off
    terms_offered ──consent_declined──▶ public_only (public answers; the threshold re-offers)
    invite_sent ──invite_expired──▶ invite_sent (the prospect is told; no new link unasked)
    invite_sent ──invite_renewal_requested──▶ invite_sent (a fresh invite is issued)
    handed_off ──invite_renewal_requested──▶ handed_off (a fresh link back into the secure chat)
    any state but opted_out ──human_requested──▶ handoff_requested
    any state ──opt_out──▶ opted_out ──opt_in──▶ the state it was in before opting out

Decisions worth knowing:

- ``threshold_reached`` in terms_offered, invite_sent or handed_off is a self-transition that
  records ``redirect_notice``: the prospect keeps sharing sensitive data on WhatsApp and gets
  the notice again, not an error. In handoff_requested it offers the terms: the prospect
  waits for a person, but sensitive data must still move off WhatsApp first. In opted_out it
  is not allowed (nothing is sent to an opted-out number).
- ``opt_in`` resumes the state stored in ``ConversationModel.resume_state`` (a guard per target),
  not a ``HistoryState``: the library keeps history in ``StateChart.history_values`` on the
  chart instance, only for compound states, so it would not survive a reload from the database.
- Callbacks only change the model and append to ``model.events`` (their names are
  ``ChartEvent``); the service layer's handlers turn those events into rows in the same
  unit of work, and messages and timers act on the rows after it commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, get_args

from statemachine import State, StateChart, TModel
from statemachine.exceptions import InvalidStateValue, TransitionNotAllowed

from bot.domain.levels import LEVEL_NAMES

__all__ = [
    "CHART_EVENTS",
    "LEVELS",
    "ChartEvent",
    "ConversationChart",
    "ConversationModel",
    "GangwayChart",
    "Recorded",
    "Step",
    "describe",
    "try_send",
]

# The sensitivity ladder's names, lowest first, as the conversation row stores them.
LEVELS: tuple[str, ...] = LEVEL_NAMES

# Every event the chart's callbacks can record: each needs a handler in the service layer.
ChartEvent = Literal[
    "level_raised",
    "terms_offered",
    "redirect_notice",
    "consent_given",
    "consent_declined",
    "invite_requested",
    "invite_expired",
    "reentry_requested",
    "handed_off",
    "handoff_requested",
    "opted_out",
    "opted_in",
]
CHART_EVENTS: frozenset[str] = frozenset(get_args(ChartEvent))


class GangwayChart(StateChart[TModel]):
    """The base of every gangway chart: errors propagate and a refused event raises.

    ``StateChart`` defaults both flags to ``True`` (SCXML semantics): an action that raises
    becomes an ``error.execution`` event while the machine still moves, and an event with no
    transition returns ``None``. Neither is acceptable for a compliance record.
    """

    catch_errors_as_events = False
    allow_event_without_transition = False

    def __init__(self, model: Any = None, state_field: str = "state", **kwargs: Any) -> None:
        # The library would fail later with a bare KeyError on a state it does not know.
        value = getattr(model, state_field, None)
        if value is not None and value not in self.states_map:
            raise InvalidStateValue(value)
        super().__init__(model, state_field=state_field, **kwargs)


class Recorded(NamedTuple):
    """A domain event a callback recorded, for a handler to turn into rows."""

    name: ChartEvent
    data: dict[str, Any]


@dataclass
class ConversationModel:
    """What the chart reads and writes; persisted with the conversation.

    ``state`` is ``None`` only for a conversation the chart has not started yet.
    """

    state: str | None = None
    level: str = LEVELS[0]
    resume_state: str | None = None
    events: list[Recorded] = field(default_factory=list)

    def record(self, name: ChartEvent, **data: Any) -> None:
        self.events.append(Recorded(name, data))

    def raise_level(self, level: str) -> bool:
        """Move the ratchet up to ``level``; a lower or equal level changes nothing."""
        if LEVELS.index(level) <= LEVELS.index(self.level):
            return False
        self.record("level_raised", previous=self.level, level=level)
        self.level = level
        return True

    # Guards and actions, named in ConversationChart's transitions.

    def resumes_at(self, target: State) -> bool:
        # A conversation opted out before resume_state existed starts over.
        return target.id == (self.resume_state or ConversationChart.qualifying.id)

    def offer_terms(self, source: State) -> None:
        self.record("terms_offered", level=self.level, reoffer=source.id == "public_only")

    def record_redirect_notice(self, source: State) -> None:
        self.record("redirect_notice", state=source.id, level=self.level)

    def accept_consent(self) -> None:
        self.record("consent_given")
        self.record("invite_requested", reissue=False)

    def record_decline(self) -> None:
        self.record("consent_declined")

    def record_invite_expired(self) -> None:
        self.record("invite_expired")

    def reissue_invite(self) -> None:
        self.record("invite_requested", reissue=True)

    def record_reentry_requested(self) -> None:
        self.record("reentry_requested")

    def record_handed_off(self) -> None:
        self.record("handed_off")

    def request_handoff(self, source: State) -> None:
        self.record("handoff_requested", previous=source.id)

    def record_opt_out(self, source: State) -> None:
        if source.id == "opted_out":
            return  # a repeated STOP: still opted out, still resuming where it was
        self.resume_state = source.id
        self.record("opted_out", previous=source.id)

    def record_opt_in(self, target: State) -> None:
        self.resume_state = None
        self.record("opted_in", state=target.id)


class ConversationChart(GangwayChart[ConversationModel]):
    """One conversation's place in the transition protocol."""

    qualifying = State(initial=True)
    terms_offered = State()
    public_only = State()
    invite_sent = State()
    handed_off = State()
    handoff_requested = State()
    opted_out = State()

    threshold_reached = (
        qualifying.to(terms_offered, on="offer_terms")
        | public_only.to(terms_offered, on="offer_terms")
        | handoff_requested.to(terms_offered, on="offer_terms")
        | terms_offered.to.itself(on="record_redirect_notice")
        | invite_sent.to.itself(on="record_redirect_notice")
        | handed_off.to.itself(on="record_redirect_notice")
    )
    consent_given = terms_offered.to(invite_sent, on="accept_consent")
    consent_declined = terms_offered.to(public_only, on="record_decline")
    invite_activated = invite_sent.to(handed_off, on="record_handed_off")
    invite_expired = invite_sent.to.itself(on="record_invite_expired")
    invite_renewal_requested = invite_sent.to.itself(on="reissue_invite") | handed_off.to.itself(
        on="record_reentry_requested"
    )
    human_requested = handoff_requested.from_(
        qualifying,
        terms_offered,
        public_only,
        invite_sent,
        handed_off,
        handoff_requested,
        on="request_handoff",
    )
    opt_out = opted_out.from_(
        qualifying,
        terms_offered,
        public_only,
        invite_sent,
        handed_off,
        handoff_requested,
        opted_out,
        on="record_opt_out",
    )
    opt_in = opted_out.to(
        qualifying,
        terms_offered,
        public_only,
        invite_sent,
        handed_off,
        handoff_requested,
        cond="resumes_at",
        on="record_opt_in",
    )


def try_send(chart: StateChart[Any], event: str, **kwargs: Any) -> bool:
    """Send ``event``; ``False`` when the current state does not allow it.

    A refused event runs no action, so the model and its recorded events are unchanged.
    An event name the chart does not define is a programming error and raises ``ValueError``.
    """
    if event not in {e.id for e in chart.events}:
        raise ValueError(f"{type(chart).__name__} has no event {event!r}")
    try:
        chart.send(event, **kwargs)
    except TransitionNotAllowed:
        return False
    return True


class Step(NamedTuple):
    """One transition of a chart, as data."""

    source: str
    event: str
    target: str


def describe(chart_class: type[StateChart[Any]] = ConversationChart) -> list[Step]:
    """The chart's transitions in declaration order, for diagrams and documentation."""
    return [
        Step(state.id, str(event), transition.target.id if transition.target else state.id)
        for state in chart_class.states
        for transition in state.transitions
        for event in transition.events
    ]

"""What gangway does with one inbound message, before (and instead of) asking the bot.

``decide`` drives the conversation's chart with the message and says whether the
message may go to Rasa. Everything else follows from the events the chart recorded
(``ConversationModel.events``): the service layer turns them into rows (consent,
invite, timers, outbox) in the same unit of work. The order of the checks is the
policy, and worth reading as such:

1. STOP (and its equivalents) opts out, in any state. An opted-out conversation gets
   nothing back except for START, which opts it in again.
2. A message at or above the flow's threshold never reaches Rasa: it offers the terms,
   or (terms already offered, invite sent, handed off) gets the redirect notice.
3. While the terms are offered, the message is the answer: yes, no, a request for a
   person, or (a short message that is none of these) "please answer yes or no". A
   longer message is a question and goes to the bot; the reminder asks again later.
4. "I want to talk to a person" (the command or the bot's ``request_human`` intent).
5. "Send me a new link" while an invite is out, or once handed off when the built-in
   secure chat is in use (a fresh link back into it).
6. An attachment below the threshold is acknowledged, never forwarded.
7. Everything else goes to the bot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.commands import Command, CommandMatch
from bot.domain.conversation_chart import ConversationChart, ConversationModel, try_send
from bot.domain.flows import Flow
from bot.domain.levels import Level
from bot.domain.sensitivity import Assessment

__all__ = [
    "CONSENT_NO_ID",
    "CONSENT_YES_ID",
    "HUMAN_INTENT",
    "Decision",
    "Inbound",
    "decide",
]

# The ids of the consent quick-reply buttons (Twilio sends them back as ButtonPayload).
CONSENT_YES_ID = "consent_yes"
CONSENT_NO_ID = "consent_no"
HUMAN_INTENT = "request_human"
# Answers are short; a longer message while the terms are offered is a question.
_ANSWER_MAX_WORDS = 4


@dataclass(frozen=True)
class Inbound:
    text: str
    assessment: Assessment
    command: CommandMatch | None = None
    button_payload: str | None = None
    media_kinds: tuple[str, ...] = ()
    # Whether a handed-off prospect can get a fresh link back into the secure channel
    # (the built-in secure chat; an external messenger has its own way back).
    reentry: bool = False


@dataclass
class Decision:
    forward: bool
    # Protocol texts (flow text keys) to send that no chart event implies.
    texts: list[str] = field(default_factory=list)
    consent: bool | None = None  # the prospect's answer, when this message was one


def _consent_answer(flow: Flow, inbound: Inbound) -> bool | None:
    if inbound.button_payload == CONSENT_YES_ID:
        return True
    if inbound.button_payload == CONSENT_NO_ID:
        return False
    return flow.consent_answer(inbound.text)


def _wants_human(flow: Flow, inbound: Inbound) -> bool:
    if inbound.command is not None and inbound.command.command is Command.HUMAN:
        return True
    a = inbound.assessment
    return a.intent == HUMAN_INTENT and a.intent_confidence >= flow.min_confidence


def decide(model: ConversationModel, flow: Flow, inbound: Inbound) -> Decision:
    """Drive ``model``'s chart with one message; ``model.events`` says what happened."""
    chart = ConversationChart(model)
    command = inbound.command.command if inbound.command is not None else None

    if command is Command.OPT_OUT:
        try_send(chart, "opt_out")
        return Decision(forward=False)
    if model.state == ConversationChart.opted_out.id:
        if command is Command.OPT_IN:
            try_send(chart, "opt_in")
        return Decision(forward=False)

    assessment = inbound.assessment
    fresh = assessment.fresh_level(Level.parse(model.level))  # before the level rises
    model.raise_level(assessment.level.label)
    # A consent answer is the whole message and one of the flow's words or buttons, so
    # it discloses nothing, whatever a classifier reads into a bare "yes": it answers.
    offered = model.state == ConversationChart.terms_offered.id
    answer = _consent_answer(flow, inbound) if offered and not inbound.media_kinds else None
    if answer is True:
        try_send(chart, "consent_given")
        return Decision(forward=False, consent=True)
    if answer is False:
        try_send(chart, "consent_declined")
        return Decision(forward=False, consent=False)

    if fresh >= flow.transition_at:
        try_send(chart, "threshold_reached")
        return Decision(forward=False)

    if offered:
        if _wants_human(flow, inbound):
            try_send(chart, "human_requested")
            return Decision(forward=False)
        if inbound.media_kinds or len(inbound.text.split()) <= _ANSWER_MAX_WORDS:
            return Decision(forward=False, texts=["consent_unclear"])
        return Decision(forward=True)

    if _wants_human(flow, inbound):
        try_send(chart, "human_requested")
        return Decision(forward=False)
    if command is Command.NEW_INVITE and (
        model.state == ConversationChart.invite_sent.id
        or (model.state == ConversationChart.handed_off.id and inbound.reentry)
    ):
        try_send(chart, "invite_renewal_requested")
        return Decision(forward=False)
    if inbound.media_kinds:
        return Decision(forward=False, texts=["media_received"])
    return Decision(forward=True)

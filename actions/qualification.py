"""The qualification form's validation: gangway reads the answers, Rasa asks the questions.

Rasa's ``qualification_form`` calls ``validate_qualification_form`` after every message
while the form is active (and once when it starts). This action hands the message to
gangway, ``POST /api/v1/conversations/{id}/qualification`` with the text, the intent and
the question being asked, and turns gangway's answer into events:

- a ``SlotSet`` for every answer gangway holds (so Rasa's tracker agrees with gangway's
  record, which is the one routing, the handoff summary and the CRM read);
- ``requested_slot`` set to gangway's next question, or to None when gangway has every
  answer the flow wants, which ends the form.

gangway decides what a message answers because the flow file, which marketing edits
without retraining, names the products, the words for yes, no and "skip", and the
questions and their order. Reading an answer there keeps Rasa's model out of it: the
model only tells a general question (an interruption) from an answer.

When a message answers nothing, no answer slot is set, and Rasa's form rejects itself:
the rules in data/rules.yml answer the interruption and return to the question. When the
prospect answered a question other than the one asked (changed an earlier answer), the
action says utter_qualification_changed before the form asks its question again.

When gangway cannot be asked (it is down, or refuses), the action sets nothing: the form
then asks the first unanswered question in the domain's order, and the next message
tries again.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text
from urllib.parse import quote

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import call_gangway

logger = logging.getLogger(__name__)

QUALIFICATION_PATH = "/api/v1/conversations/{conversation_id}/qualification"
REQUESTED_SLOT = "requested_slot"
ANSWER_SLOTS = ("product", "existing_client", "country", "language", "contact_time")
CHANGED = "utter_qualification_changed"
FORM = "qualification_form"


def _answered_after_listening(tracker: Tracker) -> bool:
    """True when the form runs on a fresh message, False when it comes back to its
    question after an interruption was answered (the message was already read then)."""
    actions = [
        e.get("name")
        for e in tracker.events
        if e.get("event") == "action" and e.get("name") not in (None, FORM)
    ]
    return not actions or actions[-1] == "action_listen"


def qualification_events(
    state: Optional[Dict[str, Any]], tracker: Tracker
) -> tuple[List[EventType], bool]:
    """The events for gangway's ``state``, and whether to say that an earlier answer
    changed. No events when gangway could not be asked."""
    if not isinstance(state, dict):
        return [], False
    answers = state.get("answers") if isinstance(state.get("answers"), dict) else {}
    changed = [s for s in state.get("changed") or [] if s in ANSWER_SLOTS]
    events: List[EventType] = []
    for slot in ANSWER_SLOTS:
        value = answers.get(slot)
        if value is not None and (slot in changed or value != tracker.get_slot(slot)):
            events.append(SlotSet(slot, value))
    asked = tracker.get_slot(REQUESTED_SLOT)
    other_changed = any(s != asked and tracker.get_slot(s) is not None for s in changed)
    if not changed:
        # Nothing in this message was an answer: setting the answers again would make
        # the form accept it, and the interruption would go unanswered.
        events = []
    next_slot = state.get("next")
    events.append(SlotSet(REQUESTED_SLOT, next_slot if next_slot in ANSWER_SLOTS else None))
    return events, other_changed


class ValidateQualificationForm(Action):
    """Copy gangway's reading of the prospect's answers into the form's slots."""

    def name(self) -> Text:
        return "validate_qualification_form"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[Text, Any],
    ) -> List[EventType]:
        conversation_id = tracker.sender_id
        path = QUALIFICATION_PATH.format(conversation_id=quote(conversation_id, safe=""))
        if _answered_after_listening(tracker):
            message = tracker.latest_message or {}
            intent = (message.get("intent") or {}).get("name")
            body = {
                "text": message.get("text") or "",
                "intent": intent,
                "requested_slot": tracker.get_slot(REQUESTED_SLOT),
            }
            response = await call_gangway(
                "POST", path, conversation_id, "record a qualification answer", json=body
            )
        else:
            response = await call_gangway(
                "GET", path, conversation_id, "read the qualification answers"
            )
        state = None
        if response is not None:
            try:
                state = response.json()
            except ValueError:
                logger.error(
                    "gangway's qualification answer for conversation %s is not JSON",
                    conversation_id,
                )
        events, changed = qualification_events(state, tracker)
        if changed:
            dispatcher.utter_message(response=CHANGED)
        return events

"""The wording of a Rasa response for one conversation (the NLG endpoint's use case).

Most responses are the flow's ``responses`` in the conversation's language. The
qualification questions and texts come from the flow's ``qualification`` section and
are filled from the conversation: the country of the prospect's number (in the
conversation's language), the language's own name, the contact time they chose.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.adapters.db import SessionFactory
from bot.adapters.tables import Conversation
from bot.domain.flows import Flow
from bot.service_layer.flow_in_force import flow_of
from bot.service_layer.ports import FlowSource
from bot.service_layer.qualification import number_country, qualification_of

__all__ = ["Wording", "response_text", "wording_of"]


@dataclass(frozen=True)
class Wording:
    """A response's text (None when the flow does not word it) and the flow file asked."""

    text: str | None
    source: str


def wording_of(
    sessions: SessionFactory, flows: FlowSource, conversation_id: str, name: str
) -> Wording:
    """Response ``name`` for the conversation, from the flow it runs now (its variant's)."""
    with sessions.begin() as s:
        conv = s.get(Conversation, conversation_id)
        flow = flows.current() if conv is None else flow_of(flows, conv)
        return Wording(response_text(s, flow, conversation_id, name), flow.source)


def response_text(session: Session, flow: Flow, conversation_id: str, name: str) -> str | None:
    """Response ``name`` for the conversation, in its language (the flow's default for an
    unknown conversation or language); None when the flow does not word it."""
    conv = session.get(Conversation, conversation_id)
    language = conv.language if conv is not None else None
    q = flow.qualification
    if q is None or name not in q.response_names():
        return flow.response(name, language)
    lang = language if language in flow.languages else flow.default_language
    country = contact_time = None
    if conv is not None and conv.erased_at is None:
        country = number_country(session, conv)
        answered = qualification_of(session, conv.id)
        contact_time = (answered or {}).get("answers", {}).get("contact_time")
    return q.wording(name, lang, number_country=country, contact_time=contact_time)

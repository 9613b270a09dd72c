"""The wording of a Rasa response for one conversation (the NLG endpoint's use case).

Most responses are the flow's ``responses`` in the conversation's language. The
qualification questions and texts come from the flow's ``qualification`` section and
are filled from the conversation: the country of the prospect's number (in the
conversation's language), the language's own name, the contact time they chose.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.adapters.tables import Conversation
from bot.domain.flows import Flow
from bot.service_layer.qualification import number_country, qualification_of

__all__ = ["response_text"]


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

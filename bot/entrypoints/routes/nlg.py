"""Rasa's NLG endpoint: every ``utter_*`` wording comes from ``flows/`` at request time.

Rasa 3.6 (``nlg: url:`` in bot/rasa/endpoints.yml, no ``type``: its callback generator)
POSTs, for each response it wants to send::

    {"response": "utter_greet", "id": null, "arguments": {...},
     "tracker": {"sender_id": "<conversation id>", ...every event...},
     "channel": {"name": "rest"}}

and sends the endpoint's ``token`` as the query parameter ``?token=``. It accepts
``{"text": ..., "buttons"?: [...]}``; a status of 400 or more makes that one response
fail (Rasa logs it and the dialogue goes on without the message).

- The wording is ``flow.response(name, language)`` of the flow the conversation whose
  id is the tracker's ``sender_id`` runs now (the live flow version, its A/B variant's
  wording while that runs), in its ``Conversation.language``; an unknown sender (``rasa
  shell``, a story test) or a conversation whose language is not known yet gets the
  base flow's default language. So an approved wording change goes live at the next
  message, with no retraining and no restart.
- The qualification questions (``utter_ask_<slot>``) and texts
  (``utter_qualification_required|changed|done``) come from the flow's
  ``qualification`` section, filled from the conversation: {number_country} (the
  number's country, named in the conversation's language; the question's
  ``ask_unknown`` when it cannot be told), {language_name}, {contact_time}.
- Rasa splits a text on blank lines into several messages; the flow schema refuses blank
  lines inside a wording, so each wording arrives as one message.
- Auth: the token is ``GANGWAY_SERVICE_TOKEN``, the one Rasa's custom actions present to
  the API; it is always required. Wrong or missing: 401. When gangway has none configured
  every request is refused with 503 and a message saying what to set, instead of trusting
  loopback callers: a reverse proxy or sidecar on the same host makes any caller look
  like 127.0.0.1, and Rasa cannot start without the token anyway (endpoints.yml names
  it), so a service without one is misconfigured and should say so loudly.
- A response the flow does not word: 404 naming it, and an error in gangway's log. A
  made-up or English-only text would put words nobody approved into a regulated
  conversation; saying nothing is safer. ``gangway flows validate`` catches this before
  deployment (every response of the Rasa domain must have a wording), so it only
  happens when the running model's domain is newer than the flow file.
- A body that is not Rasa's request: 422 (after the token check, so an unauthenticated
  caller learns nothing about the format).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Protocol

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from bot.adapters.db import SessionFactory
from bot.config import Settings
from bot.service_layer.ports import FlowSource
from bot.service_layer.wording import wording_of

__all__ = ["NlgContainer", "NlgRequest", "router"]

router = APIRouter()
log = logging.getLogger(__name__)


class NlgContainer(Protocol):
    """What this route needs from ``app.state.container``."""

    @property
    def settings(self) -> Settings: ...
    @property
    def sessions(self) -> SessionFactory: ...
    @property
    def flows(self) -> FlowSource: ...


class NlgTracker(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the rest of the tracker is not needed

    # No control characters: PostgreSQL refuses a NUL in the conversation look-up.
    sender_id: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")


class NlgRequest(BaseModel):
    """The part of Rasa's NLG request gangway reads."""

    model_config = ConfigDict(extra="ignore")

    response: str = Field(min_length=1, max_length=200)
    arguments: dict[str, Any] = Field(default_factory=dict)
    tracker: NlgTracker


def _check_token(request: Request, settings: Settings) -> None:
    expected = settings.gangway_service_token
    if expected is None:
        raise HTTPException(
            503,
            "gangway has no service token: set GANGWAY_SERVICE_TOKEN to the same value "
            "for gangway and Rasa",
        )
    presented = request.query_params.get("token", "")
    if not hmac.compare_digest(presented.encode(), expected.get_secret_value().encode()):
        raise HTTPException(401, "a valid ?token= is required")


@router.post("/nlg")
async def nlg(request: Request) -> dict[str, str]:
    """The wording of one Rasa response, in the conversation's language."""
    container: NlgContainer = request.app.state.container
    _check_token(request, container.settings)
    # Read by hand rather than as a body parameter, so the token is checked first.
    try:
        body = NlgRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None

    found = await run_in_threadpool(
        wording_of, container.sessions, container.flows, body.tracker.sender_id, body.response
    )
    if found.text is None:
        log.error("Rasa asked for %r, which %s does not word", body.response, found.source)
        raise HTTPException(
            404,
            f"no wording for {body.response!r} in {found.source}: add it under `responses` "
            "with a line per language",
        )
    return {"text": found.text}

"""Custom actions of gangway's Rasa assistant (run by Rasa's action server).

Run with:  python -m actions.server --port 5055   (from the repository root, in Rasa's
virtual environment, with GANGWAY_ACTION_SECRET set; see actions/server.py)

These actions talk to gangway only over HTTP and import nothing from gangway's
``bot`` package: the action server runs in Rasa's own virtual environment
(Python 3.10), which does not have gangway installed. HTTP goes through
httpx, pinned in bot/rasa/requirements.txt.

- action_request_human: "talk to a person" -> POST /api/v1/human-requests
- action_invite_status: "what happened to my link?" ->
  GET /api/v1/conversations/{id}/invite-status, then one utter_invite_status_* response
  (its wording comes from gangway's NLG endpoint, as every response's)
- validate_qualification_form (actions/qualification.py): the qualification form's
  answers -> POST /api/v1/conversations/{id}/qualification

Environment (read at call time, so a restart is not needed to change them):
    GANGWAY_URL            base URL of gangway's HTTP API
                           (default http://127.0.0.1:8000)
    GANGWAY_SERVICE_TOKEN  bearer token the actions present to gangway
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Text
from urllib.parse import quote

import httpx
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

logger = logging.getLogger(__name__)

DEFAULT_GANGWAY_URL = "http://127.0.0.1:8000"
HUMAN_REQUESTS_PATH = "/api/v1/human-requests"
INVITE_STATUS_PATH = "/api/v1/conversations/{conversation_id}/invite-status"
REQUEST_TIMEOUT_SECONDS = 5.0

# Slot read by data/rules.yml to choose the reply.
HUMAN_REQUEST_STATUS_SLOT = "human_request_status"
RECORDED = "recorded"
FAILED = "failed"

# The answers to "what happened to my link?" (bot/rasa/domain.yml, worded in flows/).
INVITE_ACTIVE = "utter_invite_status_active"
INVITE_EXPIRED = "utter_invite_status_expired"
INVITE_USED = "utter_invite_status_used"
INVITE_NONE = "utter_invite_status_none"
INVITE_FAILED = "utter_invite_status_failed"


def _gangway_url() -> str:
    return (os.environ.get("GANGWAY_URL") or DEFAULT_GANGWAY_URL).rstrip("/")


async def call_gangway(
    method: str,
    path: str,
    conversation_id: str,
    what: str,
    json: Optional[Dict[str, Any]] = None,
) -> Optional[httpx.Response]:
    """One request to gangway's API with the service token.

    Returns the response when gangway answered 2xx, None on anything else (non-2xx,
    timeout, connection error, missing token, unexpected error), each logged with
    ``what`` was being done. Never raises.
    """
    url = _gangway_url() + path
    token = os.environ.get("GANGWAY_SERVICE_TOKEN", "")
    if not token:
        logger.error(
            "GANGWAY_SERVICE_TOKEN is not set; cannot %s (conversation %s)", what, conversation_id
        )
        return None

    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS) as client:
            response = await client.request(method, url, json=json, headers=headers)
        if response.is_success:
            return response
        logger.error(
            "gangway refused to %s (conversation %s): HTTP %s from %s: %r",
            what,
            conversation_id,
            response.status_code,
            url,
            response.text[:200],
        )
    except httpx.TimeoutException:
        logger.error(
            "timeout after %.0f s trying to %s at %s (conversation %s)",
            REQUEST_TIMEOUT_SECONDS,
            what,
            url,
            conversation_id,
        )
    except httpx.HTTPError as exc:
        logger.error(
            "could not %s at %s (conversation %s): %s: %s",
            what,
            url,
            conversation_id,
            type(exc).__name__,
            exc,
        )
    except Exception:  # noqa: BLE001 - an action must never crash the server
        logger.exception(
            "unexpected error trying to %s at %s (conversation %s)", what, url, conversation_id
        )
    return None


async def post_human_request(conversation_id: str, text: Optional[str]) -> bool:
    """Tell gangway that the prospect asked for a person.

    Returns True when gangway answered 2xx, False on anything else (non-2xx — 409 when
    the conversation has opted out —, timeout, connection error, missing token,
    unexpected error). Never raises.
    """
    response = await call_gangway(
        "POST",
        HUMAN_REQUESTS_PATH,
        conversation_id,
        "record the request for a person",
        json={"conversation_id": conversation_id, "text": text or ""},
    )
    return response is not None


async def fetch_invite_status(conversation_id: str) -> Optional[Dict[str, Any]]:
    """gangway's ``{"state", "invite", "handoff"}`` for the conversation, or None when it
    could not be had (logged). Never raises."""
    path = INVITE_STATUS_PATH.format(conversation_id=quote(conversation_id, safe=""))
    response = await call_gangway("GET", path, conversation_id, "read the invite status")
    if response is None:
        return None
    try:
        status = response.json()
    except ValueError:
        logger.error(
            "gangway's invite status for conversation %s is not JSON: %r",
            conversation_id,
            response.text[:200],
        )
        return None
    if not isinstance(status, dict):
        logger.error(
            "gangway's invite status for conversation %s is not an object", conversation_id
        )
        return None
    return status


def invite_status_response(status: Optional[Dict[str, Any]]) -> str:
    """The utter_invite_status_* response that answers ``status`` (None: it is unknown)."""
    if status is None:
        return INVITE_FAILED
    invite = status.get("invite")
    if status.get("state") == "handed_off":
        return INVITE_USED
    if not isinstance(invite, dict):
        return INVITE_NONE
    standing = invite.get("status")
    if standing == "active":
        return INVITE_ACTIVE
    if standing == "used":
        return INVITE_USED
    if standing in ("expired", "superseded"):
        return INVITE_EXPIRED
    logger.error("unknown invite status %r from gangway", standing)
    return INVITE_FAILED


class ActionRequestHuman(Action):
    """Record the prospect's request for a person with gangway.

    Sets ``human_request_status`` to "recorded" (gangway answered 2xx) or
    "failed"; the rules then utter utter_human_requested or
    utter_human_request_failed.
    """

    def name(self) -> Text:
        return "action_request_human"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[Text, Any],
    ) -> List[EventType]:
        text = (tracker.latest_message or {}).get("text")
        recorded = await post_human_request(tracker.sender_id, text)
        if recorded:
            logger.info("request for a person recorded (conversation %s)", tracker.sender_id)
        return [SlotSet(HUMAN_REQUEST_STATUS_SLOT, RECORDED if recorded else FAILED)]


class ActionInviteStatus(Action):
    """Answer "what happened to my link?" from gangway's record of the conversation.

    Utters one of utter_invite_status_active, _expired, _used, _none or _failed (the
    last when gangway could not be asked). The link itself is never repeated: it is
    the prospect's key to the secure channel, and WhatsApp is not where it belongs twice.
    """

    def name(self) -> Text:
        return "action_invite_status"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[Text, Any],
    ) -> List[EventType]:
        status = await fetch_invite_status(tracker.sender_id)
        response = invite_status_response(status)
        logger.info("invite status of conversation %s: %s", tracker.sender_id, response)
        dispatcher.utter_message(response=response)
        return []

"""Custom actions of gangway's Rasa assistant (run by Rasa's action server).

Run with:  rasa run actions --actions actions   (from the repository root)

These actions talk to gangway only over HTTP and import nothing from gangway's
``bot`` package: the action server runs in Rasa's own virtual environment
(Python 3.10), which does not have gangway installed. HTTP goes through
httpx, pinned in bot/rasa/requirements.txt.

Environment (read at call time, so a restart is not needed to change them):
    GANGWAY_URL            base URL of gangway's HTTP API
                           (default http://127.0.0.1:8000)
    GANGWAY_SERVICE_TOKEN  bearer token the actions present to gangway
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Text

import httpx
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

logger = logging.getLogger(__name__)

DEFAULT_GANGWAY_URL = "http://127.0.0.1:8000"
HUMAN_REQUESTS_PATH = "/api/v1/human-requests"
REQUEST_TIMEOUT_SECONDS = 5.0

# Slot read by data/rules.yml to choose the reply.
HUMAN_REQUEST_STATUS_SLOT = "human_request_status"
RECORDED = "recorded"
FAILED = "failed"


def _gangway_url() -> str:
    return (os.environ.get("GANGWAY_URL") or DEFAULT_GANGWAY_URL).rstrip("/")


async def post_human_request(conversation_id: str, text: Optional[str]) -> bool:
    """Tell gangway that the prospect asked for a person.

    Returns True when gangway answered 2xx, False on anything else (non-2xx,
    timeout, connection error, missing token, unexpected error). Never raises.
    """
    url = _gangway_url() + HUMAN_REQUESTS_PATH
    token = os.environ.get("GANGWAY_SERVICE_TOKEN", "")
    if not token:
        logger.error(
            "GANGWAY_SERVICE_TOKEN is not set; cannot record the request for a "
            "person (conversation %s)",
            conversation_id,
        )
        return False

    payload = {"conversation_id": conversation_id, "text": text or ""}
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS) as client:
            response = await client.post(url, json=payload, headers=headers)
        if response.is_success:
            return True
        logger.error(
            "gangway refused the request for a person (conversation %s): HTTP %s from %s: %r",
            conversation_id,
            response.status_code,
            url,
            response.text[:200],
        )
        return False
    except httpx.TimeoutException:
        logger.error(
            "timeout after %.0f s posting the request for a person to %s (conversation %s)",
            REQUEST_TIMEOUT_SECONDS,
            url,
            conversation_id,
        )
    except httpx.HTTPError as exc:
        logger.error(
            "could not post the request for a person to %s (conversation %s): %s: %s",
            url,
            conversation_id,
            type(exc).__name__,
            exc,
        )
    except Exception:  # noqa: BLE001 - an action must never crash the server
        logger.exception(
            "unexpected error posting the request for a person to %s (conversation %s)",
            url,
            conversation_id,
        )
    return False


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

"""Twilio Content API templates (``https://content.twilio.com/v1/Content``), used for
WhatsApp quick-reply buttons.

The requests go through the twilio 9 client (``client.content.v1.contents``) and the
same `HttpxTwilioHttpClient` seam as sending, so a configured ``base_url`` (the local
sandbox) receives them with their paths unchanged. A quick-reply template here has one
variable, ``{{1}}``, holding the whole text, and a ``twilio/text`` fallback with the same
body for channels that cannot show buttons.

Templates are looked up by ``friendly_name`` before one is created; the caller chooses
names that change whenever the wording does (e.g. a hash of language and titles) and
caches the SIDs. Errors are those of ``bot.service_layer.errors`` (see `twilio_whatsapp`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from twilio.rest import Client
from twilio.rest.content.v1.content import ContentList

from bot.service_layer.errors import PermanentError
from integrations.twilio_whatsapp import HttpxTwilioHttpClient, mapped_errors

__all__ = ["MAX_QUICK_REPLY_BODY", "MAX_SESSION_BUTTONS", "MAX_TITLE", "TwilioContent"]

# WhatsApp's limits for quick replies sent inside the 24-hour session (no approval).
MAX_SESSION_BUTTONS = 3
MAX_TITLE = 20
MAX_BUTTON_ID = 200
MAX_QUICK_REPLY_BODY = 1024
# Content API list pages; Twilio allows up to 500 but the default is 50.
PAGE_SIZE = 100
SAMPLE_TEXT = "Terms summary and consent question"


def _check_buttons(buttons: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    if not 1 <= len(buttons) <= MAX_SESSION_BUTTONS:
        raise ValueError(f"a quick reply needs 1 to {MAX_SESSION_BUTTONS} buttons")
    actions = []
    for title, button_id in buttons:
        if not title or len(title) > MAX_TITLE:
            raise ValueError(f"button title must be 1-{MAX_TITLE} characters: {title!r}")
        if not button_id or len(button_id) > MAX_BUTTON_ID:
            raise ValueError(f"button id must be 1-{MAX_BUTTON_ID} characters: {button_id!r}")
        actions.append({"type": "QUICK_REPLY", "title": title, "id": button_id})
    if len({a["id"] for a in actions}) != len(actions):
        raise ValueError("button ids must be distinct")
    return actions


class TwilioContent:
    """The account's Content API templates.

    ``base_url`` and ``http`` work as for `TwilioWhatsApp`: Twilio itself by default,
    the sandbox or a test's fake app otherwise.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        base_url: str = "https://content.twilio.com",
        http: httpx.Client | None = None,
    ) -> None:
        if not (account_sid and auth_token):
            raise ValueError("account_sid and auth_token are required")
        self.http_client = HttpxTwilioHttpClient(base_url, http=http)
        # A non-empty mapping so twilio reads nothing from the process environment.
        environment = {"TWILIO_ACCOUNT_SID": account_sid, "TWILIO_AUTH_TOKEN": auth_token}
        self.client = Client(
            account_sid, auth_token, http_client=self.http_client, environment=environment
        )

    def find(self, friendly_name: str) -> str | None:
        """The SID of the first template named ``friendly_name``, or None."""
        with mapped_errors("list content templates"):
            for content in self.client.content.v1.contents.stream(page_size=PAGE_SIZE):
                if content.friendly_name == friendly_name and content.sid:
                    return str(content.sid)
        return None

    def ensure_quick_reply(
        self, friendly_name: str, language: str, buttons: Sequence[tuple[str, str]]
    ) -> str:
        """The SID (``HX…``) of a quick-reply template named ``friendly_name``, creating
        it when the account has none: body ``{{1}}``, one button per (title, id).

        An existing template with that name is returned as it is, whatever its
        buttons: the name is what identifies the wording.
        """
        actions = _check_buttons(buttons)
        if not friendly_name or not language:
            raise ValueError("friendly_name and language are required")
        found = self.find(friendly_name)
        if found is not None:
            return found
        request: dict[str, Any] = {
            "friendly_name": friendly_name,
            "language": language,
            "variables": {"1": SAMPLE_TEXT},
            "types": {
                "twilio/quick-reply": {"body": "{{1}}", "actions": actions},
                "twilio/text": {"body": "{{1}}"},
            },
        }
        with mapped_errors("create content template"):
            created = self.client.content.v1.contents.create(
                ContentList.ContentCreateRequest(request)
            )
        if not created.sid:
            raise PermanentError("twilio", "Twilio created the template but returned no sid")
        return str(created.sid)

    def delete(self, sid: str) -> None:
        """Delete one template (e.g. an outdated wording)."""
        with mapped_errors("delete content template"):
            self.client.content.v1.contents(sid).delete()

    def close(self) -> None:
        """Close the httpx client if this object created it."""
        self.http_client.close()

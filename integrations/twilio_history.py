"""Twilio's record of the business number's messages, read with the real twilio 9 client.

Twilio's Messages list filters on the send date (``DateSent>`` / ``DateSent<``, both
"on or" the given second, and only whole seconds count) and on ``To`` or ``From``, and
pages through ``next_page_uri``; the client's ``stream`` follows those links. Both
directions take one list each: ``To`` the business number (inbound) and ``From`` it
(outbound). The range is widened to whole seconds (start rounded down, end up), as
Twilio keeps no finer time, so consecutive ranges may share a second but never leave
one out. The bounds asked for are a second wider still and the range is cut here, so
it does not matter whether Twilio counts its bounds in or out.

A message Twilio has accepted but not sent yet has no send date and is in no such
list; `lookup` fetches one message by its sid, which finds it.

Errors are `bot.service_layer.errors` (see ``integrations.twilio_whatsapp.mapped_errors``);
`lookup` answers None for Twilio's 404 instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from twilio.rest import Client

from bot.service_layer.errors import PermanentError
from integrations.twilio_whatsapp import HttpxTwilioHttpClient, mapped_errors

__all__ = ["ListedMessage", "TwilioMessageHistory"]

_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class ListedMessage:
    """One message as Twilio lists it; ``date_sent`` is UTC, to the second."""

    sid: str
    direction: Literal["inbound", "outbound"]
    from_: str
    to: str
    date_sent: datetime | None
    status: str | None


def _listed(instance: Any) -> ListedMessage:
    # Twilio's directions: inbound, outbound-api, outbound-call, outbound-reply.
    direction: Literal["inbound", "outbound"] = (
        "inbound" if (instance.direction or "") == "inbound" else "outbound"
    )
    sent = instance.date_sent
    return ListedMessage(
        sid=instance.sid,
        direction=direction,
        from_=instance.from_ or "",
        to=instance.to or "",
        date_sent=sent.astimezone(UTC) if sent is not None else None,
        status=instance.status,
    )


def _whole_second(moment: datetime, *, up: bool = False) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    # twilio formats bounds with strftime(...Z), which ignores the zone: convert first.
    second = moment.astimezone(UTC).replace(microsecond=0)
    return second + _SECOND if up and second < moment else second


class TwilioMessageHistory:
    """The business number's messages at Twilio (or at a Twilio-compatible API).

    ``base_url`` points the client elsewhere (the local sandbox); ``http`` is the httpx
    client to send through (shared with the sender in the service). ``page_size``
    defaults to Twilio's largest page: the fewest round trips for a day's messages.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        business_number: str,
        base_url: str = "https://api.twilio.com",
        http: httpx.Client | None = None,
        page_size: int = 1000,
    ) -> None:
        if not (account_sid and auth_token and business_number):
            raise ValueError("account_sid, auth_token and business_number are all required")
        self.business_number = business_number
        self.page_size = page_size
        self.http_client = HttpxTwilioHttpClient(base_url, http=http)
        # A non-empty mapping, so twilio reads neither credentials nor edge/region
        # settings from the process environment.
        environment = {"TWILIO_ACCOUNT_SID": account_sid, "TWILIO_AUTH_TOKEN": auth_token}
        self.client = Client(
            account_sid, auth_token, http_client=self.http_client, environment=environment
        )

    def sent_between(self, start: datetime, end: datetime) -> list[ListedMessage]:
        """Messages to or from the business number sent in [start, end), widened to
        whole seconds; oldest first."""
        low, high = _whole_second(start), _whole_second(end, up=True)
        if low >= high:
            return []
        found: dict[str, ListedMessage] = {}
        with mapped_errors("list"):
            for party in ({"to": self.business_number}, {"from_": self.business_number}):
                for instance in self.client.messages.stream(
                    date_sent_after=low - _SECOND,
                    date_sent_before=high + _SECOND,
                    page_size=self.page_size,
                    **party,
                ):
                    message = _listed(instance)
                    sent = message.date_sent
                    ours = self.business_number in (message.from_, message.to)
                    if ours and sent is not None and low <= sent < high:
                        found[message.sid] = message
        return sorted(found.values(), key=lambda m: (m.date_sent or low, m.sid))

    def lookup(self, sid: str) -> ListedMessage | None:
        """The message with this sid, or None when Twilio answers 404."""
        try:
            with mapped_errors("fetch"):
                return _listed(self.client.messages(sid).fetch())
        except PermanentError as exc:
            if exc.status == 404:
                return None
            raise

    def close(self) -> None:
        """Close the httpx client if this object created it."""
        self.http_client.close()

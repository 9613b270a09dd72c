"""What gangway keeps of Twilio's webhooks: an inbound WhatsApp message, and a
delivery status callback.

Both are signed by Twilio, but the values that are stored in clear and looked up
(message sids, statuses, error codes) are still checked for the shape Twilio gives
them: a value the database columns cannot hold (too long, or with a NUL character,
which PostgreSQL refuses) is a plain 400, never a server error halfway through a
transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "InboundMessage",
    "InvalidInbound",
    "StatusCallback",
    "parse_inbound",
    "parse_status_callback",
]

# Printable ASCII without spaces: Twilio's sids ("SM" + 32 hex digits), statuses
# ("delivered") and error codes ("63016") are all of it.
_TOKEN = re.compile(r"[\x21-\x7e]+")
SID_MAX = 64  # the width of the sid columns
STATUS_MAX = 32
ERROR_CODE_MAX = 16
NUM_MEDIA_MAX = 1000


class InvalidInbound(ValueError):
    """The webhook is signed but is not a message gangway can take."""


@dataclass(frozen=True)
class InboundMessage:
    message_sid: str
    from_number: str
    to_number: str
    body: str
    profile_name: str | None
    num_media: int
    params: dict[str, str]


@dataclass(frozen=True)
class StatusCallback:
    sid: str
    status: str
    error_code: str | None


def _token(name: str, value: str, longest: int) -> str:
    """`value` if it has the shape of a Twilio identifier and fits its column."""
    if not value:
        raise InvalidInbound(f"{name} is missing")
    if len(value) > longest or not _TOKEN.fullmatch(value):
        raise InvalidInbound(f"{name} is not a Twilio value (printable, at most {longest})")
    return value


def parse_inbound(params: Mapping[str, str]) -> InboundMessage:
    sid = _token(
        "MessageSid", params.get("MessageSid") or params.get("SmsMessageSid") or "", SID_MAX
    )
    sender = params.get("From", "")
    if not sender:
        raise InvalidInbound("From is missing")
    try:
        num_media = int(params.get("NumMedia", "0") or 0)
    except ValueError as exc:
        raise InvalidInbound("NumMedia is not a number") from exc
    if not 0 <= num_media <= NUM_MEDIA_MAX:
        raise InvalidInbound(f"NumMedia is not between 0 and {NUM_MEDIA_MAX}")
    # A tapped quick-reply button arrives with its title in ButtonText.
    body = params.get("Body") or params.get("ButtonText") or ""
    return InboundMessage(
        message_sid=sid,
        from_number=sender,
        to_number=params.get("To", ""),
        body=body,
        profile_name=params.get("ProfileName") or None,
        num_media=num_media,
        params=dict(params),
    )


def parse_status_callback(params: Mapping[str, str]) -> StatusCallback:
    """A delivery status callback's sid, status and error code, checked as above."""
    sid = _token("MessageSid", params.get("MessageSid") or params.get("SmsSid") or "", SID_MAX)
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    status = _token("MessageStatus", status, STATUS_MAX)
    error_code = params.get("ErrorCode") or None
    if error_code is not None:
        error_code = _token("ErrorCode", error_code, ERROR_CODE_MAX)
    return StatusCallback(sid=sid, status=status, error_code=error_code)

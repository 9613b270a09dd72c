"""What gangway keeps of an inbound WhatsApp webhook."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["InboundMessage", "InvalidInbound", "parse_inbound"]


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


def parse_inbound(params: Mapping[str, str]) -> InboundMessage:
    sid = params.get("MessageSid") or params.get("SmsMessageSid") or ""
    sender = params.get("From", "")
    if not sid:
        raise InvalidInbound("MessageSid is missing")
    if not sender:
        raise InvalidInbound("From is missing")
    try:
        num_media = int(params.get("NumMedia", "0") or 0)
    except ValueError as exc:
        raise InvalidInbound("NumMedia is not a number") from exc
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

"""WhatsApp's customer-service window: when a business may write to a user freely.

WhatsApp lets a business send free-form messages to a user only within 24 hours of
that user's last message; outside the window only a pre-approved message template may
be sent (Twilio answers a free-form message there with error 63016). Gangway decides
before it queues a message, from the time it recorded the prospect's last message.

That time is a little later than the one WhatsApp counts from (the webhook reaches
gangway after the prospect pressed send), and a queued message can wait in the outbox
for a retry, so gangway treats the window as closing ``MARGIN`` early: a template
sent a few minutes early costs nothing, a free-form message sent too late is lost.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = [
    "MARGIN",
    "OUTSIDE_WINDOW_CODE",
    "SESSION_WINDOW",
    "failure_reason",
    "free_form_allowed",
    "window_closes_at",
    "window_refusal",
]

SESSION_WINDOW = timedelta(hours=24)
MARGIN = timedelta(minutes=5)
# Twilio's error code for a free-form WhatsApp message outside the window.
OUTSIDE_WINDOW_CODE = "63016"


def window_closes_at(
    last_inbound_at: datetime | None, margin: timedelta = MARGIN
) -> datetime | None:
    """When free-form messages stop being allowed; None when the user never wrote."""
    if last_inbound_at is None:
        return None
    return last_inbound_at + SESSION_WINDOW - margin


def free_form_allowed(
    last_inbound_at: datetime | None, now: datetime, margin: timedelta = MARGIN
) -> bool:
    """Whether a free-form message may be sent ``now``: only strictly before the window
    closes, and never to a user who has not written."""
    closes = window_closes_at(last_inbound_at, margin)
    return closes is not None and now < closes


def window_refusal(
    last_inbound_at: datetime | None, now: datetime, margin: timedelta = MARGIN
) -> str | None:
    """Why no free-form message may be sent ``now``, in plain words; None when one may."""
    if free_form_allowed(last_inbound_at, now, margin):
        return None
    closes = window_closes_at(last_inbound_at, margin)
    if closes is None:
        return (
            "The prospect has not written to us on WhatsApp, so WhatsApp allows only an "
            "approved template to be sent to them."
        )
    return (
        f"WhatsApp's 24-hour window for this conversation closed at {closes:%Y-%m-%d %H:%M} "
        f"UTC (the prospect last wrote at {last_inbound_at:%Y-%m-%d %H:%M} UTC). Until they "
        "write again, WhatsApp allows only an approved template to be sent, not a free-form "
        "message."
    )


def failure_reason(error_code: str | None) -> str | None:
    """A plain explanation of a delivery failure caused by the window; None for others."""
    if error_code == OUTSIDE_WINDOW_CODE:
        return (
            "WhatsApp refused this free-form message (Twilio error 63016): it was sent 24 "
            "hours or more after the prospect's last message, when only an approved "
            "template may be sent. It is not retried."
        )
    return None

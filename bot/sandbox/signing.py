"""Signing what the sandbox sends, exactly as Twilio signs its webhooks."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

__all__ = ["signed_headers", "twilio_signature"]

# Twilio's webhook requests identify themselves with this User-Agent.
USER_AGENT = "TwilioProxy/1.1"


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature for a form POST of `params` to `url`."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def signed_headers(auth_token: str, url: str, params: Mapping[str, str]) -> dict[str, str]:
    """Headers of a Twilio form POST of `params` to `url`, signature included."""
    return {
        "X-Twilio-Signature": twilio_signature(auth_token, url, params),
        "User-Agent": USER_AGENT,
        "Content-Type": "application/x-www-form-urlencoded",
    }

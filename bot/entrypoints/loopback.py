"""Keeping local-only tools local: the WhatsApp sandbox signs webhooks with the
credentials it is given and answers anyone who reaches it, so it may run only where
nothing but this machine can use it.

The sandbox refuses to start unless both ends it talks to are on loopback: the Twilio
API base URL gangway is configured with (otherwise gangway would send to the real
Twilio, and those credentials would be real ones) and the webhook URL it signs for
(otherwise its signatures could be replayed against a gangway elsewhere). It listens
on 127.0.0.1 only, and answers only requests addressed to a loopback host name, so a
web page the developer visits cannot reach it through DNS rebinding.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp

from bot.config import Settings

__all__ = ["LOOPBACK_HOSTS", "is_loopback_host", "is_loopback_url", "local_only", "sandbox_refusal"]

# Host header values a browser on this machine sends to a loopback server.
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this
    machine's loopback interface; "0.0.0.0" and "::" (every interface) are not."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names a loopback host (http or https)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and is_loopback_host(parts.hostname or "")


def sandbox_refusal(settings: Settings) -> str | None:
    """Why the sandbox must not start with these settings, or None when it may."""
    if not is_loopback_url(settings.twilio_api_base_url):
        return (
            f"The sandbox refuses to start: TWILIO_API_BASE_URL is "
            f"{settings.twilio_api_base_url!r}, not a loopback address, so gangway would "
            "send to the real Twilio and these credentials may be real ones. Set "
            f"TWILIO_API_BASE_URL=http://127.0.0.1:{settings.gangway_sandbox_port} "
            "(`gangway up` does this for you)."
        )
    if not is_loopback_url(settings.gangway_public_url):
        return (
            f"The sandbox refuses to start: GANGWAY_PUBLIC_URL is "
            f"{settings.gangway_public_url!r}, not a loopback address; the sandbox signs "
            "webhooks only for a gangway on this machine."
        )
    return None


def local_only(app: ASGIApp) -> ASGIApp:
    """``app`` answering only requests whose Host header is a loopback name (400 else)."""
    return TrustedHostMiddleware(app, allowed_hosts=LOOPBACK_HOSTS)

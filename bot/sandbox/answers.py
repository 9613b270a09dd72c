"""Twilio's answers shared by the sandbox's APIs: Basic auth checks and error JSON."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from bot.sandbox.app import SandboxState

__all__ = ["authenticate", "twilio_error"]


def twilio_error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An error answer in Twilio's (legacy, non RFC 9457) JSON shape."""
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
        headers=headers,
    )


def authenticate(state: SandboxState, request: Request, account_sid: str) -> JSONResponse | None:
    """None when Basic auth is the configured account and matches the path, else a 401."""
    config = state.config
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    user = password = ""
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
    valid = hmac.compare_digest(user.encode(), config.account_sid.encode()) & hmac.compare_digest(
        password.encode(), config.auth_token.encode()
    )
    if valid and account_sid == config.account_sid:
        return None
    challenge = {"WWW-Authenticate": 'Basic realm="Twilio API"'}
    return twilio_error(401, 20003, "Authenticate", challenge)

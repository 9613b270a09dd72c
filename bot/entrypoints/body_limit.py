"""A byte limit on every request body, enforced while it arrives.

Routes read bodies before they can authenticate anyone (a webhook's signature covers its
form; a sign-in form holds the password), so without a limit one client could make the
service hold any amount of memory. This middleware sits under every route: a declared
``Content-Length`` over the limit is answered 413 before a byte is read, and a body sent
in chunks is counted as it is passed on, the request failing with 413 at the first byte
over the limit. Nothing is buffered here, so the route never holds more than the limit.

File uploads (the secure chat's attachments) get a larger limit than every other route,
and so does Rasa's NLG request, which carries the conversation's whole tracker: a long
conversation's tracker outgrows the default limit, and a refused NLG request is a reply
the prospect never gets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "BodyLimits", "upload_route"]

# The routes that take a file: the prospect's secure chat, the console's and the API's.
_UPLOAD_PATHS = re.compile(
    r"^(?:/secure/chat/messages"
    r"|/console/handoffs/\d+/secure-messages"
    r"|/api/v1/handoffs/\d+/secure-messages/attachments)/?$"
)


def upload_route(path: str) -> bool:
    """Whether ``path`` is one of the routes that take a file upload."""
    return _UPLOAD_PATHS.match(path) is not None


# Rasa's NLG request: the route that takes a whole conversation tracker.
_TRACKER_PATHS = re.compile(r"^/nlg/?$")


@dataclass(frozen=True)
class BodyLimits:
    """The most bytes a request body may have: ``upload`` on the file-upload routes,
    ``tracker`` on Rasa's NLG route, ``default`` everywhere else."""

    default: int
    upload: int
    tracker: int

    def for_path(self, path: str) -> int:
        """The limit for a request to ``path``."""
        if upload_route(path):
            return self.upload
        if _TRACKER_PATHS.match(path):
            return self.tracker
        return self.default


class _TooLarge(HTTPException):
    """The body went over its limit while a route was reading it. An HTTPException, so
    that FastAPI's body parsing passes it on (it turns other errors into 400) and the app
    answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _detail(limit))


def _detail(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


class BodyLimitMiddleware:
    """Answers 413 to a request whose body is (or turns out to be) over its limit.

    ``limits`` is asked at each request, so the limits can come from settings loaded
    after the app was built (in its lifespan)."""

    def __init__(self, app: ASGIApp, limits: Callable[[], BodyLimits]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits().for_path(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _TooLarge:
            if started:
                raise  # too late to answer: the server drops the connection
            await _refuse(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": _detail(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

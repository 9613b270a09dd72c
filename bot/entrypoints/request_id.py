"""Each HTTP request's id: the caller's ``X-Request-ID`` when it is a sane token (a
proxy or a client that already named the request), else a fresh one; it is on every
log line written while the request runs, and echoed in the response's
``X-Request-ID`` so a caller can quote it.

A pure ASGI middleware, so the id is set before anything else of the app runs. It is
not reset when the request ends: uvicorn runs each request in a task of its own, whose
context ends with it, and the server's own lines about the request (the access log, an
unhandled error) come after the app has returned.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bot.service_layer.log_context import enter_request, new_request_id

__all__ = ["HEADER", "RequestIdMiddleware", "request_id_of"]

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode("latin-1")
# Short and plain: it is written into every log line and sent back in a header.
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def request_id_of(given: str | None) -> str:
    """The id a request goes by: ``given`` if it is a sane token, else a fresh one."""
    if given is not None and _SANE.fullmatch(given):
        return given
    return new_request_id("req")


class RequestIdMiddleware:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = [v for k, v in scope.get("headers", ()) if k.lower() == _HEADER_KEY]
        request_id = request_id_of(given[0].decode("latin-1") if len(given) == 1 else None)
        echoed = (_HEADER_KEY, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k != _HEADER_KEY]
                message = {**message, "headers": [*headers, echoed]}
            await send(message)

        enter_request(request_id)
        await self.app(scope, receive, send_with_id)

"""The body limit middleware on its own, around a small ASGI app that reads every chunk."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from bot.entrypoints.body_limit import BodyLimitMiddleware, BodyLimits, upload_route

LIMITS = BodyLimits(default=4096, upload=1 << 20, tracker=1 << 16)


class Reader:
    """An app that reads the whole body, chunk by chunk, then answers 200."""

    def __init__(self) -> None:
        self.chunks = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        more = True
        while more:
            message = await receive()
            self.chunks += 1
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(app: Reader, path: str, chunks: list[bytes], length: int | None = None) -> tuple[int, int]:
    """The status answered and how many chunks the client was asked for."""
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    pending = list(chunks)
    asked = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal asked
        asked += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(BodyLimitMiddleware(app, lambda: LIMITS)(scope, receive, send))
    return sent[0]["status"], asked


def test_declared_length_over_the_limit_is_refused_without_reading() -> None:
    """A Content-Length over the limit gets 413 and not one chunk is read."""
    app = Reader()
    assert call(app, "/webhooks/twilio/whatsapp", [b"x" * 5000], length=5000) == (413, 0)
    assert app.chunks == 0


def test_chunked_body_is_refused_at_the_first_chunk_over_the_limit() -> None:
    """Without a length, chunks are counted: the fifth 1 kB chunk passes 4 kB, and the
    client is never asked for the rest."""
    status, asked = call(Reader(), "/api/v1/human-requests", [b"x" * 1024] * 100)
    assert (status, asked) == (413, 5)


def test_body_within_the_limit_reaches_the_route() -> None:
    """A body up to the limit, declared or chunked, is passed on untouched."""
    assert call(Reader(), "/console/sign-in", [b"x" * 4096], length=4096)[0] == 200
    assert call(Reader(), "/console/sign-in", [b"x" * 2048] * 2)[0] == 200


def test_upload_routes_have_the_larger_limit() -> None:
    """The three routes taking a file accept bodies over the default limit; others not."""
    body = [b"x" * 1024] * 64
    for path in (
        "/secure/chat/messages",
        "/console/handoffs/7/secure-messages",
        "/api/v1/handoffs/7/secure-messages/attachments",
    ):
        assert upload_route(path)
        assert call(Reader(), path, body)[0] == 200
    assert not upload_route("/api/v1/handoffs/7/secure-messages")
    assert call(Reader(), "/api/v1/handoffs/7/secure-messages", body)[0] == 413


def test_rasa_nlg_route_takes_a_long_conversations_tracker() -> None:
    """Rasa's NLG request carries the whole tracker: a long conversation's is over the
    default limit and must still reach the route, or the prospect's reply is lost."""
    tracker = [b"x" * 1024] * 60
    assert call(Reader(), "/nlg", tracker)[0] == 200
    assert call(Reader(), "/api/v1/human-requests", tracker)[0] == 413
    assert call(Reader(), "/nlg", [b"x" * 1024] * 65)[0] == 413

"""What the log lines of one unit of work share: its request id and the conversation
it is about.

An HTTP request's id comes from its ``X-Request-ID`` header or is made for it (the
entrypoints' middleware); background work (a turn of a conversation, a drain of the
webhook intake, a timer, a beat of the retention run) makes its own, named for the kind of work
(``turn-3f9a1c2e``). The conversation id is the opaque ``c-…`` id, never a number.
The log handler's filter (bot.entrypoints.logs) reads both into every line.

Context variables, so each thread and each request sees only its own; the context
managers put back what was there before, since pool threads are reused.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = [
    "current_conversation_id",
    "current_request_id",
    "enter_request",
    "new_request_id",
    "request_scope",
    "unit_of_work",
    "working_on",
]

_request_id: ContextVar[str | None] = ContextVar("gangway_request_id", default=None)
_conversation_id: ContextVar[str | None] = ContextVar("gangway_conversation_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def current_conversation_id() -> str | None:
    return _conversation_id.get()


def new_request_id(kind: str) -> str:
    """A fresh id for one unit of ``kind`` work: short, random, safe in a header."""
    return f"{kind}-{secrets.token_hex(4)}"


def enter_request(request_id: str) -> None:
    """``request_id`` for the rest of the current context, no conversation yet: for a
    context that ends with its request (an ASGI request's task), where nothing is to be
    put back."""
    _request_id.set(request_id)
    _conversation_id.set(None)


@contextmanager
def request_scope(request_id: str) -> Iterator[None]:
    """``request_id`` for the log lines of what runs inside, and no conversation yet."""
    request_token = _request_id.set(request_id)
    conversation_token = _conversation_id.set(None)
    try:
        yield
    finally:
        _conversation_id.reset(conversation_token)
        _request_id.reset(request_token)


@contextmanager
def unit_of_work(kind: str, conversation_id: str | None = None) -> Iterator[str]:
    """A fresh request id for a unit of background work (and its conversation, when it
    works on one) until its end; yields the id."""
    request_id = new_request_id(kind)
    with request_scope(request_id):
        working_on(conversation_id)
        yield request_id


def working_on(conversation_id: str | None) -> None:
    """The rest of the current unit of work (or request) is about ``conversation_id``;
    its end puts back what was there before."""
    _conversation_id.set(conversation_id)

"""The app the fuzz tests attack: the real routes and service layer on a migrated
SQLite database, with fake Rasa, Twilio and sensitivity model behind the ports, a
user of every role with an API token, and a conversation with an open handoff so
that routes taking an id have something to find.

The stack is built once per module (hypothesis runs many examples against one
app), and served without its lifespan: no worker, drain or scheduler threads run (only
the webhook intake's writer), so the rows a test counts change only through the
requests it sends and the ingesting the count does first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.adapters import accounts
from bot.adapters.db import make_engine, normalise_url
from bot.adapters.migrate import upgrade
from bot.adapters.tables import (
    AuditLog,
    ChannelCallback,
    Conversation,
    InboxMessage,
    StatusEvent,
)
from bot.bootstrap import Container, build
from bot.config import load_settings
from bot.entrypoints.app import create_app
from tests.audit_helpers import chained
from tests.conftest import PG_URL, reset_postgres
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding
from tests.integration.test_console import PASSWORD, add_handoff

AUTH_TOKEN = "fuzz-auth-token-0123456789abcdef"
SERVICE_TOKEN = "fuzz-service-token-0123456789"
CHANNEL_SECRET = "fuzz-channel-secret-0123456789abcdef"
PUBLIC = "https://gangway.example.com"
ROLES = ("advisor", "supervisor", "compliance", "admin", "marketing")

# Each fuzz test is bounded: examples per test (per API operation for schemathesis), no
# per-example deadline (a shared CI machine is slow at times, never wrong for it), and
# no shrinking (a failure is reported as found, with a curl line to reproduce it).
# Together the fuzz tests stay within about three minutes on two cores.
FUZZ = settings(
    max_examples=30,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)

# Text a client can send: any Unicode but lone surrogates (no client can encode them),
# and, often, short strings of the characters that break parsers and databases: NUL
# (PostgreSQL refuses it), line breaks, quotes, form and URL delimiters, non-BMP.
HOSTILE = "\x00\x01\x1f\x7f\r\n\t %&=+;:,'\"<>/\\?#{}[]äß€\u200b\U0001d11e"
TEXT = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=300),
    st.text(st.sampled_from(HOSTILE), min_size=1, max_size=40),
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass
class FuzzStack:
    """What a fuzz test needs: the app, its container, and who can call it."""

    app: FastAPI
    asgi: Callable[[Scope, Receive, Send], Awaitable[None]]
    container: Container
    tokens: dict[str, str]
    handoff_id: int
    conversation_id: str

    def count(self) -> dict[str, int]:
        """The rows a request from outside can add: conversations, inbox messages,
        delivery statuses, activation callbacks, and the audit records of them, once
        what the webhooks took in is ingested and chained."""
        self.container.ingest.drain()
        with chained(self.container.sessions).begin() as s:
            return {
                "conversations": s.execute(
                    select(func.count()).select_from(Conversation)
                ).scalar_one(),
                "inbox": s.execute(select(func.count()).select_from(InboxMessage)).scalar_one(),
                "statuses": s.execute(select(func.count()).select_from(StatusEvent)).scalar_one(),
                "audit": s.execute(select(func.count()).select_from(AuditLog)).scalar_one(),
                "callbacks": s.execute(
                    select(func.count()).select_from(ChannelCallback)
                ).scalar_one(),
            }


def _without_lifespan(app: FastAPI) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The app with its lifespan answered but not run: no worker or schedulers start."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await app(scope, receive, send)

    return asgi


def build_stack(directory: Path, url: str) -> FuzzStack:
    """A fresh stack on the empty database at `url`, its state in `directory`, seeded
    with users, tokens and a handoff."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    clock = FakeClock()
    config = load_settings(
        {
            "DATABASE_URL": url,
            "GANGWAY_PUBLIC_URL": PUBLIC,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "GANGWAY_SERVICE_TOKEN": SERVICE_TOKEN,
            "GANGWAY_CHANNEL_WEBHOOK_SECRET": CHANNEL_SECRET,
            "GANGWAY_STATE_DIR": str(directory),
            "GANGWAY_SENDER_RATE": "off",
        }
    )
    container = build(
        config,
        clock=clock,
        dialogue=FakeDialogue(),
        understanding=FakeUnderstanding(),
        model=FakeModel(),
        sender=FakeSender(clock.now),
    )
    app = create_app(lambda: container)
    app.state.container = container
    container.intake.start()  # webhooks are acknowledged only through it
    tokens: dict[str, str] = {}
    for role in ROLES:
        with container.sessions.begin() as s:
            user = accounts.create_user(
                s,
                email=f"{role}@example.com",
                display_name=role.title(),
                role=role,
                password=PASSWORD,
                now=clock.now(),
                team="general",
                countries=["*"] if role == "advisor" else [],
                products=["*"] if role == "advisor" else [],
                languages=["en"],
            )
            tokens[role] = accounts.create_api_token(s, user, "fuzz", clock.now())
    handoff_id = add_handoff(container, 1)  # type: ignore[arg-type]
    return FuzzStack(
        app=app,
        asgi=_without_lifespan(app),
        container=container,
        tokens=tokens,
        handoff_id=handoff_id,
        conversation_id="conv-1",
    )


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=pytest.mark.skipif(not PG_URL, reason="GANGWAY_TEST_DATABASE_URL is not set"),
        ),
    ],
)
def fuzz_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzStack]:
    """One seeded stack per module and database kind (PostgreSQL refuses some text that
    SQLite takes, such as NUL characters, so both are fuzzed)."""
    directory = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'gangway.db'}"
    else:
        assert PG_URL
        url = normalise_url(PG_URL)
        reset_postgres(url)
    stack = build_stack(directory, url)
    yield stack
    stack.container.intake.stop()
    stack.container.engine.dispose()


__all__ = [
    "AUTH_TOKEN",
    "CHANNEL_SECRET",
    "FUZZ",
    "PASSWORD",
    "PUBLIC",
    "ROLES",
    "SERVICE_TOKEN",
    "TEXT",
    "FuzzStack",
    "build_stack",
]

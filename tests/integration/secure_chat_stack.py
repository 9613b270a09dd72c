"""A whole stack for the secure chat's tests: the WhatsApp protocol (``Stack``), the
invite page, the prospect's chat, and the console with its API, on one app."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bot.adapters import accounts
from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import FlowStore
from bot.adapters.routing_file import RoutingStore
from bot.adapters.tables import Handoff
from bot.config import Settings, load_settings
from bot.entrypoints.routes import (
    console,
    console_api,
    secure_channel,
    secure_chat,
    secure_chat_api,
)
from bot.service_layer.conversation_events import invite_activated
from bot.service_layer.handoffs import Route
from bot.service_layer.transition import Handover
from tests.fakes.clock import FakeClock
from tests.integration.test_protocol import PASSPORT, PUBLIC, SECRET, Stack, _link

PASSWORD = "correct horse battery staple"
PDF = b"%PDF-1.4\n% a test statement\n%%EOF\n"


class QueueRouter:
    def route(self, session: Session, handoff: Handoff, now: datetime) -> Route:
        return Route("general", None, "test", timedelta(minutes=15))

    def escalation_target(self, session: Session, handoff: Handoff) -> int | None:
        return None


class NoEvents:
    def record(self, session: Session, *, event: str, handoff: Handoff, now: datetime) -> None:
        pass


@dataclass
class ChatContainer:
    """What bot.bootstrap.Container gives these routes."""

    sessions: SessionFactory
    clock: FakeClock
    settings: Settings
    flows: FlowStore
    handover: Handover
    invite_secret: bytes = SECRET
    handoff_router: QueueRouter = field(default_factory=QueueRouter)
    handoff_events: NoEvents = field(default_factory=NoEvents)
    routing: RoutingStore = field(default_factory=RoutingStore)

    def on_invite_activated(self, conversation_id: str) -> None:
        with self.sessions.begin() as s:
            invite_activated(
                s,
                conversation_id,
                self.flows.current(),
                self.clock.now(),
                secure_chat_api.links_of(self),
                self.handover,
            )


class World:
    """The prospect on WhatsApp (``stack``) and in their browser, advisors in the console."""

    def __init__(self, sessions: SessionFactory, clock: FakeClock, **env: str) -> None:
        handover = Handover(QueueRouter(), NoEvents(), PUBLIC)
        self.stack = Stack(sessions, clock, handover)
        self.clock = clock
        self.container = ChatContainer(
            sessions,
            clock,
            load_settings({"GANGWAY_PUBLIC_URL": PUBLIC, **env}),
            self.stack.flows,
            handover,
        )
        self.app = FastAPI()
        for module in (secure_channel, secure_chat, console, console_api, secure_chat_api):
            self.app.include_router(module.router)
        self.app.state.container = self.container

    def browser(self) -> TestClient:
        return TestClient(self.app, base_url=PUBLIC)

    def to_secure_channel(self) -> str:
        """Sensitive data, consent, and the invite link."""
        self.stack.say(PASSPORT)
        [invite] = self.stack.say("yes")
        return _link(invite)

    def add_user(self, email: str, role: str = "advisor") -> int:
        with self.container.sessions.begin() as s:
            user = accounts.create_user(
                s,
                email=email,
                display_name=email.split("@")[0].title(),
                role=role,
                password=PASSWORD,
                team=None,
                now=self.clock.now(),
                # Licensed for everything: these tests are about the chat, not licences.
                countries=["*"] if role == "advisor" else [],
                products=["*"] if role == "advisor" else [],
            )
            return user.id

    def console(self, email: str) -> TestClient:
        client = TestClient(self.app, base_url=PUBLIC)
        form = client.get("/console/sign-in")
        data = {"email": email, "password": PASSWORD, "csrf": csrf_field(form.text)}
        assert client.post("/console/sign-in", data=data, follow_redirects=False).status_code == 303
        return client

    def api(self, email: str) -> TestClient:
        with self.container.sessions.begin() as s:
            user = accounts.find_user(s, email)
            assert user is not None
            token = accounts.create_api_token(s, user, "tests", self.clock.now())
        return TestClient(self.app, base_url=PUBLIC, headers={"Authorization": f"Bearer {token}"})


def path_of(link: str) -> str:
    return link.removeprefix(PUBLIC)


def csrf_field(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def open_chat(world: World, link: str) -> tuple[TestClient, Any]:
    """A browser that opens ``link`` and presses the button: the chat page it lands on."""
    browser = world.browser()
    browser.get(path_of(link))
    redeemed = browser.post(path_of(link), follow_redirects=False)
    assert redeemed.status_code == 303, redeemed.text
    assert redeemed.headers["location"] == "/secure/chat"
    return browser, redeemed


def post_text(browser: TestClient, text: str, **headers: str) -> Any:
    page = browser.get("/secure/chat")
    csrf = csrf_field(page.text)
    return browser.post(
        "/secure/chat/messages",
        data={"text": text},
        headers={"Accept": "application/json", "X-CSRF-Token": csrf, **headers},
    )

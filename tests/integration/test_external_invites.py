"""Invites from an external secure messenger, end to end on loopback: the prospect
agrees, the invite is made at the (stand-in) messenger, its link goes out on WhatsApp,
the prospect opens it there, and the messenger's signed callback hands the
conversation off and opens a handoff."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from bot.adapters.db import SessionFactory
from bot.adapters.routing_file import RoutingStore
from bot.adapters.tables import Handoff, Invite
from bot.entrypoints.routes import channel_callbacks
from bot.sandbox.messenger import MessengerConfig
from bot.sandbox.messenger import create_app as create_messenger
from bot.sandbox.server import ServerThread
from bot.service_layer.conversation_events import invite_activated
from bot.service_layer.external_invites import ExternalInviteIssuer
from bot.service_layer.handoff_events import NoHandoffEvents
from bot.service_layer.routing import RulesRouter
from bot.service_layer.transition import Handover, InviteSettings
from integrations.secure_messenger import PROVIDER, SecureMessengerClient
from tests.fakes.clock import FakeClock
from tests.integration.test_protocol import PASSPORT, PUBLIC, SECRET, Stack

CALLBACK_SECRET = "callback-secret-for-tests-0123456789"
API_KEY = "Bearer loopback-messenger-key"


@dataclass
class Settings:
    gangway_channel_webhook_secret: SecretStr = field(
        default_factory=lambda: SecretStr(CALLBACK_SECRET)
    )


@dataclass
class Container:
    """What the callback route needs; activation runs the real protocol step."""

    stack: Stack
    settings: Settings = field(default_factory=Settings)
    broken: bool = False  # the hook fails, as if the process died after the commit

    @property
    def sessions(self) -> SessionFactory:
        return self.stack.sessions

    @property
    def clock(self) -> FakeClock:
        return self.stack.clock

    def on_invite_activated(self, conversation_id: str) -> None:
        if self.broken:
            raise RuntimeError("the hand-off hook failed")
        with self.sessions.begin() as s:
            invite_activated(
                s,
                conversation_id,
                self.stack.flows.current(),
                self.clock.now(),
                self.stack.invite_settings,
                self.stack.handover,
            )


class _Form(HTMLParser):
    action = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.action = dict(attrs).get("action") or ""


def open_secure_chat(link: str) -> httpx.Response:
    """What the prospect's browser does: open the link, press the page's button."""
    form = _Form()
    form.feed(httpx.get(link).text)
    return httpx.post(urljoin(link, form.action))


@dataclass
class World:
    stack: Stack
    issuer: ExternalInviteIssuer
    messenger: FastAPI
    messenger_url: str
    container: Container


@pytest.fixture
def world(sessions: SessionFactory, clock: FakeClock) -> Iterator[World]:
    handover = Handover(RulesRouter(RoutingStore()), NoHandoffEvents(), PUBLIC)
    settings = InviteSettings(SECRET, PUBLIC, external_provider=PROVIDER)
    stack = Stack(sessions, clock, handover, settings)
    gangway = FastAPI()
    gangway.include_router(channel_callbacks.router)
    container = gangway.state.container = Container(stack)
    with ServerThread(gangway) as served:
        messenger = create_messenger(
            MessengerConfig(
                auth_header_value=API_KEY,
                callback_url=served.url + channel_callbacks.ACTIVATED_PATH,
                callback_secret=CALLBACK_SECRET,
                clock=clock.now,
            )
        )
        with ServerThread(messenger) as at:
            client = SecureMessengerClient(at.url, "Authorization", API_KEY, backoff=0.0)
            issuer = ExternalInviteIssuer(sessions, clock, client, stack.flows, settings, handover)
            yield World(stack, issuer, messenger, at.url, container)
            client.close()


def test_the_messengers_link_goes_out_and_opening_it_hands_the_conversation_off(
    world: World,
) -> None:
    stack = world.stack
    stack.say(PASSPORT)
    assert stack.say("yes") == []  # the link is being made at the messenger
    [invite] = stack.rows(Invite)
    assert (invite.status, invite.provider) == ("pending", PROVIDER)
    assert world.issuer.fire_due() == 1
    [message] = stack.wait(timedelta(0))
    link = next(w for w in message.split() if w.startswith(world.messenger_url))
    [invite] = stack.rows(Invite)
    assert invite.status == "active" and invite.external_id
    assert link not in json.dumps([invite.token_sha256])  # only the link's digest is kept
    assert open_secure_chat(link).status_code == 200
    assert stack.conversation().state == "handed_off"
    [handoff] = stack.rows(Handoff)
    assert handoff.reason == "threshold"
    assert [i.status for i in stack.rows(Invite)] == ["used"]


def test_a_messenger_outage_delays_the_link_and_loses_nothing(world: World) -> None:
    stack = world.stack
    stack.say(PASSPORT)
    stack.say("ok")
    world.messenger.state.messenger.fail_next(503, count=3)  # every try of one run
    assert world.issuer.fire_due() == 0
    assert [i.status for i in stack.rows(Invite)] == ["pending"]
    assert stack.wait(timedelta(0)) == []  # no link yet, and no error to the prospect
    assert world.issuer.fire_due() == 1
    assert [i.status for i in stack.rows(Invite)] == ["active"]


def test_a_messenger_asking_to_wait_is_not_asked_again_before_its_retry_after(
    world: World,
) -> None:
    """Rate limited with Retry-After: 120, the issuer leaves the messenger alone for
    two minutes of the clock (the fault is spent, so an early ask would succeed), then
    the link goes out."""
    stack = world.stack
    stack.say(PASSPORT)
    stack.say("ok")
    world.messenger.state.messenger.fail_next(429, retry_after=120)
    assert world.issuer.fire_due() == 0
    stack.clock.advance(119)
    assert world.issuer.fire_due() == 0
    assert [i.status for i in stack.rows(Invite)] == ["pending"]
    stack.clock.advance(1)
    assert world.issuer.fire_due() == 1
    assert [i.status for i in stack.rows(Invite)] == ["active"]


def test_a_refused_invite_is_marked_failed_and_a_person_follows_up(world: World) -> None:
    stack = world.stack
    stack.say(PASSPORT)
    stack.say("ok")
    world.messenger.state.messenger.fail_next(400)
    assert world.issuer.fire_due() == 0
    assert [i.status for i in stack.rows(Invite)] == ["failed"]
    [handoff] = stack.rows(Handoff)
    assert handoff.reason == "invite_failed"


def test_a_failed_hand_off_after_the_callback_is_completed_by_the_backstop(world: World) -> None:
    stack = world.stack
    stack.say(PASSPORT)
    stack.say("yes")
    world.issuer.fire_due()
    [message] = stack.wait(timedelta(0))
    world.container.broken = True
    link = next(w for w in message.split() if w.startswith(world.messenger_url))
    assert open_secure_chat(link).status_code == 200  # the messenger got its 200
    assert stack.conversation().state == "invite_sent"
    stack.wait(timedelta(seconds=30))
    assert stack.conversation().state == "handed_off"
    assert [h.reason for h in stack.rows(Handoff)] == ["threshold"]

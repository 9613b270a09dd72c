"""The invite and its reminder say until when the link works on the prospect's own clock
and in their language: the real default flow and database, driven as in test_protocol.

The number is from Berlin's range reserved for fiction (030 23125 xxx).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.tables import Timer
from tests.fakes.clock import FakeClock
from tests.integration.secure_chat_stack import World, open_chat
from tests.integration.test_protocol import IBAN, Stack

BERLIN = "whatsapp:+4930231250042"
GERMAN_IBAN = "Hallo, meine IBAN ist DE89 3704 0044 0532 0130 00"


@pytest.fixture
def stack(sessions: SessionFactory, clock: FakeClock) -> Stack:
    stack = Stack(sessions, clock)
    stack.number = BERLIN
    return stack


def test_a_german_prospect_reads_the_expiry_in_german_and_berlin_time(stack: Stack) -> None:
    # The clock starts at 22 November 2026, 09:00 UTC; the link lasts 24 hours.
    stack.say(GERMAN_IBAN)
    [invite] = stack.say("ja")
    assert stack.conversation().language == "de"
    assert "ist gültig bis zum 23. November 2026, 10:00 MEZ." in invite
    [reminder] = stack.wait(stack.flows.current().timers.invite_reminder)
    assert reminder.endswith("Er ist gültig bis zum 23. November 2026, 10:00 MEZ.")


def test_the_reminder_speaks_the_language_the_prospect_switched_to(stack: Stack) -> None:
    stack.say(GERMAN_IBAN)
    stack.say("ja")
    stack.say("Hello, thank you! How much are the fees for an account?")
    assert stack.conversation().language == "en"
    [reminder] = stack.wait(stack.flows.current().timers.invite_reminder)
    # English as written in Germany, still on Berlin's clock.
    assert reminder.endswith("It is valid until 23 November 2026, 10:00 CET.")


def test_a_fresh_link_after_the_first_expired_says_its_own_expiry(stack: Stack) -> None:
    stack.say(GERMAN_IBAN)
    stack.say("ja")
    stack.wait(stack.flows.current().timers.invite_expiry)  # 23 November, 09:00 UTC
    [fresh] = stack.say("Bitte senden Sie mir einen neuen Link")
    assert "ist gültig bis zum 24. November 2026, 10:00 MEZ." in fresh


def test_a_link_back_into_the_secure_chat_says_its_expiry_on_the_prospects_clock(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    world = World(sessions, clock)
    world.stack.number = BERLIN
    open_chat(world, world.to_secure_channel())  # in English
    clock.advance(3600)
    [fresh] = world.stack.say("new link")
    # A link back lasts as long as an invite (timers.invite_expiry: 24 hours).
    assert "is valid until 23 November 2026, 11:00 CET." in fresh


def test_a_reminder_scheduled_before_zones_were_kept_sends_the_text_made_then(
    stack: Stack,
) -> None:
    stack.number = "whatsapp:+12025550101"
    stack.say(IBAN)
    stack.say("yes")
    with stack.sessions.begin() as s:
        timer = s.execute(select(Timer).where(Timer.kind == "invite_reminder")).scalar_one()
        invite_id = json.loads(timer.payload)["invite_id"]
        timer.payload = json.dumps({"invite_id": invite_id, "expires": "2026-11-23 09:00 UTC"})
    [reminder] = stack.wait(stack.flows.current().timers.invite_reminder)
    assert reminder.endswith("It is valid until 2026-11-23 09:00 UTC.")

"""The bot's custom actions reach gangway's API: a prospect asks what happened to their
link, the real Rasa runs action_invite_status on the real action server, which asks
gangway (service token) and answers with the flow's wording for what it found."""

from __future__ import annotations

import httpx
import pytest

from bot.adapters.flow_files import DEFAULT_FLOW_PATH, load_flow
from tests.e2e.conftest import Rasa, Stack
from tests.e2e.processes import wait_until

pytestmark = pytest.mark.e2e


def say_and_wait_for(stack: Stack, number: str, text: str, expected: str) -> list[str]:
    """Say ``text`` and wait until ``expected`` is among the replies sent after it."""
    before = len(stack.received(number))

    def replies() -> list[str]:
        return [m["body"] for m in stack.received(number)[before:]]

    stack.say(number, text)
    try:
        wait_until(lambda: expected in replies(), 60, f"{expected!r} in reply to {text!r}")
    except AssertionError:
        raise AssertionError(f"{text!r} was answered {replies()!r}, not {expected!r}") from None
    return replies()


def test_asking_about_the_link_before_any_invite_says_none_was_sent(stack: Stack) -> None:
    """ "what is the status of my link?" before any invite gets the flow's "none yet" answer."""
    number = "whatsapp:+12025550151"
    none_yet = load_flow(DEFAULT_FLOW_PATH).response("utter_invite_status_none", "en")
    assert none_yet

    replies = say_and_wait_for(stack, number, "what is the status of my link?", none_yet)

    assert replies == [none_yet]


def test_asking_about_the_link_after_the_invite_says_it_is_still_valid(stack: Stack) -> None:
    """A German prospect who was sent a link hears, in German, that it is still valid, and
    the link is not repeated."""
    number = "whatsapp:+4930555010151"  # +49 30: Berlin, an invented number
    flow = load_flow(DEFAULT_FLOW_PATH)
    still_valid = flow.response("utter_invite_status_active", "de")
    assert still_valid

    def sent_containing(part: str) -> bool:
        return any(part in m["body"] for m in stack.received(number))

    stack.say(number, "Hallo, meine Passnummer ist C01X00T47")
    # The terms go out in the same unit of work that moves the chart to terms_offered.
    wait_until(lambda: len(stack.received(number)) >= 1, 60, "the terms")
    stack.say(number, "ja")
    wait_until(lambda: sent_containing("/secure/invite/"), 60, "the invite link")

    replies = say_and_wait_for(stack, number, "ist mein Link noch gültig?", still_valid)

    assert replies == [still_valid]
    assert "/secure/invite/" not in still_valid


def test_action_server_answers_only_callers_with_rasa_secret(rasa: Rasa) -> None:
    """Without the shared secret the action server refuses to run or list actions (401);
    with it (as Rasa sends it) it lists them. Its health check needs none."""
    action_call = {"next_action": "action_request_human", "sender_id": "x", "tracker": {}}
    assert httpx.post(f"{rasa.action_url}/webhook", json=action_call).status_code == 401
    wrong = {"X-Gangway-Action-Secret": "not-the-secret"}
    assert httpx.get(f"{rasa.action_url}/actions", headers=wrong).status_code == 401
    right = {"X-Gangway-Action-Secret": rasa.action_secret}
    listed = httpx.get(f"{rasa.action_url}/actions", headers=right)
    assert listed.status_code == 200
    assert {"name": "action_request_human"} in listed.json()
    assert httpx.get(f"{rasa.action_url}/health").status_code == 200


def test_rasa_http_api_requires_its_token(rasa: Rasa) -> None:
    """Rasa's HTTP API answers 401 without the auth token and 200 with it."""
    assert httpx.get(f"{rasa.url}/status").status_code == 401
    assert httpx.get(f"{rasa.url}/status", params={"token": rasa.token}).status_code == 200

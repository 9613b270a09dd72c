"""A prospect's WhatsApp message through the real stack: signed webhook -> gangway
-> Rasa (and its action server) -> outbox -> the twilio client -> the
Twilio-compatible sandbox API, with delivery callbacks coming back."""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from bot.adapters import audit_log
from bot.adapters.tables import AuditLog, HumanRequest, InboxMessage, OutboxMessage
from tests.audit_helpers import chained
from tests.e2e.conftest import Stack
from tests.e2e.processes import wait_until

pytestmark = pytest.mark.e2e


def db(stack: Stack):  # type: ignore[no-untyped-def]
    return stack.sessions()


def test_hi_gets_the_greeting_back_and_is_delivered(stack: Stack) -> None:
    """ "hi" is acknowledged at once and answered with the bot's greeting and its first
    question, which get delivered.

    The prospect types in the sandbox, which signs and posts the webhook as Twilio does:
    like WhatsApp, it delivers free-form replies only to someone who wrote to it.
    """
    _sid, resp = stack.say("whatsapp:+12025550110", "hi")
    assert resp.status_code == 200 and "<Response></Response>" in resp.text
    number = "whatsapp:+12025550111"
    typed = stack.http.post(
        f"{stack.sandbox_url}/sandbox/api/inbound", json={"from": number, "body": "hi"}
    )
    assert typed.status_code < 300 and typed.json()["webhook_status"] == 200, typed.text
    greeting, question = stack.wait_for_replies(number, 2)
    assert re.search(r"assistant", greeting["body"], re.I), greeting["body"]
    assert re.search(r"interested", question["body"], re.I), question["body"]
    sessions = db(stack)

    def delivered() -> bool:
        with sessions() as s:
            statuses = s.execute(
                select(OutboxMessage.status)
                .join(InboxMessage, InboxMessage.id == OutboxMessage.inbox_id)
                .where(InboxMessage.message_sid == typed.json()["message_sid"])
            ).scalars()
            seen = list(statuses)
            return len(seen) == 2 and set(seen) <= {"delivered", "read"}

    wait_until(delivered, 30, "the delivery status callback to be recorded")


def test_faq_and_out_of_scope_answers(stack: Stack) -> None:
    """FAQ questions get their answers; an out-of-scope message gets the polite fallback."""
    number = "whatsapp:+12025550112"
    stack.say(number, "how do I open an account?")
    [account] = stack.wait_for_replies(number, 1)
    stack.say(number, "what are your opening hours")
    hours = stack.wait_for_replies(number, 2)[-1]
    stack.say(number, "what's the weather on mars tomorrow")
    fallback = stack.wait_for_replies(number, 3)[-1]
    assert "account" in account["body"].lower()
    assert re.search(r"\d|hour|monday|weekday", hours["body"], re.I), hours["body"]
    assert fallback["body"] not in (account["body"], hours["body"])


def test_asking_for_a_human_is_recorded(stack: Stack) -> None:
    """ "I want to talk to a human" is recognised by gangway itself and recorded."""
    number = "whatsapp:+12025550113"
    stack.say(number, "I want to talk to a human")
    [reply] = stack.wait_for_replies(number, 1)
    sessions = db(stack)
    with chained(sessions)() as s:
        requests = s.execute(select(HumanRequest)).scalars().all()
        kinds = [r.kind for r in audit_log.iter_records(s)]
    assert len(requests) == 1, reply["body"]
    assert "human_requested" in kinds


def test_forged_signature_is_refused_and_nothing_stored(stack: Stack) -> None:
    """A webhook with a forged signature gets 403; nothing is stored or sent."""
    number = "whatsapp:+12025550114"
    params = {
        "MessageSid": "SM" + "0" * 32,
        "From": number,
        "To": "whatsapp:+12025550100",
        "Body": "hi",
    }
    resp = stack.webhook(params, signature="Zm9yZ2VkIHNpZ25hdHVyZQ==")
    assert resp.status_code == 403
    sessions = db(stack)
    with chained(sessions)() as s:
        assert s.execute(select(func.count()).select_from(InboxMessage)).scalar_one() == 0
        # The service's own start records its flow version (flow_installed); nothing else.
        recorded = select(AuditLog.kind).where(AuditLog.kind != "flow_installed")
        assert s.execute(recorded).scalars().all() == []
    assert stack.received(number) == []


def test_sigkill_mid_load_every_message_gets_exactly_one_answer(stack: Stack) -> None:
    """Kill -9 the service amid 60 questions; after a restart each got exactly one answer."""
    numbers = [f"whatsapp:+120255501{n:02d}" for n in range(20, 30)]
    per_number = 6

    def send_all(number: str) -> None:
        for _ in range(per_number):
            _sid, resp = stack.say(number, "what are your opening hours?")
            assert resp.status_code == 200

    with ThreadPoolExecutor(len(numbers)) as pool:
        list(pool.map(send_all, numbers))
    wait_until(lambda: len(stack.received()) >= 5, 60, "the first replies")
    assert stack.service is not None
    stack.service.kill()
    before_restart = len(stack.received())
    print(f"replies before the kill: {before_restart} of {len(numbers) * per_number}")
    stack.start_service()

    total = len(numbers) * per_number
    sessions = db(stack)
    try:
        wait_until(lambda: len(stack.received()) >= total, 120, f"{total} replies")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {len(stack.received())} came\n{_progress(stack)}") from exc

    def settled() -> bool:
        with sessions() as s:
            return (
                s.execute(
                    select(func.count())
                    .select_from(InboxMessage)
                    .where(InboxMessage.status != "done")
                ).scalar_one()
                == 0
            )

    wait_until(settled, 30, "every inbox message to be done")
    sent = stack.received()
    per_recipient = Counter(m["to"] for m in sent)
    assert before_restart < total, "the kill came too late to test anything"
    assert per_recipient == {n: per_number for n in numbers}
    with chained(sessions)() as s:
        outbox_sids = set(s.execute(select(OutboxMessage.provider_sid)).scalars())
        count, broken = audit_log.verify(s)
    assert {m["sid"] for m in sent} == outbox_sids
    assert len(outbox_sids) == total
    assert broken is None and count > 0


def _progress(stack: Stack) -> str:
    """Where the inbox and the outbox stand, and what the service warned of: what a
    stalled run needs to be understood."""
    with db(stack)() as s:
        inbox = s.execute(
            select(InboxMessage.status, InboxMessage.attempts, func.count()).group_by(
                InboxMessage.status, InboxMessage.attempts
            )
        ).all()
        outbox = s.execute(
            select(OutboxMessage.status, OutboxMessage.last_error, func.count()).group_by(
                OutboxMessage.status, OutboxMessage.last_error
            )
        ).all()
    log = (stack.logs / "gangway.log").read_text(errors="replace").splitlines()
    warned = [line for line in log if '"level": "WARNING"' in line or '"level": "ERROR"' in line]
    recent = [line[:400] for line in warned if "63016" not in line][-20:]
    return "\n".join(
        [f"inbox (status, attempts, n): {inbox}", f"outbox (status, error, n): {outbox}", *recent]
    )


def test_twilio_rate_limit_is_retried_and_the_reply_sent_once(stack: Stack) -> None:
    """Two 429s from the Messages API delay the answer but it goes out exactly once."""
    number = "whatsapp:+12025550131"
    fault = {"status": 429, "code": 20429, "count": 2, "message": "Too Many Requests"}
    stack.http.post(f"{stack.sandbox_url}/sandbox/api/faults", json=fault).raise_for_status()
    stack.say(number, "what are your opening hours?")
    [reply] = stack.wait_for_replies(number, 1, timeout=60)
    sessions = db(stack)
    with sessions() as s:
        row = s.execute(select(OutboxMessage)).scalar_one()
    assert "Monday" in reply["body"]
    assert row.attempts == 3 and row.provider_sid == reply["sid"]


def test_twilio_refusal_marks_the_reply_failed_with_its_code(stack: Stack) -> None:
    """A 4xx from the Messages API (recipient opted out, 21610) is recorded, not retried."""
    number = "whatsapp:+12025550132"
    fault = {
        "status": 400,
        "code": 21610,
        "count": 1,
        "message": "Attempt to send to unsubscribed recipient",
    }
    stack.http.post(f"{stack.sandbox_url}/sandbox/api/faults", json=fault).raise_for_status()
    stack.say(number, "what are your opening hours?")
    sessions = db(stack)

    def failed() -> bool:
        with sessions() as s:
            row = s.execute(select(OutboxMessage)).scalar_one_or_none()
            return row is not None and row.status == "failed"

    wait_until(failed, 30, "the reply to be marked failed")
    with chained(sessions)() as s:
        row = s.execute(select(OutboxMessage)).scalar_one()
        kinds = [r.kind for r in audit_log.iter_records(s)]
    assert row.error_code == "21610" and row.attempts == 1
    assert "outbound_failed" in kinds
    assert stack.received(number) == []

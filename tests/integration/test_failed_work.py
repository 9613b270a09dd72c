"""Failed work, seen and retried by an operator, on a real database: the retried row
goes back to the worker (fake Rasa and Twilio through the ports), never sent from here."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_FLOW_PATH, load_flow
from bot.adapters.tables import (
    AuditLog,
    Conversation,
    CrmDelivery,
    InboxMessage,
    OutboxMessage,
    WebhookIntake,
)
from bot.domain.access import Actor, Role
from bot.domain.conversation_chart import ConversationChart
from bot.service_layer import crm_outbox, failed_work
from bot.service_layer.errors import PermanentError, TransientError
from bot.service_layer.failed_work import NoSuchItem, NotRetryable, Operator
from bot.service_layer.handoff_access import NotAllowed
from bot.service_layer.processing import ConversationProcessor
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeSender
from tests.fakes.screening import fake_screening
from tests.integration.test_processing import make as make_with_policy
from tests.integration.test_processing import receive

PROSPECT = "whatsapp:+447700900123"
ALICE = Operator(name="alice")
FLOW = load_flow(DEFAULT_FLOW_PATH)  # its threshold: identity


def make(sessions: SessionFactory, clock: FakeClock):
    dialogue, sender = FakeDialogue(), FakeSender(clock.now)
    proc = ConversationProcessor(sessions, dialogue, sender, clock, fake_screening(), owner="test")
    return proc, dialogue, sender


def failed_reply(
    sessions: SessionFactory, clock: FakeClock, code: int = 21211
) -> tuple[str, int, ConversationProcessor, FakeSender]:
    """A prospect's message answered, and the answer refused by the provider for good."""
    proc, _dialogue, sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "what are your opening hours?", PROSPECT)
    sender.errors = [PermanentError("twilio", "refused", status=400, code=code)]
    proc.run(conv)
    with sessions.begin() as s:
        out_id = s.execute(select(OutboxMessage.id)).scalar_one()
    return conv, out_id, proc, sender


def retries_recorded(sessions: SessionFactory) -> list[dict[str, object]]:
    with chained(sessions).begin() as s:
        payloads = s.scalars(select(AuditLog.payload).where(AuditLog.kind == "failed_work_retried"))
        return [json.loads(p) for p in payloads]


def test_failed_reply_is_listed_without_its_body_or_number(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The operator sees the id, conversation, attempts and Twilio's code; not the text."""
    conv, out_id, _proc, _sender = failed_reply(sessions, clock)
    [item] = failed_work.items(sessions, "outbox", clock.now(), FLOW, failed_only=True)
    assert (item.id, item.conversation_id, item.status) == (out_id, conv, "failed")
    assert (item.attempts, item.error_code, item.retryable) == (1, "21211", True)
    shown = json.dumps([str(v) for v in vars(item).values()])
    assert "opening hours" not in shown and "7700900123" not in shown


def test_retried_reply_is_sent_by_the_worker_and_recorded(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A retry makes the reply pending again; the next turn sends it; the audit says who."""
    conv, out_id, proc, sender = failed_reply(sessions, clock)
    assert sender.sent == []
    item = failed_work.retry(sessions, "outbox", out_id, clock.now(), ALICE, FLOW)
    assert (item.status, item.attempts, item.error_code) == ("pending", 0, None)
    assert sender.sent == []  # the retry itself sends nothing
    proc.run(conv)
    assert sender.bodies_to(PROSPECT) == ["you said: what are your opening hours?"]
    [record] = retries_recorded(sessions)
    assert record["item"] == "outbox" and record["id"] == out_id
    assert record["operator"] == "alice" and record["error_code"] == "21211"


def test_sent_reply_is_not_retried(sessions: SessionFactory, clock: FakeClock) -> None:
    """Retrying a reply that went out is refused with a plain reason, and changes nothing."""
    proc, _dialogue, _sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "hello", PROSPECT)
    proc.run(conv)
    with sessions.begin() as s:
        out_id = s.execute(select(OutboxMessage.id)).scalar_one()
    with pytest.raises(NotRetryable, match="not failed"):
        failed_work.retry(sessions, "outbox", out_id, clock.now(), ALICE, FLOW)
    with sessions.begin() as s:
        assert s.get_one(OutboxMessage, out_id).status == "queued"
    assert retries_recorded(sessions) == []


def test_unknown_id_is_refused(sessions: SessionFactory, clock: FakeClock) -> None:
    for kind in failed_work.KINDS:
        with pytest.raises(NoSuchItem, match="there is no"):
            failed_work.retry(sessions, kind, 999, clock.now(), ALICE, FLOW)


def test_reply_outside_the_window_is_refused_until_the_prospect_writes(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A free-form reply cannot be resent after WhatsApp's 24 hours (it would fail with
    63016 again): refused, saying what can be done; once the prospect writes, it goes."""
    conv, out_id, proc, sender = failed_reply(sessions, clock, code=63016)
    clock.advance(25 * 3600)
    [item] = failed_work.items(sessions, "outbox", clock.now(), FLOW, failed_only=True)
    assert item.error and "63016" in item.error
    assert item.refusal and "24-hour window" in item.refusal
    with pytest.raises(NotRetryable, match="follow-up template"):
        failed_work.retry(sessions, "outbox", out_id, clock.now(), ALICE, FLOW)
    with sessions.begin() as s:
        assert s.get_one(OutboxMessage, out_id).status == "failed"

    receive(sessions, clock, "SM2", "are you there?", PROSPECT)
    proc.run(conv)  # answers the new message
    failed_work.retry(sessions, "outbox", out_id, clock.now(), ALICE, FLOW)
    proc.run(conv)
    assert "you said: what are your opening hours?" in sender.bodies_to(PROSPECT)


def test_failed_inbox_message_is_answered_once_after_a_retry(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The bot refused a message for good; retried, it is answered, and only once."""
    proc, dialogue, sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "fees?", PROSPECT)
    dialogue.errors = [PermanentError("rasa", "bad request", status=400)]
    proc.run(conv)
    [item] = failed_work.items(sessions, "inbox", clock.now(), FLOW, failed_only=True)
    assert item.status == "failed" and item.error
    failed_work.retry(sessions, "inbox", item.id, clock.now(), ALICE, FLOW)
    proc.run(conv)
    proc.run(conv)
    assert sender.bodies_to(PROSPECT) == ["you said: fees?"]
    with sessions.begin() as s:
        assert s.get_one(InboxMessage, item.id).status == "done"
    assert failed_work.items(sessions, "inbox", clock.now(), FLOW, failed_only=True) == []


def test_failed_crm_event_goes_back_with_its_key(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A refused CRM event is pending again, due now, with the same idempotency key."""
    with sessions.begin() as s:
        key = crm_outbox.enqueue(
            s, event="handoff.created", handoff_id=None, data={"x": 1}, now=clock.now()
        )
        s.flush()
        row = s.execute(select(CrmDelivery)).scalar_one()
        row.status, row.attempts, row.last_status, row.last_error = "failed", 1, 422, "no"
    [item] = failed_work.items(sessions, "crm", clock.now(), FLOW, failed_only=True)
    assert (item.what, item.error_code) == ("handoff.created", "422")
    clock.advance(60)
    failed_work.retry(sessions, "crm", item.id, clock.now(), Operator(user_id=7), FLOW)
    with sessions.begin() as s:
        row = s.get_one(CrmDelivery, item.id)
        assert (row.status, row.attempts, row.idempotency_key) == ("pending", 0, key)
        assert row.next_attempt_at == clock.now()
    assert retries_recorded(sessions)[0]["user_id"] == 7
    with pytest.raises(NotRetryable):
        failed_work.retry(sessions, "crm", item.id, clock.now(), ALICE, FLOW)


def test_set_aside_delivery_goes_back_to_the_intake(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    with sessions.begin() as s:
        s.add(
            WebhookIntake(
                kind="inbound",
                sealed="not sealed",
                received_at=clock.now(),
                failed_at=clock.now(),
                failure="SealError",
            )
        )
    [item] = failed_work.items(sessions, "intake", clock.now(), FLOW, failed_only=True)
    assert (item.status, item.error) == ("set aside", "SealError")
    failed_work.retry(sessions, "intake", item.id, clock.now(), ALICE, FLOW)
    with sessions.begin() as s:
        assert s.get_one(WebhookIntake, item.id).failed_at is None
    assert failed_work.items(sessions, "intake", clock.now(), FLOW, failed_only=True) == []


def test_only_admins_handle_failed_work() -> None:
    failed_work.permit(Actor(user_id=1, role=Role.ADMIN))
    for role in (Role.ADVISOR, Role.SUPERVISOR, Role.COMPLIANCE, Role.MARKETING):
        with pytest.raises(NotAllowed):
            failed_work.permit(Actor(user_id=1, role=role))


def test_reply_to_a_prospect_who_opted_out_is_refused(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """After STOP nothing but the opt-out confirmation may go: no retry either."""
    conv, out_id, _proc, _sender = failed_reply(sessions, clock)
    with sessions.begin() as s:
        s.get_one(Conversation, conv).state = ConversationChart.opted_out.id
    with pytest.raises(NotRetryable, match="opted out"):
        failed_work.retry(sessions, "outbox", out_id, clock.now(), ALICE, FLOW)
    with sessions.begin() as s:
        assert s.get_one(OutboxMessage, out_id).status == "failed"


def test_list_without_failed_shows_every_status_newest_first(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    proc, _dialogue, sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "one", PROSPECT)
    sender.errors = [PermanentError("twilio", "refused", status=400, code=21211)]
    proc.run(conv)
    receive(sessions, clock, "SM2", "two", PROSPECT)
    proc.run(conv)
    listed = failed_work.items(sessions, "outbox", clock.now(), FLOW, failed_only=False)
    assert [i.status for i in listed] == ["queued", "failed"]
    assert [i.retryable for i in listed] == [False, True]
    assert (
        len(failed_work.items(sessions, "outbox", clock.now(), FLOW, failed_only=False, limit=1))
        == 1
    )


def test_holding_message_is_not_retried_once_the_prospect_was_answered(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """ "One moment" hours later, after the answer, would only confuse the prospect."""
    proc, dialogue, sender = make_with_policy(sessions, clock, holding_after=timedelta(seconds=10))
    dialogue.errors = [TransientError("rasa", "down")] * 3
    sender.errors = [PermanentError("twilio", "refused", status=400, code=21211)]
    conv = receive(sessions, clock, "SM1", "hi", PROSPECT)
    for _ in range(4):
        proc.run(conv)
        clock.advance(30)
    assert sender.bodies_to(PROSPECT) == ["you said: hi"]
    [holding] = failed_work.items(sessions, "outbox", clock.now(), FLOW, failed_only=True)
    assert holding.what == "holding"
    with pytest.raises(NotRetryable, match="only while the prospect waits"):
        failed_work.retry(sessions, "outbox", holding.id, clock.now(), ALICE, FLOW)


def test_an_advisors_reply_is_not_retried_once_the_conversation_reached_the_threshold(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """From the threshold on the advisor continues in the secure channel: a failed
    WhatsApp reply of theirs is not sent there late, as a new one would be refused."""
    conv, out_id, _proc, _sender = failed_reply(sessions, clock)
    with sessions.begin() as s:
        s.get_one(OutboxMessage, out_id).kind = "advisor"
        s.get_one(Conversation, conv).level = "identity"
    [item] = failed_work.items(sessions, "outbox", clock.now(), FLOW, failed_only=True)
    assert item.refusal is not None and "secure channel" in item.refusal
    with pytest.raises(NotRetryable, match="reached the identity level"):
        failed_work.retry(sessions, "outbox", out_id, clock.now(), ALICE, FLOW)
    with sessions.begin() as s:
        s.get_one(Conversation, conv).level = "public"
    assert failed_work.retry(sessions, "outbox", out_id, clock.now(), ALICE, FLOW).status == (
        "pending"
    )

"""The CRM outbox against the stand-in CRM on a real loopback port: events arrive once
each, in order per handoff, whether the CRM is down, refuses, loses its answer, or
gangway restarts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory, make_engine, make_session_factory
from bot.adapters.tables import Conversation, CrmDelivery, Handoff
from bot.adapters.vault import Vault
from bot.sandbox.crm import CrmStandIn, create_app
from bot.sandbox.server import ServerThread
from bot.service_layer.crm_outbox import CrmPusher, CrmSender, enqueue
from bot.service_layer.errors import TransientError
from integrations.crm_webhook import CrmWebhook
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.prospects import add_prospect

SECRET = b"crm-shared-secret-for-tests-0001"
LEASE_SECONDS = 60.0


class Crm:
    """The stand-in CRM as gangway and the test reach it: over HTTP."""

    def __init__(self, server: ServerThread) -> None:
        self.url = server.url + "/crm/events"
        self._base = server.url

    def fail(self, status: int, count: int = 1, delay_seconds: float = 0.0) -> None:
        httpx.post(
            self._base + "/crm/faults",
            json={"status": status, "count": count, "delay_seconds": delay_seconds},
        ).raise_for_status()

    def recover(self) -> None:
        httpx.delete(self._base + "/crm/faults").raise_for_status()

    def faults_left(self) -> int:
        answer = httpx.get(self._base + "/crm/faults")
        answer.raise_for_status()
        return sum(int(f["count"]) for f in answer.json()["faults"])

    def events(self) -> list[dict[str, Any]]:
        answer = httpx.get(self._base + "/crm/events")
        answer.raise_for_status()
        events: list[dict[str, Any]] = answer.json()["events"]
        return events


@pytest.fixture
def crm(clock: FakeClock) -> Iterator[Crm]:
    # The CRM checks timestamps against the same (fake) time gangway signs with.
    stand_in = CrmStandIn([SECRET], now=lambda: clock.now().timestamp())
    with ServerThread(create_app(stand_in)) as server:
        yield Crm(server)


@pytest.fixture
def webhooks() -> Iterator[list[CrmWebhook]]:
    made: list[CrmWebhook] = []
    yield made
    for webhook in made:
        webhook.close()


@pytest.fixture
def make_pusher(
    sessions: SessionFactory, clock: FakeClock, crm: Crm, webhooks: list[CrmWebhook]
) -> Any:
    def make(
        *, timeout: float = 5.0, on: SessionFactory | None = None, sender: CrmSender | None = None
    ) -> CrmPusher:
        webhook = CrmWebhook(crm.url, [SECRET], timeout=timeout)
        webhooks.append(webhook)
        return CrmPusher(
            on or sessions, clock, sender or webhook, batch=20, lease_seconds=LEASE_SECONDS
        )

    return make


def add_handoff(sessions: SessionFactory, clock: FakeClock, n: int) -> int:
    with sessions.begin() as s:
        add_prospect(
            s, f"whatsapp:+120255501{n:02d}", Conversation(id=f"conv-{n}", created_at=clock.now())
        )
        handoff = Handoff(
            conversation_id=f"conv-{n}",
            reason="threshold",
            status="queued",
            queue="advisors-en",
            level="identity",
            summary="{}",
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        s.add(handoff)
        s.flush()
        return handoff.id


def record(sessions: SessionFactory, clock: FakeClock, handoff_id: int | None, event: str) -> str:
    with sessions.begin() as s:
        key = enqueue(
            s, event=event, handoff_id=handoff_id, data={"handoff": handoff_id}, now=clock.now()
        )
    clock.advance(1)
    return key


def rows(sessions: SessionFactory) -> dict[str, CrmDelivery]:
    with sessions.begin() as s:
        return {r.idempotency_key: r for r in s.scalars(select(CrmDelivery)).all()}


def audit_kinds(sessions: SessionFactory, *kinds: str) -> list[dict[str, Any]]:
    with chained(sessions).begin() as s:
        return [
            {"kind": r.kind, "conversation_id": r.conversation_id, **json.loads(r.payload)}
            for r in audit_log.iter_records(s)
            if r.kind in kinds
        ]


def push_until_done(pusher: CrmPusher, sessions: SessionFactory, clock: FakeClock) -> None:
    for _ in range(50):
        pusher.push_due()
        if all(r.status != "pending" for r in rows(sessions).values()):
            return
        clock.advance(600)
    raise AssertionError("the outbox never emptied")


def test_an_event_reaches_the_crm_signed_with_the_body_enqueued(
    sessions: SessionFactory, clock: FakeClock, crm: Crm, make_pusher: Any
) -> None:
    """The CRM gets {id, event, occurred_at, data}; id is the idempotency key."""
    handoff = add_handoff(sessions, clock, 1)
    occurred = clock.now()
    key = record(sessions, clock, handoff, "handoff.created")

    assert make_pusher().push_due() == 1

    (received,) = crm.events()
    assert received["idempotency_key"] == key
    assert received["event"] == "handoff.created"
    assert received["deliveries"] == 1
    assert received["payload"] == {
        "id": key,
        "event": "handoff.created",
        "occurred_at": occurred.isoformat(timespec="microseconds"),
        "data": {"handoff": handoff},
    }
    sent = rows(sessions)[key]
    assert (sent.status, sent.attempts, sent.last_status) == ("sent", 1, 200)
    assert sent.sent_at == clock.now()
    (audit,) = audit_kinds(sessions, "crm_delivered")
    assert audit["idempotency_key"] == key
    assert audit["conversation_id"] == "conv-1"


def test_an_event_in_a_rolled_back_transaction_is_never_sent(
    sessions: SessionFactory, clock: FakeClock, crm: Crm, make_pusher: Any
) -> None:
    """enqueue joins the caller's transaction: no commit, no CRM event."""
    handoff = add_handoff(sessions, clock, 1)
    with pytest.raises(RuntimeError), sessions.begin() as s:
        enqueue(s, event="handoff.created", handoff_id=handoff, data={}, now=clock.now())
        raise RuntimeError("the handoff could not be routed")

    assert make_pusher().push_due() == 0
    assert crm.events() == []


def test_crm_down_then_up_delivers_everything_once_in_order_per_handoff(
    sessions: SessionFactory, clock: FakeClock, crm: Crm, make_pusher: Any
) -> None:
    """Nothing is lost while the CRM answers 503, nothing is doubled, and no event
    overtakes an earlier one of its handoff."""
    first, second = add_handoff(sessions, clock, 1), add_handoff(sessions, clock, 2)
    expected: dict[int, list[str]] = {first: [], second: []}
    for event in ("handoff.created", "handoff.claimed", "handoff.closed"):
        for handoff in (first, second):
            expected[handoff].append(record(sessions, clock, handoff, event))
    crm.fail(503, count=5)
    pusher = make_pusher()

    assert pusher.push_due() == 0
    assert crm.events() == []
    waiting = rows(sessions)[expected[first][0]]
    assert (waiting.status, waiting.attempts, waiting.last_status) == ("pending", 1, 503)
    # Retried after 5 s, not before.
    assert (waiting.next_attempt_at - clock.now()).total_seconds() == 5

    push_until_done(pusher, sessions, clock)

    received = crm.events()
    assert sorted(e["idempotency_key"] for e in received) == sorted(
        expected[first] + expected[second]
    )
    assert all(e["deliveries"] == 1 for e in received)
    for handoff, keys in expected.items():
        arrived = [
            e["idempotency_key"] for e in received if e["payload"]["data"]["handoff"] == handoff
        ]
        assert arrived == keys
    assert all(r.status == "sent" for r in rows(sessions).values())
    assert len(audit_kinds(sessions, "crm_delivered")) == 6
    # Sent events are never picked again.
    clock.advance(3600)
    assert pusher.push_due() == 0
    assert len(crm.events()) == 6


def test_a_later_event_waits_while_an_earlier_one_of_its_handoff_is_retried(
    sessions: SessionFactory, clock: FakeClock, crm: Crm, make_pusher: Any
) -> None:
    """An event never overtakes an earlier one of the same handoff; other handoffs go on."""
    first, second = add_handoff(sessions, clock, 1), add_handoff(sessions, clock, 2)
    created = record(sessions, clock, first, "handoff.created")
    claimed = record(sessions, clock, first, "handoff.claimed")
    other = record(sessions, clock, second, "handoff.created")
    crm.fail(503)
    pusher = make_pusher()

    assert pusher.push_due() == 0  # "created" failed; the round stops
    assert pusher.push_due() == 1  # "claimed" is due but held back; the other handoff goes
    assert [e["idempotency_key"] for e in crm.events()] == [other]
    assert rows(sessions)[claimed].attempts == 0

    clock.advance(5)
    assert pusher.push_due() == 2
    assert [e["idempotency_key"] for e in crm.events()] == [other, created, claimed]


def test_a_crm_that_is_down_is_asked_once_per_round_not_once_per_event(
    sessions: SessionFactory, clock: FakeClock, crm: Crm, make_pusher: Any
) -> None:
    """After a transient error the pusher stops for this round instead of waiting out
    the CRM once for every event."""
    for i in range(5):
        record(sessions, clock, None, f"lead.step{i}")
    crm.fail(503, count=100)

    assert make_pusher().push_due() == 0
    assert crm.faults_left() == 99


def test_retries_back_off_exponentially_up_to_the_cap(
    sessions: SessionFactory, clock: FakeClock, crm: Crm, make_pusher: Any
) -> None:
    """A CRM that keeps failing is asked again after 5, 10, 20... seconds, never sooner."""
    key = record(sessions, clock, None, "lead.created")
    crm.fail(500, count=4)
    pusher = make_pusher()
    for attempt, wait in enumerate([5, 10, 20, 40], start=1):
        pusher.push_due()
        row = rows(sessions)[key]
        assert row.attempts == attempt
        assert (row.next_attempt_at - clock.now()).total_seconds() == wait
        clock.advance(wait - 1)
        pusher.push_due()
        assert rows(sessions)[key].attempts == attempt  # not due yet
        clock.advance(1)

    assert pusher.push_due() == 1
    assert rows(sessions)[key].status == "sent"


class RateLimitedOnce:
    """The CRM answering the first event 429 with a Retry-After, then the real webhook."""

    def __init__(self, webhook: CrmWebhook, retry_after: float) -> None:
        self.webhook = webhook
        self.retry_after: float | None = retry_after

    def deliver(self, body: bytes, *, idempotency_key: str, event: str, timestamp: int) -> int:
        if self.retry_after is not None:
            asked, self.retry_after = self.retry_after, None
            raise TransientError("crm", "Too Many Requests", status=429, retry_after=asked)
        return self.webhook.deliver(
            body, idempotency_key=idempotency_key, event=event, timestamp=timestamp
        )


def test_a_retry_after_from_the_crm_is_waited_out_before_the_next_attempt(
    sessions: SessionFactory, clock: FakeClock, crm: Crm, webhooks: list[CrmWebhook]
) -> None:
    """Rate limited with Retry-After: 120, the event is not sent again after our own
    5 s but after 120 s; a Retry-After past the cap is held to the cap."""
    key = record(sessions, clock, None, "lead.created")
    webhook = CrmWebhook(crm.url, [SECRET])
    webhooks.append(webhook)
    pusher = CrmPusher(
        sessions, clock, RateLimitedOnce(webhook, 120), batch=20, lease_seconds=LEASE_SECONDS
    )

    pusher.push_due()
    clock.advance(119)
    pusher.push_due()
    assert crm.events() == [] and rows(sessions)[key].attempts == 1
    clock.advance(1)
    assert pusher.push_due() == 1
    assert [e["idempotency_key"] for e in crm.events()] == [key]

    later = record(sessions, clock, None, "lead.updated")
    capped = CrmPusher(
        sessions,
        clock,
        RateLimitedOnce(webhook, 86_400),
        batch=20,
        lease_seconds=LEASE_SECONDS,
        retry_cap_seconds=600,
    )
    capped.push_due()
    row = rows(sessions)[later]
    assert (row.next_attempt_at - clock.now()).total_seconds() == 600


def test_a_permanent_refusal_fails_the_event_with_an_audit_record(
    sessions: SessionFactory, clock: FakeClock, crm: Crm, make_pusher: Any
) -> None:
    """A 400 is not retried: the event is failed and audited, later events still go."""
    handoff = add_handoff(sessions, clock, 1)
    refused = record(sessions, clock, handoff, "handoff.created")
    later = record(sessions, clock, handoff, "handoff.claimed")
    crm.fail(400)
    pusher = make_pusher()

    assert pusher.push_due() == 1

    failed = rows(sessions)[refused]
    assert (failed.status, failed.attempts, failed.last_status) == ("failed", 1, 400)
    assert "400" in (failed.last_error or "")
    (audit,) = audit_kinds(sessions, "crm_failed")
    assert audit["idempotency_key"] == refused
    assert audit["http_status"] == 400
    assert audit["conversation_id"] == "conv-1"
    assert [e["idempotency_key"] for e in crm.events()] == [later]
    clock.advance(3600)
    assert pusher.push_due() == 0
    assert rows(sessions)[refused].status == "failed"


def test_an_answer_lost_after_the_crm_stored_the_event_is_resent_with_the_same_key(
    sessions: SessionFactory, clock: FakeClock, crm: Crm, make_pusher: Any
) -> None:
    """The CRM stores the event but its 200 comes after gangway's timeout: gangway sends
    it again with the same key, and the CRM keeps one copy."""
    key = record(sessions, clock, None, "lead.created")
    crm.fail(200, delay_seconds=1.5)
    pusher = make_pusher(timeout=0.5)

    assert pusher.push_due() == 0
    assert rows(sessions)[key].status == "pending"
    clock.advance(5)
    assert pusher.push_due() == 1

    (received,) = crm.events()
    assert received["idempotency_key"] == key
    assert received["deliveries"] == 2
    assert (rows(sessions)[key].status, rows(sessions)[key].attempts) == ("sent", 2)


def test_nothing_is_lost_across_a_restart(
    database_url: str,
    sessions: SessionFactory,
    clock: FakeClock,
    crm: Crm,
    make_pusher: Any,
    vault: Vault,
) -> None:
    """Events left pending by one process are delivered by the next, once each."""
    keys = [record(sessions, clock, None, f"lead.step{i}") for i in range(4)]
    crm.fail(503, count=100)
    make_pusher().push_due()
    make_pusher().push_due()

    crm.recover()
    engine = make_engine(database_url)  # a new process: its own engine and client
    try:
        restarted = make_pusher(on=make_session_factory(engine, vault))
        clock.advance(600)
        assert restarted.push_due() == 4
    finally:
        engine.dispose()

    assert [e["idempotency_key"] for e in crm.events()] == keys
    assert all(e["deliveries"] == 1 for e in crm.events())


class ProcessKilled(BaseException):
    """The process dies (e.g. SIGKILL) right after the CRM answered."""


class DiesAfterTheCrmAnswers:
    def __init__(self, sender: CrmSender) -> None:
        self._sender = sender

    def deliver(self, body: bytes, *, idempotency_key: str, event: str, timestamp: int) -> int:
        self._sender.deliver(
            body, idempotency_key=idempotency_key, event=event, timestamp=timestamp
        )
        raise ProcessKilled


def test_a_crash_between_the_2xx_and_recording_it_resends_the_same_key_after_the_lease(
    sessions: SessionFactory,
    clock: FakeClock,
    crm: Crm,
    make_pusher: Any,
    webhooks: list[CrmWebhook],
) -> None:
    """The claim outlives the dead process for its lease; then the event goes again with
    its key, and the CRM keeps one copy."""
    key = record(sessions, clock, None, "lead.created")
    webhook = CrmWebhook(crm.url, [SECRET])
    webhooks.append(webhook)
    dying = make_pusher(sender=DiesAfterTheCrmAnswers(webhook))
    with pytest.raises(ProcessKilled):
        dying.push_due()
    assert rows(sessions)[key].status == "pending"

    restarted = make_pusher()
    assert restarted.push_due() == 0  # still claimed by the dead process
    clock.advance(LEASE_SECONDS)
    assert restarted.push_due() == 1

    (received,) = crm.events()
    assert (received["idempotency_key"], received["deliveries"]) == (key, 2)
    assert rows(sessions)[key].status == "sent"
    assert len(audit_kinds(sessions, "crm_delivered")) == 1


def test_two_pushers_side_by_side_send_each_event_once(
    sessions: SessionFactory, clock: FakeClock, crm: Crm, make_pusher: Any
) -> None:
    """Pushers of several processes share the outbox without doubling a delivery."""
    handoffs = [add_handoff(sessions, clock, n) for n in range(1, 4)]
    keys = [
        record(sessions, clock, handoff, event)
        for event in ("handoff.created", "handoff.claimed", "handoff.closed")
        for handoff in handoffs
    ]
    pushers = [make_pusher(), make_pusher()]
    errors: list[BaseException] = []

    def run(pusher: CrmPusher) -> None:
        try:
            for _ in range(20):
                pusher.push_due()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in pushers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    received = crm.events()
    assert sorted(e["idempotency_key"] for e in received) == sorted(keys)
    assert all(e["deliveries"] == 1 for e in received)
    for handoff in handoffs:
        arrived = [e["event"] for e in received if e["payload"]["data"]["handoff"] == handoff]
        assert arrived == ["handoff.created", "handoff.claimed", "handoff.closed"]


def test_a_push_signed_with_the_wrong_secret_is_refused_and_fails(
    sessions: SessionFactory,
    clock: FakeClock,
    crm: Crm,
    make_pusher: Any,
    webhooks: list[CrmWebhook],
) -> None:
    """The CRM checks the signature: a wrong secret gets 401, stores nothing, and the
    event fails for an operator to see."""
    key = record(sessions, clock, None, "lead.created")
    impostor = CrmWebhook(crm.url, [b"not-the-shared-secret-0000000000"])
    webhooks.append(impostor)

    assert make_pusher(sender=impostor).push_due() == 0

    assert crm.events() == []
    assert (rows(sessions)[key].status, rows(sessions)[key].last_status) == ("failed", 401)

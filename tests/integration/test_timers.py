"""Durable timers: scheduled once, fired once, retried after failures, never lost."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.adapters import audit_log, leases, timers
from bot.adapters.db import SessionFactory
from bot.adapters.tables import Conversation, Timer
from bot.service_layer.timers import TimerHandler, TimerRunner
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.prospects import add_prospect

LEASE = timedelta(seconds=60)


class Recorder:
    """A handler that notes each timer it fires, failing the first `failures` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[str] = []
        self.failures = failures
        self._lock = threading.Lock()

    def __call__(self, session: Session, timer: Timer, now: datetime) -> None:
        with self._lock:
            self.calls.append(timer.key)
            if self.failures > 0:
                self.failures -= 1
                raise RuntimeError("reminder template missing")


def runner(
    sessions: SessionFactory,
    clock: FakeClock,
    handlers: dict[str, TimerHandler],
    owner: str = "svc-1",
    **kwargs: object,
) -> TimerRunner:
    return TimerRunner(sessions, clock, handlers, owner=owner, **kwargs)  # type: ignore[arg-type]


def add_conversation(sessions: SessionFactory, clock: FakeClock, cid: str, n: int = 1) -> str:
    with sessions.begin() as s:
        add_prospect(s, f"whatsapp:+120255501{n:02d}", Conversation(id=cid, created_at=clock.now()))
    return cid


def schedule(
    sessions: SessionFactory,
    clock: FakeClock,
    key: str,
    *,
    after: float = 60,
    kind: str = "consent_reminder",
    conversation_id: str | None = None,
) -> bool:
    with sessions.begin() as s:
        return timers.schedule(
            s,
            key=key,
            kind=kind,
            due_at=clock.now() + timedelta(seconds=after),
            now=clock.now(),
            conversation_id=conversation_id,
            payload={"consent_id": 7},
        )


def timer_row(sessions: SessionFactory, key: str) -> Timer:
    with sessions.begin() as s:
        return s.scalars(select(Timer).where(Timer.key == key)).one()


def test_a_timer_fires_once_at_its_due_time_and_never_again(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Nothing happens before the due time; then the timer fires once, even after a restart."""
    handler = Recorder()
    first = runner(sessions, clock, {"consent_reminder": handler})
    schedule(sessions, clock, "consent-reminder:1", after=60)

    assert first.fire_due() == 0
    clock.advance(59)
    assert first.fire_due() == 0
    assert handler.calls == []

    clock.advance(1)
    assert first.fire_due() == 1
    assert handler.calls == ["consent-reminder:1"]

    clock.advance(3600)
    restarted = runner(sessions, clock, {"consent_reminder": handler})
    other_replica = runner(sessions, clock, {"consent_reminder": handler}, owner="svc-2")
    assert first.fire_due() + restarted.fire_due() + other_replica.fire_due() == 0
    assert handler.calls == ["consent-reminder:1"]
    row = timer_row(sessions, "consent-reminder:1")
    assert (row.status, row.fired_at, json.loads(row.payload)) == (
        "fired",
        clock.now() - timedelta(seconds=3600),
        {"consent_id": 7},
    )


def test_scheduling_the_same_key_twice_keeps_one_timer_with_the_first_due_time(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A repeated schedule changes nothing, and a fired timer is not brought back."""
    assert schedule(sessions, clock, "invite-expiry:3", after=60, kind="invite_expiry")
    assert not schedule(sessions, clock, "invite-expiry:3", after=600, kind="invite_expiry")
    with sessions.begin() as s:
        assert s.scalar(select(func.count()).select_from(Timer)) == 1
    assert timer_row(sessions, "invite-expiry:3").due_at == clock.now() + timedelta(seconds=60)

    handler = Recorder()
    clock.advance(60)
    assert runner(sessions, clock, {"invite_expiry": handler}).fire_due() == 1
    assert not schedule(sessions, clock, "invite-expiry:3", after=0, kind="invite_expiry")
    assert runner(sessions, clock, {"invite_expiry": handler}).fire_due() == 0
    assert handler.calls == ["invite-expiry:3"]


def test_cancelled_timers_never_fire(sessions: SessionFactory, clock: FakeClock) -> None:
    """Cancelling by kind leaves the conversation's other timers; cancelled ones never fire."""
    cid = add_conversation(sessions, clock, "conv-cancel")
    schedule(sessions, clock, "consent-reminder:c", conversation_id=cid)
    schedule(sessions, clock, "invite-expiry:c", kind="invite_expiry", conversation_id=cid)

    with sessions.begin() as s:
        assert timers.cancel(s, conversation_id=cid, now=clock.now(), kinds=["invite_expiry"]) == 1
        assert [t.key for t in timers.pending_for(s, cid)] == ["consent-reminder:c"]
    with sessions.begin() as s:
        assert timers.cancel(s, conversation_id=cid, now=clock.now()) == 1
        assert timers.pending_for(s, cid) == []

    handler = Recorder()
    clock.advance(3600)
    assert (
        runner(sessions, clock, {"consent_reminder": handler, "invite_expiry": handler}).fire_due()
        == 0
    )
    assert handler.calls == []


def test_a_failing_handler_is_retried_after_a_growing_backoff_then_fires_once(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A failure is recorded and retried 5 s, then 10 s later, not sooner; then it fires once."""
    handler = Recorder(failures=2)
    r = runner(sessions, clock, {"consent_reminder": handler}, retry_base_seconds=5.0)
    schedule(sessions, clock, "consent-reminder:2", after=0)

    assert r.fire_due() == 0
    row = timer_row(sessions, "consent-reminder:2")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "RuntimeError: reminder template missing"

    clock.advance(4)
    assert r.fire_due() == 0
    assert len(handler.calls) == 1
    clock.advance(1)
    assert r.fire_due() == 0  # second failure: the next try waits 10 s
    assert timer_row(sessions, "consent-reminder:2").attempts == 2
    clock.advance(9)
    assert runner(sessions, clock, {"consent_reminder": handler}, owner="svc-2").fire_due() == 0
    assert len(handler.calls) == 2

    clock.advance(1)
    assert r.fire_due() == 1
    clock.advance(600)
    assert r.fire_due() == 0
    assert handler.calls == ["consent-reminder:2"] * 3
    assert timer_row(sessions, "consent-reminder:2").status == "fired"


def test_a_timer_of_unknown_kind_is_cancelled_not_retried(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A timer no handler knows is set aside with a reason instead of looping."""
    schedule(sessions, clock, "advisor-sla:9", after=0, kind="advisor_sla")
    r = runner(sessions, clock, {"consent_reminder": Recorder()})
    assert r.fire_due() == 0
    clock.advance(3600)
    assert r.fire_due() == 0
    row = timer_row(sessions, "advisor-sla:9")
    assert (row.status, row.last_error) == ("cancelled", "no handler for timer kind 'advisor_sla'")


def test_two_runners_racing_fire_each_timer_exactly_once(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Two service replicas working the same due timers fire each of them once in total."""
    keys = [f"invite-reminder:{i}" for i in range(40)]
    for key in keys:
        schedule(sessions, clock, key, after=0, kind="invite_reminder")
    handler = Recorder()
    runners = [
        runner(sessions, clock, {"invite_reminder": handler}, owner=f"svc-{n}", batch=4)
        for n in (1, 2)
    ]
    start = threading.Barrier(len(runners))
    fired: list[int] = []
    errors: list[BaseException] = []

    def work(r: TimerRunner) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(len(keys)):  # bounded: a runner that refires must not hang the test
                if (n := r.fire_due()) == 0:
                    break
                fired.append(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert Counter(handler.calls) == Counter(keys)
    assert sum(fired) == len(keys)


def test_a_claim_left_by_a_dead_runner_is_taken_over_after_its_lease(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A runner that claimed a timer and died delays it by one lease, not forever."""
    schedule(sessions, clock, "invite-expiry:5", after=0, kind="invite_expiry")
    with sessions.begin() as s:
        assert timers.claim_due(s, now=clock.now(), owner="dead", lease=LEASE, limit=10) != []
    handler = Recorder()
    survivor = runner(sessions, clock, {"invite_expiry": handler}, owner="svc-2", lease=LEASE)

    assert survivor.fire_due() == 0
    clock.advance(59)
    assert survivor.fire_due() == 0
    clock.advance(1)
    assert survivor.fire_due() == 1
    assert handler.calls == ["invite-expiry:5"]
    assert timer_row(sessions, "invite-expiry:5").claimed_by == "svc-2"


def test_claims_come_oldest_due_first_and_respect_the_limit(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The timers waiting longest are claimed first; not-yet-due ones are left alone."""
    schedule(sessions, clock, "b", after=20)
    schedule(sessions, clock, "a", after=10)
    schedule(sessions, clock, "c", after=30)
    schedule(sessions, clock, "later", after=999)
    clock.advance(30)
    with sessions.begin() as s:
        ids = timers.claim_due(s, now=clock.now(), owner="svc-1", lease=LEASE, limit=2)
        keys = [s.get_one(Timer, i).key for i in ids]
        rest = timers.claim_due(s, now=clock.now(), owner="svc-1", lease=LEASE, limit=10)
        assert [s.get_one(Timer, i).key for i in rest] == ["c"]
    assert keys == ["a", "b"]


def test_a_handlers_writes_and_the_fired_mark_commit_together(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A handler that writes and then fails leaves nothing behind; when it succeeds, both stay."""
    schedule(sessions, clock, "invite-reminder:4", after=0, kind="invite_reminder")
    fail = [True]

    def schedule_expiry_then_maybe_fail(s: Session, timer: Timer, now: datetime) -> None:
        timers.schedule(s, key="invite-expiry:4", kind="invite_expiry", due_at=now + LEASE, now=now)
        if fail[0]:
            raise ConnectionError("lost the database mid-way")

    r = runner(sessions, clock, {"invite_reminder": schedule_expiry_then_maybe_fail})
    assert r.fire_due() == 0
    with chained(sessions).begin() as s:
        assert s.scalars(select(Timer.key)).all() == ["invite-reminder:4"]
        assert [rec.kind for rec in audit_log.iter_records(s)] == []

    fail[0] = False
    clock.advance(5)
    assert r.fire_due() == 1
    with sessions.begin() as s:
        assert sorted(s.scalars(select(Timer.key)).all()) == [
            "invite-expiry:4",
            "invite-reminder:4",
        ]


def test_firing_is_audited_and_the_audit_chain_still_verifies(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Each firing leaves one timer_fired record naming the timer, and the chain verifies."""
    cid = add_conversation(sessions, clock, "conv-audit")
    for i in range(3):
        schedule(sessions, clock, f"consent-reminder:{i}", after=i, conversation_id=cid)
    clock.advance(5)
    assert runner(sessions, clock, {"consent_reminder": Recorder()}).fire_due() == 3

    with chained(sessions).begin() as s:
        records = list(audit_log.iter_records(s))
        checked, broken = audit_log.verify(s)
    assert (checked, broken) == (3, None)
    assert [(r.kind, r.conversation_id) for r in records] == [("timer_fired", cid)] * 3
    assert [json.loads(r.payload)["key"] for r in records] == [
        f"consent-reminder:{i}" for i in range(3)
    ]


def test_a_timer_waits_while_its_conversation_is_being_processed(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A reminder does not cut into a message being handled; it fires once the worker is done."""
    cid = add_conversation(sessions, clock, "conv-busy")
    schedule(sessions, clock, "consent-reminder:busy", after=0, conversation_id=cid)
    with sessions.begin() as s:
        assert leases.claim(s, cid, "worker-1", clock.now(), LEASE)
    handler = Recorder()
    r = runner(sessions, clock, {"consent_reminder": handler}, retry_base_seconds=5.0)

    assert r.fire_due() == 0
    assert handler.calls == []
    with sessions.begin() as s:
        leases.release(s, cid, "worker-1")
    clock.advance(5)
    assert r.fire_due() == 1
    assert handler.calls == ["consent-reminder:busy"]
    assert timer_row(sessions, "consent-reminder:busy").attempts == 0


def test_a_timer_cancelled_by_an_earlier_one_in_the_same_batch_does_not_fire(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """An invite expiring cancels the reminder due at the same moment; the reminder stays silent."""
    cid = add_conversation(sessions, clock, "conv-expiry")
    schedule(
        sessions, clock, "invite-expiry:6", after=10, kind="invite_expiry", conversation_id=cid
    )
    schedule(
        sessions, clock, "invite-reminder:6", after=20, kind="invite_reminder", conversation_id=cid
    )
    reminders = Recorder()

    def expire(s: Session, timer: Timer, now: datetime) -> None:
        timers.cancel(s, conversation_id=cid, now=now, kinds=["invite_reminder"])

    r = runner(sessions, clock, {"invite_expiry": expire, "invite_reminder": reminders})
    clock.advance(20)
    assert r.fire_due() == 1
    assert reminders.calls == []
    assert timer_row(sessions, "invite-reminder:6").status == "cancelled"

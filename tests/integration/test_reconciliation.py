"""Reconciling gangway's records with the provider's, on a real database and a fake
provider (tests/fakes/ports.py FakeMessageHistory); the real twilio client against the
sandbox is in test_reconciliation_sandbox.py."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_FLOW_PATH, load_flow
from bot.adapters.tables import Conversation, OutboxMessage, ReconciliationRun
from bot.domain.reconciliation import Side
from bot.service_layer import failed_work
from bot.service_layer.errors import TransientError
from bot.service_layer.failed_items import Operator
from bot.service_layer.reconciliation import (
    Reconciler,
    ReconciliationFailed,
    ScheduledReconciliation,
)
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeMessageHistory
from tests.integration.gangway_records import record_in, record_out

ANNA = "whatsapp:+12025550123"
BERT = "whatsapp:+4915112345678"
GRACE = timedelta(minutes=10)
FLOW = load_flow(DEFAULT_FLOW_PATH)
DAY = timedelta(hours=24)


@pytest.fixture
def history() -> FakeMessageHistory:
    return FakeMessageHistory()


@pytest.fixture
def reconciler(
    sessions: SessionFactory, clock: FakeClock, history: FakeMessageHistory
) -> Reconciler:
    return Reconciler(sessions, clock, history, grace=GRACE)


def runs(sessions: SessionFactory) -> list[ReconciliationRun]:
    with sessions() as s:
        return list(s.scalars(select(ReconciliationRun).order_by(ReconciliationRun.id)))


def audit_payloads(sessions: SessionFactory, kind: str) -> list[dict[str, Any]]:
    with chained(sessions)() as s:
        records = [r for r in audit_log.iter_records(s) if r.kind == kind]
    return [json.loads(r.payload) for r in records]


def test_matching_sides_are_clean_and_recorded(
    sessions: SessionFactory,
    clock: FakeClock,
    history: FakeMessageHistory,
    reconciler: Reconciler,
) -> None:
    """Both directions on both sides: no gaps, the run and its counts are kept."""
    hour_ago = clock.now() - timedelta(hours=1)
    inbound = history.add(ANNA, "inbound", hour_ago)
    outbound = history.add(ANNA, "outbound", hour_ago + timedelta(seconds=3))
    record_in(sessions, inbound.sid, ANNA, hour_ago + timedelta(seconds=1))
    record_out(sessions, outbound.sid, ANNA, hour_ago + timedelta(seconds=2))

    report = reconciler.reconcile_since(DAY)

    assert report.result.clean
    assert report.result.counts() == {
        "provider_inbound": 1,
        "provider_outbound": 1,
        "gangway_inbound": 1,
        "gangway_outbound": 1,
        "not_handed_over": 0,
        "not_in_gangway": 0,
        "not_at_provider": 0,
    }
    [run] = runs(sessions)
    assert (run.id, run.trigger, run.outcome) == (report.run_id, "command", "clean")
    assert (run.range_start, run.range_end) == (clock.now() - DAY, clock.now() - GRACE)
    assert (run.gangway_inbound, run.provider_outbound, run.not_in_gangway) == (1, 1, 0)
    [payload] = audit_payloads(sessions, "reconciliation")
    assert payload["gaps"] == [] and payload["provider_inbound"] == 1


def test_gaps_on_both_sides_are_reported_logged_and_audited_without_numbers(
    sessions: SessionFactory,
    clock: FakeClock,
    history: FakeMessageHistory,
    reconciler: Reconciler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A provider message gangway lacks and gangway messages the provider lacks are gaps,
    each with side, sid, direction and time; numbers appear masked or not at all."""
    at = clock.now() - timedelta(hours=2)
    unrecorded = history.add(BERT, "outbound", at)  # sent around gangway
    record_in(sessions, "SM" + "a" * 32, ANNA, at + timedelta(minutes=1))
    record_out(sessions, "SM" + "b" * 32, ANNA, at + timedelta(minutes=2))

    with caplog.at_level(logging.ERROR):
        report = reconciler.reconcile_since(DAY)

    gaps = [(g.side, g.sid, g.direction) for g in report.result.gaps]
    assert gaps == [
        (Side.NOT_IN_GANGWAY, unrecorded.sid, "outbound"),
        (Side.NOT_AT_PROVIDER, "SM" + "a" * 32, "inbound"),
        (Side.NOT_AT_PROVIDER, "SM" + "b" * 32, "outbound"),
    ]
    assert report.result.gaps[0].at == at
    assert report.result.gaps[0].counterpart == "whatsapp:+4915*******78"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3
    assert all(sid in text for sid, text in zip([g[1] for g in gaps], errors, strict=True))
    assert not any(ANNA[10:] in text or BERT[10:] in text for text in errors)
    [run] = runs(sessions)
    assert (run.outcome, run.not_in_gangway, run.not_at_provider) == ("gaps", 1, 2)
    [payload] = audit_payloads(sessions, "reconciliation")
    assert [g["sid"] for g in payload["gaps"]] == [g[1] for g in gaps]
    assert "+1202" not in json.dumps(payload) and "+4915" not in json.dumps(payload)


def test_outbox_message_never_handed_over_is_no_gap(
    sessions: SessionFactory, clock: FakeClock, reconciler: Reconciler
) -> None:
    """An outbound message the provider never accepted is counted aside, not a gap."""
    record_out(sessions, None, ANNA, clock.now() - timedelta(hours=1))
    report = reconciler.reconcile_since(DAY)
    assert report.result.clean
    assert report.result.not_handed_over == 1 and report.result.gangway.outbound == 0


def test_message_without_send_date_is_found_by_its_id(
    sessions: SessionFactory,
    clock: FakeClock,
    history: FakeMessageHistory,
    reconciler: Reconciler,
) -> None:
    """A message still queued at the provider is in no dated list, yet it is there: no gap."""
    queued = history.add(ANNA, "outbound", None, status="queued")
    record_out(sessions, queued.sid, ANNA, clock.now() - timedelta(hours=1))
    report = reconciler.reconcile_since(DAY)
    assert report.result.clean
    assert history.lookups == [queued.sid]


def test_messages_within_the_grace_period_are_left_for_later(
    sessions: SessionFactory,
    clock: FakeClock,
    history: FakeMessageHistory,
    reconciler: Reconciler,
) -> None:
    """A message a minute old, on one side only, may still be in flight: not a gap yet."""
    history.add(ANNA, "inbound", clock.now() - timedelta(minutes=1))
    record_in(sessions, "SM" + "c" * 32, BERT, clock.now() - timedelta(minutes=1))
    assert reconciler.reconcile_since(DAY).result.clean


def test_range_inside_the_grace_period_is_refused(reconciler: Reconciler) -> None:
    """Asking for less than the grace period leaves nothing to check: a plain error."""
    with pytest.raises(ValueError, match="grace period"):
        reconciler.reconcile_since(timedelta(minutes=5))


def test_provider_failure_is_recorded_as_a_failed_run(
    sessions: SessionFactory, history: FakeMessageHistory, reconciler: Reconciler
) -> None:
    """When the provider cannot be read the run fails, and says so in its record."""
    history.errors.append(TransientError("twilio", "no answer to GET api.twilio.com", status=503))
    with pytest.raises(ReconciliationFailed) as caught:
        reconciler.reconcile_since(DAY)
    [run] = runs(sessions)
    assert (run.id, run.outcome) == (caught.value.run_id, "failed")
    assert run.error is not None and "no answer" in run.error
    [payload] = audit_payloads(sessions, "reconciliation_failed")
    assert payload["run_id"] == run.id


def test_schedule_runs_once_per_slot_and_continues_where_it_ended(
    sessions: SessionFactory, clock: FakeClock, history: FakeMessageHistory
) -> None:
    """Two processes share each daily slot once; the next day's run starts where
    the last one ended, so no stretch goes unchecked."""
    first = ScheduledReconciliation(
        Reconciler(sessions, clock, history, grace=GRACE), sessions, clock, interval=DAY
    )
    second = ScheduledReconciliation(
        Reconciler(sessions, clock, history, grace=GRACE), sessions, clock, interval=DAY
    )
    assert first.fire_due() == 1
    assert second.fire_due() == 0 and first.fire_due() == 0
    clock.advance(DAY.total_seconds())
    assert second.fire_due() == 1
    one, two = runs(sessions)
    assert (one.trigger, two.trigger) == ("schedule", "schedule")
    assert one.range_end - one.range_start == DAY
    assert two.range_start == one.range_end
    assert two.range_end == clock.now() - GRACE


def test_schedule_runs_again_after_a_failed_run_over_its_range(
    sessions: SessionFactory, clock: FakeClock, history: FakeMessageHistory
) -> None:
    """A failed scheduled run checked nothing: the next one covers its range too."""
    job = ScheduledReconciliation(
        Reconciler(sessions, clock, history, grace=GRACE), sessions, clock, interval=DAY
    )
    history.errors.append(TransientError("twilio", "rate limited", status=429))
    assert job.fire_due() == 1  # ran, and failed
    clock.advance(DAY.total_seconds())
    assert job.fire_due() == 1
    failed, caught_up = runs(sessions)
    assert (failed.outcome, caught_up.outcome) == ("failed", "clean")
    assert caught_up.range_start == failed.range_start
    assert caught_up.range_end - caught_up.range_start == 2 * DAY


def test_a_reply_sent_again_from_the_failed_work_list_leaves_no_gap(
    sessions: SessionFactory,
    clock: FakeClock,
    history: FakeMessageHistory,
    reconciler: Reconciler,
) -> None:
    """A reply that failed after the provider took it, retried by an operator, is at
    the provider twice (two ids): both are gangway's, neither is a gap."""
    hour_ago = clock.now() - timedelta(hours=1)
    first = history.add(ANNA, "outbound", hour_ago, status="undelivered")
    record_out(sessions, first.sid, ANNA, hour_ago)
    with sessions.begin() as s:
        row = s.execute(select(OutboxMessage)).scalar_one()
        row.status, row.error_code = "undelivered", "30008"
        s.get_one(Conversation, row.conversation_id).last_inbound_at = hour_ago
        row_id = row.id
    failed_work.retry(sessions, "outbox", row_id, clock.now(), Operator(name="olga"), FLOW)
    again = history.add(ANNA, "outbound", clock.now() - timedelta(minutes=50))
    with sessions.begin() as s:  # what the running service's send records
        row = s.get_one(OutboxMessage, row_id)
        row.status, row.provider_sid = "delivered", again.sid
    clock.advance(30 * 60)

    report = reconciler.reconcile_since(DAY)  # the retry's record not chained yet

    assert report.result.clean, report.result.gaps
    assert report.result.provider.outbound == 2 and report.result.gangway.outbound == 1
    chained(sessions)
    assert reconciler.reconcile_since(DAY).result.clean
    other = history.add(ANNA, "outbound", clock.now() - timedelta(minutes=45))
    [gap] = reconciler.reconcile_since(DAY).result.gaps
    assert gap.sid == other.sid  # an unknown id is still a gap

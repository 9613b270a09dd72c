"""Gangway keeps WhatsApp's 24-hour window: timer messages after it closed go out as the
flow's templates (or not at all, with the reason recorded), and a message WhatsApp
refuses with 63016 fails for good with the reason kept. A real database, the default
flow, and the ports faked as in test_protocol."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_FLOW_PATH
from bot.adapters.tables import AuditLog, OutboxMessage, Timer
from bot.service_layer.errors import PermanentError
from bot.service_layer.receiving import record_status
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.prospects import opened
from tests.integration.test_protocol import PASSPORT, Stack

DAY = timedelta(hours=24)


def flow_file(tmp_path: Path, consent_reminder: str, templates: bool = True) -> Path:
    """The default flow with another consent reminder delay, with or without templates."""
    text = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")
    text = text.replace("  consent_reminder: 10m\n", f"  consent_reminder: {consent_reminder}\n")
    if not templates:
        text = re.sub(r"\ntemplates:\n(?:  .*\n|    .*\n)+", "\n", text)
    path = tmp_path / "flow.yml"
    path.write_text(text, encoding="utf-8")
    return path


def audit(stack: Stack, kind: str) -> list[dict[str, object]]:
    with chained(stack.sessions)() as s:
        rows = s.execute(select(AuditLog.payload).where(AuditLog.kind == kind)).scalars()
        return [json.loads(payload) for payload in rows]


def test_a_reminder_inside_the_window_is_free_form(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Ten minutes after the prospect wrote, the consent reminder is a plain message."""
    stack = Stack(sessions, clock)
    stack.say(PASSPORT)
    [reminder] = stack.wait(stack.flows.current().timers.consent_reminder)
    body, content_sid, _ = stack.sender.templates[-1]
    assert (body, content_sid) == (reminder, None)


def test_a_reminder_after_the_window_closed_goes_as_the_flows_template(
    sessions: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    """A consent reminder due 25 hours after the prospect's message is sent as the flow's
    approved template, its text recorded as the prospect sees it."""
    stack = Stack(sessions, clock, flow=flow_file(tmp_path, "25h"))
    stack.say(PASSPORT)
    assert stack.wait(DAY) == []
    [reminder] = stack.wait(timedelta(hours=1))
    flow = stack.flows.current()
    assert reminder == flow.text("consent_reminder", "en")
    body, content_sid, variables = stack.sender.templates[-1]
    assert content_sid == flow.templates["consent_reminder"]["en"]
    assert variables == {"1": flow.terms_url("en")}
    [row] = [r for r in stack.rows(OutboxMessage) if r.kind == "timer"]
    with sessions() as s:
        recorded = opened(s, row.conversation_id, "outbox_body", row.body)
    assert (row.content_sid, row.status, recorded) == (content_sid, "queued", body)


def test_a_german_reminder_uses_the_german_template(
    sessions: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    """The template is chosen in the conversation's language."""
    stack = Stack(sessions, clock, flow=flow_file(tmp_path, "25h"))
    stack.say("Meine Passnummer ist C01X00T47")
    assert stack.conversation().language == "de"
    [reminder] = stack.wait(DAY + timedelta(hours=1))
    flow = stack.flows.current()
    assert reminder == flow.text("consent_reminder", "de")
    assert stack.sender.templates[-1][1] == flow.templates["consent_reminder"]["de"]


def test_without_a_template_the_reminder_is_skipped_and_the_audit_log_says_why(
    sessions: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    """Nothing is sent (it would only fail), the timer is done, and the reason is recorded."""
    stack = Stack(sessions, clock, flow=flow_file(tmp_path, "25h", templates=False))
    stack.say(PASSPORT)
    assert stack.flows.current().templates == {}
    assert stack.wait(DAY + timedelta(hours=1)) == []
    [skipped] = audit(stack, "timer_message_skipped")
    assert skipped["text"] == "consent_reminder"
    assert "24-hour window" in str(skipped["reason"])
    assert "templates.consent_reminder" in str(skipped["reason"])
    assert [t.status for t in stack.rows(Timer) if t.kind == "consent_reminder"] == ["fired"]
    assert [r.kind for r in stack.rows(OutboxMessage)] == ["consent"]


def test_the_invite_expiry_notice_a_day_later_goes_as_a_template(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The invite expires 24 hours after the prospect's last message, when the window has
    closed: the notice goes as the template, the reminder an hour in as free-form."""
    stack = Stack(sessions, clock)
    stack.say(PASSPORT)
    stack.say("yes")
    timers = stack.flows.current().timers
    stack.wait(timers.invite_reminder)
    assert stack.sender.templates[-1][1] is None
    [expired] = stack.wait(timers.invite_expiry - timers.invite_reminder)
    assert expired == stack.flows.current().text("invite_expired", "en")
    assert stack.sender.templates[-1][1] == stack.flows.current().templates["invite_expired"]["en"]


def test_a_63016_delivery_failure_is_final_and_says_why(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Twilio reports a free-form message failed with 63016: it stays failed, is never sent
    again, and the outbox row says why."""
    stack = Stack(sessions, clock)
    [reply] = stack.say("hi")
    sid = stack.sender.sent[-1].sid
    with sessions.begin() as s:
        record_status(s, sid=sid, status="failed", error_code="63016", now=clock.now())
    stack.wait(timedelta(minutes=5))
    assert [m.body for m in stack.sender.sent] == [reply]
    [row] = stack.rows(OutboxMessage)
    assert (row.status, row.error_code) == ("failed", "63016")
    assert row.last_error is not None and "24 hours" in row.last_error
    [status] = [p for p in audit(stack, "delivery_status") if p["provider_sid"] == sid]
    assert status["error_code"] == "63016" and status["applied"] is True


def test_a_63016_refusal_when_sending_is_not_retried(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A send refused outright with 63016 fails at once, without retries."""
    stack = Stack(sessions, clock)
    stack.sender.errors.append(
        PermanentError("twilio", "outside the allowed window", status=400, code=63016)
    )
    stack.say("hi")
    stack.wait(timedelta(minutes=5))
    [row] = stack.rows(OutboxMessage)
    assert (row.status, row.error_code, row.attempts) == ("failed", "63016", 1)
    assert len(stack.sender.templates) == 1
    [failed] = audit(stack, "outbound_failed")
    assert failed["error_code"] == "63016"

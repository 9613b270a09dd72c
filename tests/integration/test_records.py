"""The records' life: invite links never kept in clear, erasure with and without a
legal hold, retention runs, and the evidence bundle, through the real protocol."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.adapters import invites
from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_FLOW_PATH
from bot.adapters.flow_version_store import VersionedFlowStore
from bot.adapters.tables import (
    AuditContent,
    AuditLog,
    Conversation,
    CrmDelivery,
    Handoff,
    Invite,
    OutboxMessage,
    Timer,
)
from bot.adapters.vault import ERASED, Vault
from bot.domain.retention import Retention
from bot.entrypoints.cli import app
from bot.service_layer.erasure import erase_conversation, place_hold
from bot.service_layer.handoff_events import CrmHandoffEvents
from bot.service_layer.handoff_summary import transcript
from bot.service_layer.retention import RetentionRunner, run_retention
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.keys import keys_env
from tests.fakes.prospects import add_prospect, opened
from tests.integration.test_protocol import IBAN, PROSPECT, PUBLIC, SECRET, Stack

DAY = timedelta(days=1)


def _link(text: str) -> str:
    return next(word for word in text.split() if word.startswith(PUBLIC + "/"))


def gangway(
    vault: Vault, database_url: str, *args: str, flow: Path | None = None
) -> tuple[int, str]:
    env = {"DATABASE_URL": database_url, **keys_env(vault.keyring)}
    if flow is not None:
        env["GANGWAY_FLOW"] = str(flow)
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture
def stack(sessions: SessionFactory, clock: FakeClock) -> Stack:
    return Stack(sessions, clock)


def invited(stack: Stack) -> str:
    """The prospect disclosed an IBAN and agreed: the link they were sent."""
    stack.say(IBAN)
    [reply] = stack.say("yes")
    return _link(reply)


def everything_stored(stack: Stack) -> str:
    """Every text column of the rows that could hold a link, opened where sealed."""
    parts: list[str] = []
    with chained(stack.sessions)() as s:
        for row in s.execute(select(OutboxMessage)).scalars():
            parts += [row.body, opened(s, row.conversation_id, "outbox_body", row.body)]
            if row.content_variables:
                parts.append(
                    opened(s, row.conversation_id, "content_variables", row.content_variables)
                )
        parts += [t.payload for t in s.execute(select(Timer)).scalars()]
        parts += [r.payload for r in s.execute(select(AuditLog)).scalars()]
        for content in s.execute(select(AuditContent)).scalars():
            parts.append(opened(s, content.conversation_id or "", "audit_content", content.sealed))
        parts += [line.text for line in transcript(s, stack.conversation_id)]
    return "\n".join(parts)


def test_an_invite_link_is_kept_nowhere_but_sealed_on_its_invite(stack: Stack) -> None:
    """The link reaches the prospect, yet no outbox body, timer, audit record or
    transcript holds it, sealed or not: they show "[secure-channel link, invite #N]"."""
    link = invited(stack)
    token = link.rsplit("/", 1)[1]
    stored = everything_stored(stack)
    assert token not in stored
    [invite] = stack.rows(Invite)
    assert f"[secure-channel link, invite #{invite.id}]" in stored
    assert invite.link_sealed and token not in invite.link_sealed


def test_the_reminder_carries_the_same_link_and_a_used_link_is_forgotten(stack: Stack) -> None:
    """The reminder puts the link back in from the invite; once the link is used,
    even its sealed copy is gone."""
    link = invited(stack)
    [reminder] = stack.wait(timedelta(hours=1))
    assert _link(reminder) == link
    with stack.sessions.begin() as s:
        outcome = invites.redeem_invite(
            s, token=link.rsplit("/", 1)[1], secret=SECRET, now=stack.clock.now()
        )
    assert outcome.outcome == "activated"
    [invite] = stack.rows(Invite)
    assert invite.link_sealed is None


def test_stop_revokes_the_open_invite(stack: Stack) -> None:
    """A prospect who opts out cannot enter through the link they were sent."""
    link = invited(stack)
    stack.say("STOP")
    [invite] = stack.rows(Invite)
    assert invite.status == "revoked" and invite.link_sealed is None
    with stack.sessions.begin() as s:
        outcome = invites.redeem_invite(
            s, token=link.rsplit("/", 1)[1], secret=SECRET, now=stack.clock.now()
        )
    assert outcome.outcome == "expired"


def test_erase_shreds_the_conversation_and_the_chain_still_verifies(
    stack: Stack, vault: Vault, database_url: str
) -> None:
    """`gangway erase --number` makes every message unreadable, stops the pending
    reminders, is itself recorded, and `audit verify` passes after it."""
    invited(stack)
    code, out = gangway(vault, database_url, "erase", "--number", PROSPECT, "--reason", "DSAR-42")
    assert code == 0, out
    assert f"erased conversation {stack.conversation_id}" in out
    with chained(stack.sessions)() as s:
        texts = [line.text for line in transcript(s, stack.conversation_id)]
        conv = s.get_one(Conversation, stack.conversation_id)
        kinds = [r.kind for r in s.execute(select(AuditLog).order_by(AuditLog.seq)).scalars()]
    assert texts and set(texts) == {ERASED}
    assert conv.number_hmac is None and conv.number_sealed is None and conv.erased_at
    assert {t.status for t in stack.rows(Timer)} == {"cancelled"}
    assert {i.status for i in stack.rows(Invite)} == {"revoked"}
    assert kinds[-1] == "conversation_erased"
    code, out = gangway(vault, database_url, "audit", "verify")
    assert code == 0, out
    # The number writes again: a new conversation, knowing nothing of the old one.
    stack.say("hello again")
    assert stack.conversation_id != conv.id


def test_a_legal_hold_stops_erasure_until_it_is_released(
    stack: Stack, vault: Vault, database_url: str
) -> None:
    """Erasing a held conversation exits 1 saying so, and changes nothing."""
    invited(stack)
    code, out = gangway(
        vault, database_url, "hold", "add", "--number", PROSPECT, "--reason", "case 2026-17"
    )
    assert code == 0, out
    code, out = gangway(vault, database_url, "hold", "list")
    assert stack.conversation_id in out and "case 2026-17" in out
    code, out = gangway(vault, database_url, "erase", "--number", PROSPECT, "--reason", "DSAR-43")
    assert code == 1 and "legal hold" in out and "case 2026-17" in out
    with stack.sessions() as s:
        assert IBAN in [line.text for line in transcript(s, stack.conversation_id)]
    code, out = gangway(
        vault, database_url, "hold", "remove", "--number", PROSPECT, "--reason", "case closed"
    )
    assert code == 0, out
    code, out = gangway(vault, database_url, "erase", "--number", PROSPECT, "--reason", "DSAR-43")
    assert code == 0, out


def test_erase_of_an_unknown_number_or_without_a_reason_is_refused(
    vault: Vault, database_url: str
) -> None:
    code, out = gangway(vault, database_url, "erase", "--number", PROSPECT, "--reason", "x")
    assert code == 1 and "no conversation" in out
    code, out = gangway(vault, database_url, "erase", "--number", PROSPECT)
    assert code == 1 and "--reason" in out


def test_retention_erases_what_is_due_and_never_what_is_held(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """With an injected clock: a declined conversation goes after its shorter period,
    the others after the transcripts period; a dry run erases nothing; a held one stays."""
    stack = Stack(sessions, clock)

    def prospect(number: str, *texts: str) -> str:
        stack.number = number
        for text in texts:
            stack.say(text)
        return stack.conversation_id

    def erased(conversation_id: str) -> bool:
        with sessions() as s:
            return s.get_one(Conversation, conversation_id).erased_at is not None

    declined = prospect("whatsapp:+12025550111", IBAN, "no thanks")
    quiet = prospect("whatsapp:+12025550112", "what are your opening hours?")
    held = prospect("whatsapp:+12025550113", "hello")
    with sessions.begin() as s:
        place_hold(s, held, "case 2026-18", clock.now())
    rules = Retention(transcripts=timedelta(days=365), declined=timedelta(days=90))

    clock.advance((91 * DAY).total_seconds())
    dry = run_retention(sessions, rules, clock.now(), dry_run=True)
    assert dry.erased == [(declined, "declined")]
    assert not erased(declined)

    real = run_retention(sessions, rules, clock.now(), dry_run=False)
    assert real.erased == [(declined, "declined")]
    assert erased(declined) and not erased(quiet)

    clock.advance((300 * DAY).total_seconds())
    later = run_retention(sessions, rules, clock.now(), dry_run=False)
    assert later.erased == [(quiet, "transcripts")]
    assert later.held == [held]
    assert erased(quiet) and not erased(held)


def test_retention_counts_from_the_prospects_last_message(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A conversation older than its period is kept while its last message is not."""
    stack = Stack(sessions, clock)
    stack.say("hello")
    clock.advance((300 * DAY).total_seconds())
    stack.say("hello again")
    clock.advance((100 * DAY).total_seconds())
    rules = Retention(transcripts=timedelta(days=365))
    assert run_retention(sessions, rules, clock.now(), dry_run=False).erased == []
    clock.advance((300 * DAY).total_seconds())
    assert run_retention(sessions, rules, clock.now(), dry_run=False).erased == [
        (stack.conversation_id, "transcripts")
    ]


def test_the_daily_job_runs_once_a_day(sessions: SessionFactory, clock: FakeClock) -> None:
    """Its beat comes often; it runs when the last run is a day old, whoever made it."""
    quiet = Stack(sessions, clock)
    quiet.say("hi")
    runner = RetentionRunner(sessions, clock, lambda: Retention(transcripts=timedelta(days=2)))
    assert runner.fire_due() == 0  # ran: nothing due yet
    clock.advance((3 * DAY).total_seconds())
    # Someone ran it now (with a flow that kept everything): the job waits a day.
    run_retention(sessions, Retention(), clock.now(), dry_run=False)
    assert runner.fire_due() == 0  # a run is less than a day old
    clock.advance(DAY.total_seconds())
    assert runner.fire_due() == 1
    assert quiet.conversation().erased_at is not None


def test_retention_run_dry_run_says_what_it_would_erase(
    stack: Stack, sessions: SessionFactory, vault: Vault, database_url: str, tmp_path: Path
) -> None:
    """`gangway retention run --dry-run` lists what is due and erases nothing; the real
    run then erases it. (The stack's clock is days behind the command's.)

    The periods are the live flow version's: an edit of the file counts once approved.
    """
    VersionedFlowStore(sessions, DEFAULT_FLOW_PATH)  # the service's start: version 1 live
    stack.say("hello")
    flow = tmp_path / "default.yml"
    flow.write_text(DEFAULT_FLOW_PATH.read_text().replace("transcripts: 7y", "transcripts: 1d"))
    code, out = gangway(vault, database_url, "retention", "run", "--dry-run", flow=flow)
    assert code == 0, out
    assert "0 conversations would erase" in out, "an edit nobody approved is in force"
    code, out = gangway(vault, database_url, "flows", "propose", str(flow), "--by", "mia")
    assert code == 0, out
    code, out = gangway(vault, database_url, "flows", "approve", "2", "--by", "carla")
    assert code == 0, out
    code, out = gangway(vault, database_url, "retention", "run", "--dry-run", flow=flow)
    assert code == 0, out
    assert f"would erase {stack.conversation_id} (transcripts period passed)" in out
    assert stack.conversation().erased_at is None
    code, out = gangway(vault, database_url, "retention", "run", flow=flow)
    assert code == 0 and f"erased {stack.conversation_id}" in out
    assert stack.conversation().erased_at is not None


def test_the_evidence_bundle_holds_the_whole_story(
    stack: Stack, vault: Vault, database_url: str, tmp_path: Path
) -> None:
    """`gangway audit export` writes the transcript opened, every event with its content
    checked against its digest, the consent's exact text and hash, and a manifest whose
    hashes match the files; an attachment's file is there as it was sent."""
    stack.say("", NumMedia="1", MediaUrl0=PUBLIC + "/m/1", MediaContentType0="image/png")
    invited(stack)
    out_dir = tmp_path / "bundle"
    code, out = gangway(
        vault, database_url, "audit", "export", stack.conversation_id, "--out", str(out_dir)
    )
    assert code == 0, out
    [photo] = (out_dir / "media").iterdir()
    assert photo.read_bytes().startswith(b"\x89PNG")
    names = sorted(p.name for p in out_dir.iterdir() if p.is_file())
    assert names == sorted(
        [
            "conversation.json",
            "transcript.json",
            "events.json",
            "consent.json",
            "invites.json",
            "handoffs.json",
            "secure_transcript.json",
            "transcript.html",
            "manifest.json",
        ]
    )
    manifest = json.loads((out_dir / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out_dir / name).read_bytes()).hexdigest() == digest
    assert f"media/{photo.name}" in manifest["files"]
    assert manifest["chain"]["intact"] is True
    lines = json.loads((out_dir / "transcript.json").read_text())
    assert [line["text"] for line in lines if line["direction"] == "inbound"] == ["", IBAN, "yes"]
    assert all(line["provider_sid"] for line in lines)
    [consent] = json.loads((out_dir / "consent.json").read_text())
    assert consent["decision"] == "agreed" and consent["text_matches_hash"] is True
    assert hashlib.sha256(consent["shown_text"].encode()).hexdigest() == consent["shown_sha256"]
    events = json.loads((out_dir / "events.json").read_text())
    kinds = [e["kind"] for e in events]
    assert {"inbound_message", "chart_terms_offered", "consent_agreed", "invite_issued"} <= set(
        kinds
    )
    with_content = [e for e in events if "content" in e]
    assert with_content and all(e["content_matches_digest"] for e in with_content)
    assert "DE89 3704" in (out_dir / "transcript.html").read_text()


def test_an_erased_conversation_exports_its_skeleton_and_erasure(
    stack: Stack, vault: Vault, database_url: str, tmp_path: Path
) -> None:
    invited(stack)
    gangway(vault, database_url, "erase", "--number", PROSPECT, "--reason", "DSAR-44")
    code, out = gangway(
        vault, database_url, "audit", "export", stack.conversation_id, "--out", str(tmp_path / "b")
    )
    assert code == 0, out
    text = "".join(p.read_text() for p in (tmp_path / "b").iterdir())
    assert "DE89" not in text and "12025550101" not in text
    events = json.loads((tmp_path / "b" / "events.json").read_text())
    assert events[-1]["kind"] == "conversation_erased"
    assert events[-1]["payload"]["reason"] == "DSAR-44"
    lines = json.loads((tmp_path / "b" / "transcript.json").read_text())
    assert lines and {line["text"] for line in lines} == {ERASED}
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["erased"] is True


def test_export_refuses_to_overwrite_a_bundle(
    stack: Stack, vault: Vault, database_url: str, tmp_path: Path
) -> None:
    stack.say("hello")
    args = ("audit", "export", stack.conversation_id, "--out", str(tmp_path))
    assert gangway(vault, database_url, *args)[0] == 0
    code, out = gangway(vault, database_url, *args)
    assert code == 1 and "already holds" in out


def test_erasure_closes_open_handoffs_and_tells_the_crm(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """An advisor's open handoff of an erased prospect is closed, as a person closes one:
    in the audit log and with a handoff.closed event for the CRM."""
    with sessions.begin() as s:
        add_prospect(s, PROSPECT, Conversation(id="conv-1", created_at=clock.now()))
        s.add(
            Handoff(
                conversation_id="conv-1",
                reason="threshold",
                status="queued",
                queue="advisors-en",
                level="identity",
                summary="{}",
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    with sessions.begin() as s:
        erase_conversation(
            s,
            "conv-1",
            reason="DSAR-45",
            cause="request",
            now=clock.now(),
            events=CrmHandoffEvents(),
        )
    with chained(sessions)() as s:
        [handoff] = s.execute(select(Handoff)).scalars()
        events = [d.event for d in s.execute(select(CrmDelivery)).scalars()]
        kinds = [r.kind for r in s.execute(select(AuditLog).order_by(AuditLog.seq)).scalars()]
    assert handoff.status == "closed" and handoff.closed_at is not None
    assert events == ["handoff.closed"]
    assert kinds[-2:] == ["handoff_closed", "conversation_erased"]

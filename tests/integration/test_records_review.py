"""Records at rest at their edges: provider errors that quote a number, a used link,
and what still happens to a conversation after it was erased.

Each test states the promise (README "Records") and exercises the real use case on a
real database, with fakes only behind the ports.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.tables import Conversation, Invite, OutboxMessage
from bot.adapters.vault import vault_of
from bot.entrypoints.routes import channel_callbacks
from bot.service_layer.erasure import erase_conversation
from bot.service_layer.errors import PermanentError
from bot.service_layer.ports import SentMessage
from bot.service_layer.processing import ConversationProcessor, ProcessingPolicy
from integrations.secure_messenger import PROVIDER
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeSender
from tests.fakes.prospects import add_prospect
from tests.fakes.screening import fake_screening
from tests.integration.test_channel_callbacks import FakeContainer, event, signed
from tests.integration.test_processing import PROSPECT, receive

DIGITS = PROSPECT.removeprefix("whatsapp:+")


def _processor(
    sessions: SessionFactory, clock: FakeClock, sender: FakeSender
) -> ConversationProcessor:
    return ConversationProcessor(
        sessions, FakeDialogue(), sender, clock, fake_screening(), ProcessingPolicy(), owner="test"
    )


def test_a_refusal_naming_the_number_leaves_no_number_in_clear(
    sessions: SessionFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Twilio's 21211 names the number it refused (the sandbox copies Twilio's wording):
    it must not reach the outbox row, the append-only audit log or the logs in clear."""
    sender = FakeSender(clock.now)
    sender.errors = [
        PermanentError("twilio", f"Invalid 'To' Phone Number: {PROSPECT}", status=400, code=21211)
    ]
    conv = receive(sessions, clock, "SM1", "hi")
    with caplog.at_level(logging.INFO):
        _processor(sessions, clock, sender).run(conv)
    with chained(sessions)() as s:
        row = s.execute(select(OutboxMessage)).scalar_one()
        payloads = [r.payload for r in audit_log.iter_records(s)]
    assert row.status == "failed"
    assert DIGITS not in (row.last_error or "")
    assert not [p for p in payloads if DIGITS in p]
    assert DIGITS not in caplog.text


def test_an_activation_callback_drops_the_sealed_link(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The link is kept sealed on the invite only while it can be used: once the
    messenger reports it opened, the sealed link must be gone, as for a built-in link."""
    with sessions.begin() as s:
        add_prospect(s, PROSPECT, Conversation(id="conv-1", created_at=clock.now()))
        invite = Invite(
            conversation_id="conv-1",
            provider=PROVIDER,
            token_sha256=secrets.token_hex(32),
            issued_at=clock.now(),
            expires_at=clock.now() + timedelta(hours=24),
            status="active",
            external_id="inv_0123456789abcdef",
            link_sealed=vault_of(s).seal(
                s, "conv-1", "invite_link", "https://messenger.example.com/i/secret-token"
            ),
        )
        s.add(invite)
    app = FastAPI()
    app.state.container = FakeContainer(sessions, clock)
    app.include_router(channel_callbacks.router)
    body = event(invite_id="inv_0123456789abcdef", activated_at=clock.now().isoformat())
    with TestClient(app, base_url="https://gangway.example.com") as client:
        answer = client.post(
            channel_callbacks.ACTIVATED_PATH, content=body, headers=signed(body, clock.now())
        )
    assert answer.status_code == 200
    with sessions() as s:
        stored = s.execute(select(Invite)).scalar_one()
    assert stored.status == "used"
    assert stored.link_sealed is None


def test_a_callback_for_an_erased_conversation_gets_an_answer(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A late activation callback for an erased prospect must get a 2xx/4xx answer, not
    a server error (the messenger would retry it for ever: nothing is stored)."""
    with sessions.begin() as s:
        add_prospect(s, PROSPECT, Conversation(id="conv-1", created_at=clock.now()))
        s.add(
            Invite(
                conversation_id="conv-1",
                provider=PROVIDER,
                token_sha256=secrets.token_hex(32),
                issued_at=clock.now(),
                expires_at=clock.now() + timedelta(hours=24),
                status="active",
                external_id="inv_0123456789abcdef",
            )
        )
    with sessions.begin() as s:
        erase_conversation(s, "conv-1", reason="REQ-1", cause="request", now=clock.now())
    app = FastAPI()
    app.state.container = FakeContainer(sessions, clock)
    app.include_router(channel_callbacks.router)
    body = event(invite_id="inv_0123456789abcdef", activated_at=clock.now().isoformat())
    with TestClient(
        app, base_url="https://gangway.example.com", raise_server_exceptions=False
    ) as client:
        answer = client.post(
            channel_callbacks.ACTIVATED_PATH, content=body, headers=signed(body, clock.now())
        )
    assert answer.status_code < 500


class ErasingSender(FakeSender):
    """A send during which the prospect's erasure commits (another process, say)."""

    def __init__(self, clock: FakeClock, sessions: SessionFactory) -> None:
        super().__init__(clock.now)
        self._sessions, self._clock = sessions, clock

    def send(
        self,
        *,
        to: str,
        body: str,
        content_sid: str | None = None,
        content_variables: Mapping[str, str] | None = None,
    ) -> SentMessage:
        sent = super().send(
            to=to, body=body, content_sid=content_sid, content_variables=content_variables
        )
        with self._sessions.begin() as s:
            conv_id = s.execute(select(Conversation.id)).scalar_one()
            erase_conversation(s, conv_id, reason="REQ-1", cause="request", now=self._clock.now())
        return sent


def test_a_message_sent_while_its_conversation_is_erased_is_still_recorded(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The provider took the message: gangway must record that it went (provider id and
    an outbound_message audit record), even though its content can no longer be kept;
    otherwise the reconciliation reports it as missing for ever."""
    sender = ErasingSender(clock, sessions)
    conv = receive(sessions, clock, "SM1", "hi")
    _processor(sessions, clock, sender).run(conv)
    with chained(sessions)() as s:
        row = s.execute(select(OutboxMessage)).scalar_one()
        kinds = [r.kind for r in audit_log.iter_records(s)]
    assert row.provider_sid == sender.sent[0].sid
    assert "outbound_message" in kinds


def test_an_erased_consent_is_not_reported_as_altered(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """After erasure the consent text is gone, not changed: the evidence bundle must not
    say the text fails its hash (a compliance officer reads that as tampering)."""
    import hashlib

    from bot.adapters.tables import Consent
    from bot.service_layer import evidence

    shown = "Our terms v3 ... Do you agree?"
    with sessions.begin() as s:
        add_prospect(s, PROSPECT, Conversation(id="conv-1", created_at=clock.now()))
        s.add(
            Consent(
                conversation_id="conv-1",
                terms_version="v3",
                terms_url="https://example.com/terms",
                language="en",
                shown_text=vault_of(s).seal(s, "conv-1", "consent_text", shown),
                shown_sha256=hashlib.sha256(shown.encode()).hexdigest(),
                offered_at=clock.now(),
            )
        )
    with sessions.begin() as s:
        erase_conversation(s, "conv-1", reason="REQ-1", cause="request", now=clock.now())
    with sessions() as s:
        consents = evidence.gather_evidence(s, "conv-1", clock.now()).consents
    assert consents[0]["text_matches_hash"] is not False


def test_a_conversation_can_be_exported(sessions: SessionFactory, clock: FakeClock) -> None:
    """`gangway audit export` gathers any conversation's evidence (here: one message)."""
    from bot.service_layer.evidence import gather_evidence

    conv = receive(sessions, clock, "SM1", "hi")
    with sessions() as s:
        bundle = gather_evidence(s, conv, clock.now())
    assert [line["text"] for line in bundle.transcript] == ["hi"]

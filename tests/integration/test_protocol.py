"""The transition protocol in the worker: a real database and the real default flow,
with the NLU, Rasa's dialogue, Twilio and the media download passed through the ports.

(The same protocol against the real Rasa server and signed webhooks is in
tests/e2e/test_conversations.py.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters import invites
from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.tables import (
    Consent,
    Conversation,
    HumanRequest,
    InboxMessage,
    Invite,
    MediaItem,
    MessageClassification,
    OutboxMessage,
    Timer,
)
from bot.domain.inbound import parse_inbound
from bot.service_layer.classification import Classifier
from bot.service_layer.conversation_events import timer_handlers
from bot.service_layer.errors import PermanentError, TransientError
from bot.service_layer.ports import FetchedMedia, FlowSource
from bot.service_layer.processing import ConversationProcessor
from bot.service_layer.receiving import record_inbound
from bot.service_layer.screening import Screening
from bot.service_layer.timers import TimerRunner
from bot.service_layer.transition import Handover, InviteSettings
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding

PROSPECT = "whatsapp:+12025550101"
SECRET = b"protocol-tests-secret-0123456789"
PUBLIC = "https://gangway.example.com"
PASSPORT = "My passport number is C01X00T47"  # the specimen number of German passports
IBAN = "my IBAN is DE89 3704 0044 0532 0130 00"


@dataclass
class FakeTemplates:
    fail: bool = False
    created: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)

    def ensure_quick_reply(self, friendly_name: str, language: str, buttons: object) -> str:
        if self.fail:
            raise PermanentError("twilio", "Content API refused")
        self.created.append((friendly_name, language, list(buttons)))  # type: ignore[call-overload]
        return f"HX{len(self.created):032x}"


class FakeMedia:
    def __init__(self) -> None:
        self.urls: list[str] = []
        self.errors: list[Exception] = []

    def fetch(self, url: str) -> FetchedMedia:
        self.urls.append(url)
        if self.errors:
            raise self.errors.pop(0)
        return FetchedMedia(b"\x89PNG fake passport photo", "image/png")


class Stack:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: FakeClock,
        handover: Handover | None = None,
        invite_settings: InviteSettings | None = None,
        *,
        flow: Path = DEFAULT_FLOW_PATH,
        model: FakeModel | None = None,
        flows: FlowSource | None = None,
    ) -> None:
        self.sessions, self.clock = sessions, clock
        self.flows = flows or FlowStore(flow, DEFAULT_DOMAIN_PATH)
        self.nlu = FakeUnderstanding()
        self.model = model or FakeModel()
        self.dialogue = FakeDialogue()
        self.sender = FakeSender(clock.now)
        self.templates = FakeTemplates()
        self.media = FakeMedia()
        settings = invite_settings or InviteSettings(SECRET, PUBLIC)
        self.processor = ConversationProcessor(
            sessions,
            self.dialogue,
            self.sender,
            clock,
            Screening(
                Classifier(self.flows, self.nlu, self.model),
                self.flows,
                settings,
                self.media,
                self.templates,
                handover,
            ),
            owner="test",
        )
        self.invite_settings = settings
        self.handover = handover
        self.timers = TimerRunner(
            sessions, clock, timer_handlers(self.flows, settings, handover), owner="test"
        )
        self._sids = 0
        self.conversation_id = ""
        self.number = PROSPECT

    def say(self, body: str, **params: str) -> list[str]:
        """Send one message and return the texts the prospect gets back."""
        self._sids += 1
        before = len(self.sender.sent)
        with self.sessions.begin() as s:
            fields = {"MessageSid": f"SM{self._sids:032d}", "From": self.number, "Body": body}
            record_inbound(s, parse_inbound({**fields, **params}), self.clock.now())
            self.conversation_id = s.execute(
                select(InboxMessage.conversation_id).where(
                    InboxMessage.message_sid == fields["MessageSid"]
                )
            ).scalar_one()
        self.processor.run(self.conversation_id)
        return [m.body for m in self.sender.sent[before:]]

    def wait(self, delta: timedelta) -> list[str]:
        """Let time pass, fire what is due, send it; the texts the prospect gets."""
        before = len(self.sender.sent)
        self.clock.advance(delta.total_seconds())
        self.timers.fire_due()
        self.processor.run(self.conversation_id)
        return [m.body for m in self.sender.sent[before:]]

    def conversation(self) -> Conversation:
        with self.sessions() as s:
            conv = s.get_one(Conversation, self.conversation_id)
            s.expunge(conv)
            return conv

    def rows(self, table: type) -> list:  # type: ignore[type-arg]
        with self.sessions() as s:
            found = list(s.execute(select(table)).scalars())
            s.expunge_all()
            return found


@pytest.fixture
def stack(sessions: SessionFactory, clock: FakeClock) -> Stack:
    return Stack(sessions, clock)


def _link(text: str) -> str:
    return next(word for word in text.split() if word.startswith(PUBLIC + "/"))


def test_public_messages_go_to_the_bot(stack: Stack) -> None:
    assert stack.say("hi") == ["you said: hi"]
    assert stack.conversation().state == "qualifying"
    assert stack.conversation().level == "public"


def test_a_passport_number_offers_the_terms_and_never_reaches_the_bot(stack: Stack) -> None:
    replies = stack.say(PASSPORT)
    flow = stack.flows.current()
    assert len(replies) == 1 and replies[0].startswith(flow.consent_prompt("en"))
    assert stack.dialogue.calls == []  # never forwarded, never echoed back
    assert all("C01X00T47" not in r for r in replies)
    conv = stack.conversation()
    assert (conv.state, conv.level) == ("terms_offered", "identity")
    [consent] = stack.rows(Consent)
    assert consent.decision == "pending" and consent.terms_version == flow.protocol.terms_version
    assert consent.shown_sha256 == hashlib.sha256(replies[0].encode()).hexdigest()
    # The quick-reply template carried the buttons; the row remembers which.
    [(_body, sid, variables)] = stack.sender.templates
    assert sid and sid.startswith("HX") and variables == {"1": flow.consent_prompt("en")}
    [(_name, language, buttons)] = stack.templates.created
    assert language == "en" and [b[1] for b in buttons] == ["consent_yes", "consent_no"]
    [classification] = stack.rows(MessageClassification)
    assert classification.level == "identity" and not classification.forwarded
    assert "C01X00T47" not in classification.evidence
    assert any(e["name"] == "passport_number" for e in json.loads(classification.evidence))


def test_agreeing_records_consent_and_sends_a_working_one_time_link(stack: Stack) -> None:
    stack.say(IBAN)
    [reply] = stack.say("yes")
    link = _link(reply)
    conv = stack.conversation()
    assert conv.state == "invite_sent" and conv.level == "financial"
    [consent] = stack.rows(Consent)
    assert consent.decision == "agreed" and consent.decision_message_sid == "SM" + "2".zfill(32)
    [invite] = stack.rows(Invite)
    assert invite.consent_id == consent.id and invite.status == "active"
    kinds = sorted(t.kind for t in stack.rows(Timer) if t.status == "pending")
    assert kinds == ["invite_expiry", "invite_reminder"]
    token = link.rsplit("/", 1)[1]
    with stack.sessions.begin() as s:
        outcome = invites.redeem_invite(s, token=token, secret=SECRET, now=stack.clock.now())
    assert outcome.outcome == "activated"


def test_the_quick_reply_button_payload_counts_as_the_answer(stack: Stack) -> None:
    stack.say(PASSPORT)
    stack.say("Nein, danke", ButtonPayload="consent_no", ButtonText="Nein, danke")
    assert stack.conversation().state == "public_only"


def test_declining_keeps_public_answers_and_reoffers_at_the_next_disclosure(stack: Stack) -> None:
    stack.say(PASSPORT)
    [declined] = stack.say("no thanks")
    assert declined == stack.flows.current().text("declined", "en")
    assert stack.conversation().state == "public_only"
    assert stack.say("what are your opening hours?") == ["you said: what are your opening hours?"]
    [offer] = stack.say(IBAN)
    assert stack.conversation().state == "terms_offered"
    assert offer.startswith(stack.flows.current().consent_prompt("en"))
    assert [c.decision for c in stack.rows(Consent)] == ["declined", "pending"]


def test_sensitive_data_after_the_invite_gets_the_redirect_notice(stack: Stack) -> None:
    stack.say(PASSPORT)
    stack.say("ok")
    assert stack.say(IBAN) == [stack.flows.current().text("redirect_notice", "en")]
    assert stack.dialogue.calls == []


def test_an_unclear_short_answer_is_asked_again(stack: Stack) -> None:
    stack.say(PASSPORT)
    assert stack.say("hmm maybe") == [stack.flows.current().text("consent_unclear", "en")]
    assert stack.conversation().state == "terms_offered"


def test_the_protocol_speaks_the_prospects_language(stack: Stack) -> None:
    stack.say("Hallo, ich habe eine Frage")
    [offer] = stack.say("Meine IBAN lautet DE89 3704 0044 0532 0130 00")
    flow = stack.flows.current()
    assert offer.startswith(flow.consent_prompt("de"))
    [invite] = stack.say("einverstanden")
    assert invite.startswith("Vielen Dank!")
    assert stack.rows(Consent)[0].language == "de"


def test_consent_reminder_fires_once_after_the_flow_delay(stack: Stack) -> None:
    stack.say(PASSPORT)
    delay = stack.flows.current().timers.consent_reminder
    assert stack.wait(delay - timedelta(seconds=1)) == []
    [reminder] = stack.wait(timedelta(seconds=1))
    assert reminder == stack.flows.current().text("consent_reminder", "en")
    assert stack.wait(delay * 3) == []


def test_an_answer_cancels_the_consent_reminder(stack: Stack) -> None:
    stack.say(PASSPORT)
    stack.say("no")
    assert stack.wait(stack.flows.current().timers.consent_reminder * 2) == []


def test_invite_reminder_then_expiry_then_a_fresh_link_on_request(stack: Stack) -> None:
    stack.say(PASSPORT)
    [first] = stack.say("yes")
    timers = stack.flows.current().timers
    [reminder] = stack.wait(timers.invite_reminder)
    assert _link(reminder) == _link(first)
    [expired] = stack.wait(timers.invite_expiry - timers.invite_reminder)
    assert expired == stack.flows.current().text("invite_expired", "en")
    assert [i.status for i in stack.rows(Invite)] == ["expired"]
    [fresh] = stack.say("can you send me a new link?")
    assert _link(fresh) != _link(first)
    assert [i.status for i in stack.rows(Invite)] == ["expired", "active"]


def test_stop_silences_the_number_until_start(stack: Stack) -> None:
    stack.say(PASSPORT)
    [confirmation] = stack.say("STOP")
    assert confirmation == stack.flows.current().text("opted_out", "en")
    assert stack.conversation().state == "opted_out"
    assert all(t.status != "pending" for t in stack.rows(Timer))  # no reminder will come
    assert stack.say("hello?") == []
    assert stack.wait(timedelta(hours=2)) == []
    assert stack.say("START") == [stack.flows.current().text("opted_in", "en")]
    assert stack.conversation().state == "terms_offered"  # where it was


def test_asking_for_a_person_moves_to_handoff_requested(stack: Stack) -> None:
    stack.say("hi")
    [ack] = stack.say("I want to talk to a person")
    assert ack == stack.flows.current().text("handoff_requested", "en")
    assert stack.conversation().state == "handoff_requested"
    assert len(stack.rows(HumanRequest)) == 1
    assert [call[1] for call in stack.dialogue.calls] == ["hi"]


def test_an_image_before_the_threshold_is_stored_and_never_forwarded(stack: Stack) -> None:
    url = "https://api.twilio.com/2010-04-01/Accounts/AC00/Messages/MM00/Media/ME00"
    [offer] = stack.say("", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert offer.startswith(stack.flows.current().consent_prompt("en"))
    assert stack.dialogue.calls == [] and stack.media.urls == [url]
    [item] = stack.rows(MediaItem)
    assert (item.kind, item.status) == ("image", "stored")
    assert item.sha256 == hashlib.sha256(b"\x89PNG fake passport photo").hexdigest()
    assert stack.conversation().level == "identity"


def test_without_the_content_api_the_consent_goes_as_plain_text(stack: Stack) -> None:
    stack.templates.fail = True
    [offer] = stack.say(PASSPORT)
    [(body, sid, _vars)] = stack.sender.templates
    assert sid is None and body == offer
    assert "1. Yes, I agree" in offer and "2. No, thanks" in offer
    [row] = [r for r in stack.rows(OutboxMessage) if r.kind == "consent"]
    assert row.content_sid is None and row.status != "failed"


def test_media_storage_down_the_message_waits_then_is_stored(stack: Stack) -> None:
    url = "https://api.twilio.com/2010-04-01/Accounts/AC00/Messages/MM01/Media/ME01"
    stack.media.errors = [TransientError("twilio", "503 from media storage")]
    assert stack.say("", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg") == []
    assert stack.rows(MediaItem) == [] and stack.rows(MessageClassification) == []
    [offer] = stack.wait(timedelta(seconds=5))
    assert offer.startswith(stack.flows.current().consent_prompt("en"))
    [item] = stack.rows(MediaItem)
    assert item.status == "stored" and stack.media.urls == [url, url]


def test_media_refused_for_good_is_recorded_as_failed_and_the_protocol_goes_on(
    stack: Stack,
) -> None:
    url = "https://api.twilio.com/2010-04-01/Accounts/AC00/Messages/MM02/Media/ME02"
    stack.media.errors = [PermanentError("twilio", "404 media deleted")]
    [offer] = stack.say("", NumMedia="1", MediaUrl0=url, MediaContentType0="application/pdf")
    assert offer.startswith(stack.flows.current().consent_prompt("en"))
    [item] = stack.rows(MediaItem)
    assert (item.kind, item.status, item.last_error) == ("document", "failed", "404 media deleted")


def test_a_waiting_prospect_is_told_to_hold_on_in_their_language(stack: Stack) -> None:
    stack.dialogue.errors = [TransientError("rasa", "connection refused")] * 10
    assert stack.say("Hallo, ich habe eine Frage zu Ihren Gebühren") == []
    [holding] = stack.wait(timedelta(seconds=21))
    assert holding == stack.flows.current().text("holding", "de")
    assert holding != stack.flows.current().text("holding", "en")

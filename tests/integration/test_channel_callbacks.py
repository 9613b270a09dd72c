"""The secure messenger's activation callback, a signed Standard Webhook, against a real
database; and the stand-in messenger's button reaching gangway's route over loopback."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.tables import AuditLog, ChannelCallback, Conversation, Invite
from bot.entrypoints.routes import channel_callbacks
from bot.sandbox.messenger import MessengerConfig, MessengerState
from bot.sandbox.messenger import create_app as create_messenger
from bot.sandbox.server import ServerThread
from integrations.secure_messenger import PROVIDER, SecureMessengerClient
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.prospects import add_prospect, opened

SECRET = "channel-webhook-secret-0123456789abcdef"
# A key in the Standard Webhooks form, configured beside SECRET while the key changes.
NEW_SECRET = "whsec_Y2hhbm5lbC13ZWJob29rLW5ldy1rZXktMDEyMzQ1Njc4OQ=="
PATH = "/webhooks/secure-channel/activated"
EXTERNAL_ID = "inv_0123456789abcdef"
START = FakeClock().now()  # where every test's clock starts


@dataclass
class FakeSettings:
    gangway_channel_webhook_secret: SecretStr | None = field(
        default_factory=lambda: SecretStr(SECRET)
    )


@dataclass
class FakeContainer:
    """The part of bot.bootstrap.Container the callback route uses."""

    sessions: SessionFactory
    clock: FakeClock
    settings: FakeSettings = field(default_factory=FakeSettings)
    activated: list[str] = field(default_factory=list)

    def on_invite_activated(self, conversation_id: str) -> None:
        self.activated.append(conversation_id)


def gangway_app(container: FakeContainer) -> FastAPI:
    app = FastAPI()
    app.state.container = container
    app.include_router(channel_callbacks.router)
    return app


@pytest.fixture
def container(sessions: SessionFactory, clock: FakeClock) -> FakeContainer:
    return FakeContainer(sessions, clock)


@pytest.fixture
def client(container: FakeContainer) -> Iterator[TestClient]:
    with TestClient(gangway_app(container), base_url="https://gangway.example.com") as c:
        yield c


def add_invite(
    sessions: SessionFactory,
    clock: FakeClock,
    *,
    external_id: str = EXTERNAL_ID,
    status: str = "active",
    expires_in: timedelta = timedelta(hours=24),
) -> int:
    """A conversation with one invite made at the external messenger."""
    with sessions.begin() as s:
        add_prospect(s, "whatsapp:+12025550101", Conversation(id="conv-1", created_at=clock.now()))
        invite = Invite(
            conversation_id="conv-1",
            provider=PROVIDER,
            token_sha256=secrets.token_hex(32),
            issued_at=clock.now(),
            expires_at=clock.now() + expires_in,
            status=status,
            external_id=external_id,
        )
        s.add(invite)
        s.flush()
        return invite.id


def event(event_id: str = "evt_1", invite_id: str = EXTERNAL_ID, **extra: Any) -> bytes:
    return json.dumps({"event_id": event_id, "invite_id": invite_id, **extra}).encode()


def signed(
    body: bytes, at: datetime, secret: str | bytes = SECRET.encode(), msg_id: str | None = None
) -> dict[str, str]:
    """The headers a messenger sends, made by the Standard Webhooks library itself
    (a ``whsec_`` text or a raw key as bytes); the webhook-id is the body's event_id."""
    msg_id = msg_id if msg_id is not None else json.loads(body)["event_id"]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
        "Content-Type": "application/json",
    }


@dataclass(frozen=True)
class Snapshot:
    invite_status: str | None
    used_at: datetime | None
    callbacks: int
    audit_records: int


def snapshot(sessions: SessionFactory, external_id: str = EXTERNAL_ID) -> Snapshot:
    with chained(sessions)() as s:
        invite = s.scalars(select(Invite).where(Invite.external_id == external_id)).first()
        return Snapshot(
            invite.status if invite else None,
            invite.used_at if invite else None,
            s.scalar(select(func.count()).select_from(ChannelCallback)) or 0,
            s.scalar(select(func.count()).select_from(AuditLog)) or 0,
        )


def audit_kinds(sessions: SessionFactory) -> list[str]:
    with chained(sessions)() as s:
        return [r.kind for r in audit_log.iter_records(s)]


def test_a_signed_callback_activates_the_invite_and_hands_the_conversation_off(
    client: TestClient, container: FakeContainer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Good signature: invite used, callback kept, audit record, hand-off hook called once."""
    add_invite(sessions, clock)
    body = event(activated_at=clock.now().isoformat())

    answer = client.post(PATH, content=body, headers=signed(body, clock.now()))

    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    after = snapshot(sessions)
    assert (after.invite_status, after.used_at, after.callbacks) == ("used", clock.now(), 1)
    with sessions() as s:
        stored = s.scalars(select(ChannelCallback)).one()
        assert (stored.event_id, stored.provider, stored.conversation_id) == (
            "evt_1",
            PROVIDER,
            "conv-1",
        )
        assert opened(s, "conv-1", "channel_callback", stored.payload) == body.decode()
    assert audit_kinds(sessions)[-1] == "channel_activated"
    assert container.activated == ["conv-1"]


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda h, b: ({**h, "webhook-signature": "v1," + "A" * 44}, b), id="wrong"),
        pytest.param(
            lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
            id="missing",
        ),
        pytest.param(lambda h, b: (h, b.replace(b"inv_", b"inv-")), id="body-altered"),
        pytest.param(
            lambda h, b: ({**h, "webhook-signature": h["webhook-signature"][3:]}, b),
            id="no-version",
        ),
        pytest.param(lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), id="timestamp-altered"),
        pytest.param(lambda h, b: ({**h, "webhook-id": "evt_2"}, b), id="id-altered"),
        pytest.param(
            lambda h, b: (signed(b, START, secret=b"not-" + SECRET.encode()), b), id="other-key"
        ),
    ],
)
def test_a_badly_signed_callback_is_refused_and_changes_nothing(
    client: TestClient,
    container: FakeContainer,
    sessions: SessionFactory,
    clock: FakeClock,
    spoil: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """401 for a wrong, missing or mismatched signature, or a changed id, time or body;
    no row, no audit, no hand-off."""
    add_invite(sessions, clock)
    before = snapshot(sessions)
    body = event()
    headers, sent = spoil(signed(body, clock.now()), body)

    answer = client.post(PATH, content=sent, headers=headers)

    assert (answer.status_code, answer.json()["error"]) == (401, "bad_signature")
    assert snapshot(sessions) == before
    assert container.activated == []
    assert "refused /webhooks/secure-channel/activated" in caplog.text


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_callback_signed_more_than_five_minutes_away_is_refused_as_stale(
    client: TestClient,
    container: FakeContainer,
    sessions: SessionFactory,
    clock: FakeClock,
    offset: int,
) -> None:
    """A correctly signed callback from too far in the past or future: 401, nothing kept."""
    add_invite(sessions, clock)
    before = snapshot(sessions)
    body = event()

    sent_at = clock.now() + timedelta(seconds=offset)
    answer = client.post(PATH, content=body, headers=signed(body, sent_at))

    assert (answer.status_code, answer.json()["error"]) == (401, "stale")
    assert snapshot(sessions) == before
    assert container.activated == []


def test_a_callback_four_minutes_old_is_still_accepted(
    client: TestClient, container: FakeContainer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Clocks and queues drift a little: within five minutes counts as fresh."""
    add_invite(sessions, clock)
    body = event()

    sent_at = clock.now() - timedelta(minutes=4)
    answer = client.post(PATH, content=body, headers=signed(body, sent_at))

    assert answer.status_code == 200
    assert container.activated == ["conv-1"]


def test_a_replayed_event_is_refused_and_not_handed_off_again(
    client: TestClient, container: FakeContainer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """The same event id again, even freshly signed later: 409 and no second hand-off."""
    add_invite(sessions, clock)
    body = event()
    assert client.post(PATH, content=body, headers=signed(body, clock.now())).status_code == 200
    after_first = snapshot(sessions)

    replay = client.post(PATH, content=body, headers=signed(body, clock.now()))
    clock.advance(60)
    resent = client.post(PATH, content=body, headers=signed(body, clock.now()))

    assert [replay.status_code, resent.status_code] == [409, 409]
    assert resent.json()["error"] == "replay"
    assert snapshot(sessions) == after_first
    assert container.activated == ["conv-1"]


def test_a_replayed_webhook_id_under_another_key_of_a_rotation_is_still_a_replay(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Signing the same callback again with the other configured key changes nothing."""
    add_invite(sessions, clock)
    container = FakeContainer(sessions, clock, FakeSettings(SecretStr(f"{SECRET},{NEW_SECRET}")))
    body = event()

    with TestClient(gangway_app(container)) as c:
        first = c.post(PATH, content=body, headers=signed(body, clock.now()))
        again = c.post(PATH, content=body, headers=signed(body, clock.now(), NEW_SECRET))

    assert [first.status_code, again.status_code] == [200, 409]
    assert snapshot(sessions).callbacks == 1
    assert container.activated == ["conv-1"]


@pytest.mark.parametrize("key", [SECRET.encode(), NEW_SECRET], ids=["first-raw", "second-whsec"])
def test_while_the_key_changes_a_callback_signed_with_either_configured_key_is_taken(
    sessions: SessionFactory, clock: FakeClock, key: str | bytes
) -> None:
    """GANGWAY_CHANNEL_WEBHOOK_SECRET holds the old raw secret and the new whsec_ one:
    the messenger may sign with either while it switches."""
    add_invite(sessions, clock)
    container = FakeContainer(sessions, clock, FakeSettings(SecretStr(f"{SECRET} {NEW_SECRET}")))
    body = event()

    with TestClient(gangway_app(container)) as c:
        answer = c.post(PATH, content=body, headers=signed(body, clock.now(), key))

    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    assert snapshot(sessions).invite_status == "used"
    assert container.activated == ["conv-1"]


def test_a_callback_whose_webhook_id_is_not_its_event_id_is_400_and_kept_nowhere(
    client: TestClient, container: FakeContainer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Authentic, but the id the replay guard keys on would not be the one signed as the
    message's: refused, so no replay can slip through under a fresh webhook-id."""
    add_invite(sessions, clock)
    before = snapshot(sessions)
    body = event()

    answer = client.post(PATH, content=body, headers=signed(body, clock.now(), msg_id="msg_9"))

    assert (answer.status_code, answer.json()["error"]) == (400, "bad_body")
    assert "webhook-id" in answer.json()["message"]
    assert snapshot(sessions) == before
    assert container.activated == []


def test_a_callback_for_an_invite_gangway_never_issued_is_404_and_kept_nowhere(
    client: TestClient, container: FakeContainer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Unknown invite id: 404; its event id is not recorded, no audit, no hand-off."""
    add_invite(sessions, clock)
    before = snapshot(sessions)
    body = event(invite_id="inv_nobody_knows")

    answer = client.post(PATH, content=body, headers=signed(body, clock.now()))

    assert (answer.status_code, answer.json()["error"]) == (404, "unknown_invite")
    assert snapshot(sessions) == before
    assert container.activated == []


@pytest.mark.parametrize("status", ["used", "superseded", "expired"])
def test_an_invite_no_longer_active_is_not_activated_again(
    client: TestClient,
    container: FakeContainer,
    sessions: SessionFactory,
    clock: FakeClock,
    status: str,
) -> None:
    """A second event for a spent invite is acknowledged, recorded, and ignored."""
    add_invite(sessions, clock, status=status)
    body = event(event_id="evt_late")

    answer = client.post(PATH, content=body, headers=signed(body, clock.now()))

    assert (answer.status_code, answer.json()) == (200, {"ok": True, "ignored": status})
    assert snapshot(sessions).invite_status == status
    assert snapshot(sessions).callbacks == 1
    assert audit_kinds(sessions)[-1] == "channel_activation_ignored"
    assert container.activated == []


def test_an_invite_opened_after_its_expiry_is_not_activated(
    client: TestClient, container: FakeContainer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Past expires_at, even before gangway's expiry timer ran: no hand-off."""
    add_invite(sessions, clock, expires_in=timedelta(minutes=30))
    clock.advance(31 * 60)
    body = event(activated_at=clock.now().isoformat())

    answer = client.post(PATH, content=body, headers=signed(body, clock.now()))

    assert answer.json() == {"ok": True, "ignored": "expired"}
    assert container.activated == []


def test_a_signed_body_that_is_not_an_activation_event_is_400(
    client: TestClient, container: FakeContainer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Authentic but unreadable (no event_id): 400, nothing kept."""
    add_invite(sessions, clock)
    before = snapshot(sessions)
    body = json.dumps({"invite_id": EXTERNAL_ID}).encode()

    answer = client.post(PATH, content=body, headers=signed(body, clock.now(), msg_id="evt_1"))

    assert (answer.status_code, answer.json()["error"]) == (400, "bad_body")
    assert snapshot(sessions) == before


def test_without_a_configured_secret_every_callback_is_refused_with_503(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """No GANGWAY_CHANNEL_WEBHOOK_SECRET: gangway cannot check callbacks, so takes none."""
    add_invite(sessions, clock)
    before = snapshot(sessions)
    container = FakeContainer(sessions, clock, settings=FakeSettings(None))
    body = event()

    with TestClient(gangway_app(container)) as unconfigured:
        answer = unconfigured.post(PATH, content=body, headers=signed(body, clock.now()))

    assert (answer.status_code, answer.json()["error"]) == (503, "not_configured")
    assert snapshot(sessions) == before


def test_a_failing_hand_off_hook_still_answers_200(
    sessions: SessionFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The activation is stored either way; the failure is logged for the operators."""

    class BrokenContainer(FakeContainer):
        def on_invite_activated(self, conversation_id: str) -> None:
            raise RuntimeError("chart unavailable")

    add_invite(sessions, clock)
    body = event()

    with TestClient(gangway_app(BrokenContainer(sessions, clock))) as c:
        answer = c.post(PATH, content=body, headers=signed(body, clock.now()))

    assert answer.status_code == 200
    assert snapshot(sessions).invite_status == "used"
    assert "handing off conversation conv-1 after its activation failed" in caplog.text


# -- the stand-in messenger's button, end to end over loopback --------------------------


class FormFinder(HTMLParser):
    """The page's form (method, action) and its button's text."""

    def __init__(self) -> None:
        super().__init__()
        self.method: str | None = None
        self.action: str | None = None
        self.button = ""
        self._in_button = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            found = dict(attrs)
            self.method, self.action = (found.get("method") or "get"), found.get("action")
        self._in_button = self._in_button or tag == "button"

    def handle_endtag(self, tag: str) -> None:
        self._in_button = self._in_button and tag != "button"

    def handle_data(self, data: str) -> None:
        if self._in_button:
            self.button += data


def press_the_button(page_url: str) -> httpx.Response:
    """Do what a browser does when the page's button is pressed: submit its form."""
    page = httpx.get(page_url)
    form = FormFinder()
    form.feed(page.text)
    assert form.button.strip() == "Open secure chat"
    return httpx.request(form.method or "get", urljoin(page_url, form.action or ""))


@pytest.mark.parametrize(
    ("gangway_keys", "messenger_keys"),
    [(SECRET, SECRET), (f"{SECRET},{NEW_SECRET}", NEW_SECRET)],
    ids=["one-key", "messenger-switched-first"],
)
def test_pressing_open_secure_chat_in_the_stand_in_activates_gangways_invite(
    container: FakeContainer,
    sessions: SessionFactory,
    clock: FakeClock,
    gangway_keys: str,
    messenger_keys: str,
) -> None:
    """Invite made through the client, opened on the stand-in's page: gangway hands off;
    also when the messenger already signs with only the second of gangway's keys."""
    container.settings = FakeSettings(SecretStr(gangway_keys))
    with sessions.begin() as s:
        add_prospect(s, "whatsapp:+12025550101", Conversation(id="conv-1", created_at=clock.now()))
    with ServerThread(gangway_app(container)) as gangway:
        config = MessengerConfig(
            auth_header_value="Bearer loopback-key",
            callback_url=gangway.url + PATH,
            callback_secret=messenger_keys,
            clock=clock.now,
        )
        messenger_app = create_messenger(config)
        with ServerThread(messenger_app) as messenger:
            provider = SecureMessengerClient(messenger.url, "Authorization", "Bearer loopback-key")
            made = provider.create_invite(
                reference="gangway-invite-1",
                language="en",
                expires_at=clock.now() + timedelta(hours=24),
                display_name=None,
            )
            with sessions.begin() as s:
                s.add(
                    Invite(
                        conversation_id="conv-1",
                        provider=PROVIDER,
                        token_sha256=secrets.token_hex(32),
                        issued_at=clock.now(),
                        expires_at=made.expires_at,
                        status="active",
                        external_id=made.external_id,
                    )
                )

            pressed = press_the_button(made.link)
            reopened = httpx.get(made.link)
            state: MessengerState = messenger_app.state.messenger
            seen = provider.get_invite(made.external_id)
            provider.close()

    assert pressed.status_code == 200, pressed.text
    assert "Your secure chat is open" in pressed.text
    assert "Open secure chat" not in reopened.text
    assert [outcome for outcome, _ in state.callbacks] == ["200"]
    assert seen.status == "activated"
    after = snapshot(sessions, made.external_id)
    assert (after.invite_status, after.used_at) == ("used", clock.now())
    assert container.activated == ["conv-1"]

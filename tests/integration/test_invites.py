"""Built-in secure-channel invites: one-time expiring links, stored only as a digest,
and the landing page a prospect opens from WhatsApp."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.invites import (
    IssuedInvite,
    active_invite,
    expire_invites,
    find_invite,
    issue_invite,
    redeem_invite,
)
from bot.adapters.tables import Base, Conversation, Invite
from bot.domain.invite_tokens import mint_token
from bot.entrypoints.routes import secure_channel
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.prospects import add_prospect

SECRET = b"test-invite-secret-0123456789abcdef"
BASE_URL = "https://gangway.example.com"
TTL = timedelta(hours=24)


def add_conversation(
    sessions: SessionFactory,
    clock: FakeClock,
    cid: str = "conv-1",
    *,
    n: int = 1,
    language: str | None = None,
) -> str:
    with sessions.begin() as s:
        add_prospect(
            s,
            f"whatsapp:+120255501{n:02d}",
            Conversation(
                id=cid,
                created_at=clock.now(),
                language=language,
            ),
        )
    return cid


def issue(sessions: SessionFactory, clock: FakeClock, cid: str = "conv-1") -> IssuedInvite:
    with sessions.begin() as s:
        return issue_invite(
            s,
            conversation_id=cid,
            consent_id=None,
            secret=SECRET,
            base_url=BASE_URL,
            ttl=TTL,
            now=clock.now(),
        )


def token_of(invite: IssuedInvite) -> str:
    return invite.link.rsplit("/", 1)[1]


def redeem(sessions: SessionFactory, clock: FakeClock, token: str) -> tuple[str, str | None]:
    with sessions.begin() as s:
        result = redeem_invite(s, token=token, secret=SECRET, now=clock.now())
    return result.outcome, result.conversation_id


def audit_kinds(sessions: SessionFactory) -> list[str]:
    with chained(sessions).begin() as s:
        return [r.kind for r in audit_log.iter_records(s)]


# -- the adapter -----------------------------------------------------------------------


def test_an_issued_link_points_at_the_landing_page_and_expires_after_the_ttl(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The link is the service's /secure/invite/<token> URL; the row says builtin, active."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    assert invite.link.startswith(f"{BASE_URL}/secure/invite/")
    assert invite.expires_at == clock.now() + TTL
    with sessions.begin() as s:
        row = s.get_one(Invite, invite.invite_id)
        assert (row.provider, row.status, row.conversation_id) == ("builtin", "active", "conv-1")
        assert row.expires_at == invite.expires_at


def test_the_token_is_stored_nowhere_only_its_digest(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """No column of any table (audit log included) holds the token or the link."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    token = token_of(invite)
    redeem(sessions, clock, token)
    dumped: list[str] = []
    with sessions.begin() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).all():
                dumped.extend(str(value) for value in row)
        digests = list(s.scalars(select(Invite.token_sha256)))
    assert dumped, "the scan read no rows"
    assert not [value for value in dumped if token in value or invite.link in value]
    assert len(digests) == 1 and len(digests[0]) == 64


def test_issuing_writes_an_audit_record_without_the_token(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """invite_issued names the invite, a digest prefix and the expiry, not the token."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    with chained(sessions).begin() as s:
        records = [r for r in audit_log.iter_records(s) if r.kind == "invite_issued"]
        digest = s.get_one(Invite, invite.invite_id).token_sha256
    assert len(records) == 1
    payload = json.loads(records[0].payload)
    assert payload["invite_id"] == invite.invite_id
    assert digest.startswith(payload["token_sha256_prefix"])
    assert len(payload["token_sha256_prefix"]) < len(digest)
    assert payload["expires_at"] == invite.expires_at.isoformat()


def test_a_link_works_once(sessions: SessionFactory, clock: FakeClock) -> None:
    """The first redemption activates the invite; the second is told it was used."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    assert redeem(sessions, clock, token_of(invite)) == ("activated", "conv-1")
    clock.advance(5)
    assert redeem(sessions, clock, token_of(invite)) == ("used", "conv-1")
    with sessions.begin() as s:
        row = s.get_one(Invite, invite.invite_id)
        assert (row.status, row.used_at) == ("used", clock.now() - timedelta(seconds=5))
    assert audit_kinds(sessions).count("invite_activated") == 1


def test_a_new_invite_supersedes_the_earlier_one(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """After a fresh link is issued the old link is refused as superseded; the new one works."""
    add_conversation(sessions, clock)
    old = issue(sessions, clock)
    clock.advance(60)
    new = issue(sessions, clock)
    with sessions.begin() as s:
        assert s.get_one(Invite, old.invite_id).status == "superseded"
        current = active_invite(s, "conv-1")
        assert current is not None and current.id == new.invite_id
    assert redeem(sessions, clock, token_of(old)) == ("superseded", "conv-1")
    assert redeem(sessions, clock, token_of(new)) == ("activated", "conv-1")


def test_superseding_leaves_other_conversations_alone(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Issuing for one conversation does not touch another conversation's invite."""
    add_conversation(sessions, clock, "conv-1")
    add_conversation(sessions, clock, "conv-2", n=2)
    first = issue(sessions, clock, "conv-1")
    issue(sessions, clock, "conv-2")
    assert redeem(sessions, clock, token_of(first)) == ("activated", "conv-1")


def test_an_expired_link_is_refused_and_marked_expired(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Past its expiry the link gives expired, and the row and audit log say so."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    clock.advance(TTL.total_seconds())
    assert redeem(sessions, clock, token_of(invite)) == ("expired", "conv-1")
    with sessions.begin() as s:
        assert s.get_one(Invite, invite.invite_id).status == "expired"
    assert audit_kinds(sessions).count("invite_expired") == 1
    assert redeem(sessions, clock, token_of(invite)) == ("expired", "conv-1")
    assert audit_kinds(sessions).count("invite_expired") == 1


def test_expire_invites_marks_only_active_invites_past_their_expiry(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Before expiry nothing changes; after it the active invite is expired, once."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    with sessions.begin() as s:
        assert expire_invites(s, conversation_id="conv-1", now=clock.now()) == 0
    clock.advance(TTL.total_seconds() + 1)
    with sessions.begin() as s:
        assert expire_invites(s, conversation_id="conv-1", now=clock.now()) == 1
        assert expire_invites(s, conversation_id="conv-1", now=clock.now()) == 0
        assert s.get_one(Invite, invite.invite_id).status == "expired"
        assert active_invite(s, "conv-1") is None
    assert redeem(sessions, clock, token_of(invite)) == ("expired", "conv-1")


def test_a_forged_or_unknown_link_is_refused(sessions: SessionFactory, clock: FakeClock) -> None:
    """A tampered token is invalid; a well-signed token with no row is unknown."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    token = token_of(invite)
    body, signature = token.split(".")
    tampered = body + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    assert redeem(sessions, clock, tampered) == ("invalid", None)
    stray = mint_token(SECRET, invite_ref="999", expires_at=clock.now() + TTL)
    assert redeem(sessions, clock, stray) == ("unknown", None)
    assert redeem(sessions, clock, token) == ("activated", "conv-1")


def test_looking_at_a_link_does_not_use_it(sessions: SessionFactory, clock: FakeClock) -> None:
    """find_invite reports what a redemption would do and changes nothing."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    for _ in range(3):
        with sessions.begin() as s:
            assert find_invite(s, token=token_of(invite), secret=SECRET, now=clock.now()).outcome
    assert redeem(sessions, clock, token_of(invite)) == ("activated", "conv-1")


# -- the landing page ------------------------------------------------------------------


@dataclass
class StandInContainer:
    """The part of bot.bootstrap.Container the secure-channel routes use."""

    sessions: SessionFactory
    clock: FakeClock
    invite_secret: bytes = SECRET
    activated: list[str] = field(default_factory=list)

    def on_invite_activated(self, conversation_id: str) -> None:
        self.activated.append(conversation_id)


@dataclass
class HooklessContainer:
    sessions: SessionFactory
    clock: FakeClock
    invite_secret: bytes = SECRET


def client_for(container: object) -> TestClient:
    app = FastAPI()
    app.state.container = container
    app.include_router(secure_channel.router)
    return TestClient(app, base_url="https://gangway.example.com")


@pytest.fixture
def container(sessions: SessionFactory, clock: FakeClock) -> StandInContainer:
    return StandInContainer(sessions, clock)


@pytest.fixture
def client(container: StandInContainer) -> Iterator[TestClient]:
    with client_for(container) as c:
        yield c


def text_of(response: Response) -> str:
    """The page's text with HTML entities resolved (Jinja escapes the apostrophes)."""
    return html.unescape(response.text)


def path_of(invite: IssuedInvite) -> str:
    return "/secure/invite/" + token_of(invite)


def test_opening_the_link_shows_a_button_and_does_not_use_it(
    client: TestClient, container: StandInContainer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """A GET (as a WhatsApp link preview makes) shows the confirmation and spends nothing."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    for _ in range(2):
        page = client.get(path_of(invite))
        assert page.status_code == 200
        assert "Continue to the secure channel" in text_of(page)
        assert f'<form method="post" action="{path_of(invite)}">' in text_of(page)
    with sessions.begin() as s:
        assert s.get_one(Invite, invite.invite_id).status == "active"
    assert container.activated == []


def test_the_pages_are_never_cached_nor_leak_the_link_as_referrer(
    client: TestClient, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Every invite page, valid or not, is served no-store and no-referrer."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    for response in (client.get(path_of(invite)), client.get("/secure/invite/nonsense")):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-type"].startswith("text/html")


def test_pressing_the_button_enters_the_secure_channel_once(
    client: TestClient, container: StandInContainer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """The first POST activates, calls the hook once and opens the secure chat; a second
    POST gets the 410 page."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    first = client.post(path_of(invite), follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/secure/chat"
    assert first.headers["set-cookie"].startswith("gangway_secure=")
    assert container.activated == ["conv-1"]

    again = client.post(path_of(invite))
    assert again.status_code == 410
    assert "already been used" in text_of(again)
    assert "write 'new link' to us on WhatsApp" in text_of(again)
    assert container.activated == ["conv-1"]
    assert client.get(path_of(invite)).status_code == 410


def test_an_expired_link_gets_a_410_page_saying_how_to_get_a_fresh_one(
    client: TestClient, container: StandInContainer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """After expiry both GET and POST show the expired page (410) and nothing is activated."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    clock.advance(TTL.total_seconds() + 60)
    for response in (client.get(path_of(invite)), client.post(path_of(invite))):
        assert response.status_code == 410
        assert "This link has expired" in text_of(response)
        assert "new link" in text_of(response)
        assert "<form" not in text_of(response)
    assert container.activated == []


def test_a_replaced_link_gets_a_410_page(
    client: TestClient, sessions: SessionFactory, clock: FakeClock
) -> None:
    """The older of two links says it was replaced by a newer one."""
    add_conversation(sessions, clock)
    old = issue(sessions, clock)
    issue(sessions, clock)
    response = client.post(path_of(old))
    assert response.status_code == 410
    assert "replaced" in text_of(response)


@pytest.mark.parametrize("token", ["nonsense", "AAAA.BBBB", "x" * 300])
def test_an_unknown_link_gets_a_404_page(client: TestClient, token: str) -> None:
    """A made-up or mangled token gets the not-valid page with 404, for GET and POST."""
    for response in (client.get(f"/secure/invite/{token}"), client.post(f"/secure/invite/{token}")):
        assert response.status_code == 404
        assert "This link is not valid" in text_of(response)
        assert "write 'new link' to us on WhatsApp" in text_of(response)


def test_the_page_is_in_german_for_a_german_conversation(
    client: TestClient, container: StandInContainer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """A conversation whose language is de gets the German page, button and success text."""
    add_conversation(sessions, clock, language="de")
    invite = issue(sessions, clock)
    page = client.get(path_of(invite))
    assert '<html lang="de">' in text_of(page)
    assert "Weiter zum sicheren Kanal" in text_of(page)
    assert "Continue to the secure channel" not in text_of(page)
    done = client.post(path_of(invite), follow_redirects=False)
    assert done.status_code == 303
    again = client.post(path_of(invite))
    assert "bereits verwendet" in text_of(again) and "neuer Link" in text_of(again)


def test_a_link_tied_to_no_conversation_follows_the_browser_language(client: TestClient) -> None:
    """An unknown link has no conversation: the browser's Accept-Language picks the page."""
    response = client.get("/secure/invite/nonsense", headers={"Accept-Language": "fr-CH,fr;q=0.9"})
    assert '<html lang="fr">' in text_of(response)
    assert "Ce lien n'est pas valide" in text_of(response)


def test_the_page_works_without_an_activation_hook(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A container without on_invite_activated still redeems the link."""
    add_conversation(sessions, clock)
    invite = issue(sessions, clock)
    with client_for(HooklessContainer(sessions, clock)) as c:
        assert c.post(path_of(invite), follow_redirects=False).status_code == 303
    with sessions.begin() as s:
        assert s.get_one(Invite, invite.invite_id).status == "used"

"""The secure messenger client against the stand-in messenger served on a loopback port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from bot.sandbox.messenger import MessengerConfig, MessengerState, create_app
from bot.sandbox.server import ServerThread
from bot.service_layer.errors import PermanentError, TransientError
from bot.service_layer.ports import ExternalInvite
from integrations.secure_messenger import SecureMessengerClient

AUTH_HEADER = "X-Api-Key"
AUTH_VALUE = "messenger-test-key-0123456789"
CALLBACK_SECRET = "callback-secret-0123456789abcdef"


class Sleeps:
    """Records the backoff the client asks for instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture(scope="module")
def messenger_app() -> FastAPI:
    config = MessengerConfig(
        auth_header_name=AUTH_HEADER,
        auth_header_value=AUTH_VALUE,
        callback_url="http://127.0.0.1:9/unused",
        callback_secret=CALLBACK_SECRET,
    )
    return create_app(config)


@pytest.fixture(scope="module")
def server(messenger_app: FastAPI) -> Iterator[ServerThread]:
    with ServerThread(messenger_app) as running:
        yield running


@pytest.fixture
def state(messenger_app: FastAPI) -> MessengerState:
    messenger: MessengerState = messenger_app.state.messenger
    return messenger


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(server: ServerThread, sleeps: Sleeps) -> Iterator[SecureMessengerClient]:
    messenger = SecureMessengerClient(
        server.url, AUTH_HEADER, AUTH_VALUE, timeout=5.0, retries=2, sleep=sleeps
    )
    yield messenger
    messenger.close()


def in_a_day() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)


def create(client: SecureMessengerClient, reference: str) -> ExternalInvite:
    return client.create_invite(
        reference=reference, language="de", expires_at=in_a_day(), display_name="Alex Example"
    )


def test_create_invite_returns_the_providers_id_link_and_expiry(
    client: SecureMessengerClient, state: MessengerState
) -> None:
    """A created invite is known to the messenger and its link opens the invite page."""
    expires_at = in_a_day()
    invite = client.create_invite(
        reference="gangway-invite-1", language="de", expires_at=expires_at, display_name=None
    )

    assert invite.expires_at == expires_at
    stored = state.invites[invite.external_id]
    assert (stored.reference, stored.language, stored.display_name) == (
        "gangway-invite-1",
        "de",
        None,
    )
    page = httpx.get(invite.link)
    assert page.status_code == 200
    assert "Open secure chat" in page.text
    seen = client.get_invite(invite.external_id)
    assert (seen.status, seen.activated_at) == ("pending", None)


def test_creating_again_with_the_same_reference_returns_the_same_invite(
    client: SecureMessengerClient, state: MessengerState
) -> None:
    """The reference is the idempotency key: a retried create makes no second invite."""
    first = create(client, "gangway-invite-2")
    second = create(client, "gangway-invite-2")

    assert second == first
    assert [i.reference for i in state.invites.values()].count("gangway-invite-2") == 1


def test_a_5xx_after_the_invite_was_made_is_retried_into_that_same_invite(
    client: SecureMessengerClient, state: MessengerState, sleeps: Sleeps
) -> None:
    """The provider made the invite but answered 503: the retry gets that invite back."""
    state.fail_next(503, after_create=True)

    invite = create(client, "gangway-invite-3")

    assert len(sleeps.delays) == 1
    assert [i.id for i in state.invites.values() if i.reference == "gangway-invite-3"] == [
        invite.external_id
    ]


def test_a_429_waits_as_long_as_retry_after_says(
    client: SecureMessengerClient, state: MessengerState, sleeps: Sleeps
) -> None:
    """Rate limited: the client backs off for the provider's Retry-After, then succeeds."""
    state.fail_next(429, retry_after=2)

    invite = create(client, "gangway-invite-4")

    assert sleeps.delays == [2.0]
    assert invite.external_id in state.invites


def test_a_retry_after_longer_than_the_clients_longest_wait_is_raised_at_once(
    client: SecureMessengerClient, state: MessengerState, sleeps: Sleeps
) -> None:
    """Asked to come back in two minutes, the client does not hold its caller that long:
    TransientError at once, carrying the 120 s for whoever retries later."""
    state.fail_next(429, retry_after=120)

    with pytest.raises(TransientError) as caught:
        create(client, "gangway-invite-4b")

    assert (caught.value.status, caught.value.retry_after) == (429, 120.0)
    assert sleeps.delays == []


def test_5xx_that_does_not_go_away_is_a_transient_error_after_the_retries(
    client: SecureMessengerClient, state: MessengerState, sleeps: Sleeps
) -> None:
    """Three 502s with two retries allowed: TransientError, after growing waits."""
    state.fail_next(502, count=3)

    with pytest.raises(TransientError) as caught:
        create(client, "gangway-invite-5")

    assert caught.value.status == 502
    assert caught.value.provider == "secure_messenger"
    assert len(sleeps.delays) == 2
    assert 0.25 <= sleeps.delays[0] <= 0.5 and 0.5 <= sleeps.delays[1] <= 1.0
    assert "gangway-invite-5" not in {i.reference for i in state.invites.values()}


def test_a_wrong_auth_header_is_a_permanent_error_without_retries(
    server: ServerThread, sleeps: Sleeps
) -> None:
    """401 will not get better by retrying; the error says what to check."""
    wrong = SecureMessengerClient(server.url, AUTH_HEADER, "not-the-key", retries=3, sleep=sleeps)

    with pytest.raises(PermanentError) as caught:
        create(wrong, "gangway-invite-6")

    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert "auth header" in caught.value.message
    assert sleeps.delays == []


def test_a_rejected_request_is_a_permanent_error_with_the_providers_code(
    client: SecureMessengerClient, sleeps: Sleeps
) -> None:
    """An invite that would already be expired is refused with 422 and not retried."""
    with pytest.raises(PermanentError) as caught:
        client.create_invite(
            reference="gangway-invite-7",
            language="en",
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
            display_name=None,
        )

    assert (caught.value.status, caught.value.code) == (422, "invalid")
    assert sleeps.delays == []


def test_nobody_listening_is_a_transient_error_after_the_retries(sleeps: Sleeps) -> None:
    """Connection refused on every attempt: retried, then TransientError."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    messenger = SecureMessengerClient(
        f"http://127.0.0.1:{closed_port}", AUTH_HEADER, AUTH_VALUE, retries=2, sleep=sleeps
    )

    with pytest.raises(TransientError) as caught:
        create(messenger, "gangway-invite-8")

    assert caught.value.status is None
    assert "ConnectError" in caught.value.message
    assert len(sleeps.delays) == 2


def test_an_answer_of_the_wrong_shape_is_a_permanent_error() -> None:
    """A 201 without an invite URL cannot be sent to the prospect."""

    def provider(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"id": "inv_1", "expires_at": "2026-11-23T09:00:00Z"})

    http = httpx.Client(transport=httpx.MockTransport(provider))
    messenger = SecureMessengerClient("https://messenger.example.com", AUTH_HEADER, "k", http=http)

    with pytest.raises(PermanentError, match="unexpected shape"):
        create(messenger, "gangway-invite-9")

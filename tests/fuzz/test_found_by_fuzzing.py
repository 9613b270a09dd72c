"""The inputs the fuzz runs found to cause server errors, kept as plain examples so
they stay fixed whatever the generators try next time."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from bot.bootstrap import INBOUND_PATH, STATUS_CALLBACK_PATH
from bot.entrypoints.routes.channel_callbacks import ACTIVATED_PATH
from integrations.standard_webhooks import signed_headers
from tests.fuzz.conftest import AUTH_TOKEN, CHANNEL_SECRET, PUBLIC, SERVICE_TOKEN, FuzzStack

pytestmark = pytest.mark.fuzz


def client(stack: FuzzStack) -> TestClient:
    return TestClient(stack.asgi, base_url="https://testserver", raise_server_exceptions=False)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/console/handoffs/2147483648",
        "/api/v1/console/handoffs/9223372036854775808/evidence",
        "/api/v1/handoffs/1/secure-messages/99999999999999999999",
    ],
)
def test_an_id_too_large_for_the_database_is_422_not_a_server_error(
    fuzz_stack: FuzzStack, path: str
) -> None:
    """Ids past 32 bits (PostgreSQL) or 64 bits (SQLite) are refused before any query."""
    headers = {"Authorization": f"Bearer {fuzz_stack.tokens['compliance']}"}
    assert client(fuzz_stack).get(path, headers=headers).status_code == 422


def test_a_conversation_id_with_a_nul_character_is_422_not_a_server_error(
    fuzz_stack: FuzzStack,
) -> None:
    """PostgreSQL refuses NUL in a query: such an id, in a path or a body, is a 422."""
    http = client(fuzz_stack)
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    for path in ("qualification", "invite-status"):
        assert http.get(f"/api/v1/conversations/a%00b/{path}", headers=headers).status_code == 422
    human = {"conversation_id": "a\x00b", "text": "a person please"}
    assert http.post("/api/v1/human-requests", json=human, headers=headers).status_code == 422


def test_an_unknown_qualification_slot_is_a_422_in_the_documented_shape(
    fuzz_stack: FuzzStack,
) -> None:
    """A slot the flow does not ask is reported like every other invalid body."""
    response = client(fuzz_stack).post(
        f"/api/v1/conversations/{fuzz_stack.conversation_id}/qualification",
        json={"text": "yes", "requested_slot": "shoe_size"},
        headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "requested_slot"]
    assert "shoe_size" in error["msg"]


@pytest.mark.parametrize(
    ("path", "form"),
    [
        (STATUS_CALLBACK_PATH, {"MessageSid": "SM" + "a" * 70, "MessageStatus": "sent"}),
        (STATUS_CALLBACK_PATH, {"MessageSid": "SM1", "MessageStatus": "x" * 40}),
        (
            STATUS_CALLBACK_PATH,
            {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "GET /v1/invites/{id}"},
        ),
        (STATUS_CALLBACK_PATH, {"MessageSid": "SM\x001", "MessageStatus": "sent"}),
        (INBOUND_PATH, {"MessageSid": "SM" + "b" * 70, "From": "whatsapp:+12025550103"}),
        (INBOUND_PATH, {"MessageSid": "SM\x002", "From": "whatsapp:+12025550103"}),
        (INBOUND_PATH, {"MessageSid": "SM3", "From": "whatsapp:+12025550103", "NumMedia": "-1"}),
    ],
)
def test_signed_twilio_values_that_do_not_fit_their_columns_are_400_and_store_nothing(
    fuzz_stack: FuzzStack, path: str, form: dict[str, str]
) -> None:
    """A sid past 64 characters, a status past 32, an error code past 16, or a NUL
    character in any of them: a plain 400, and no row (PostgreSQL raised on them)."""
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, form)
    before = fuzz_stack.count()
    response = client(fuzz_stack).post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 400, response.text
    assert fuzz_stack.count() == before


def test_a_sign_in_email_with_a_nul_character_is_refused_not_a_server_error(
    fuzz_stack: FuzzStack,
) -> None:
    """PostgreSQL refuses NUL in the account look-up: such an email is a 422."""
    http = client(fuzz_stack)
    form = http.get("/console/sign-in").text
    csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    response = http.post(
        "/console/sign-in",
        data={"email": "\t[\x00?", "password": "x", "csrf": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("path", "body", "caller"),
    [
        ("/nlg?token=" + SERVICE_TOKEN, '{"x": -Infinity}', None),
        ("/api/v1/human-requests", '{"conversation_id": "conv-1", "text": NaN}', "service"),
        ("/api/v1/conversations/conv-1/qualification", '{"text": Infinity}', "service"),
        ("/api/v1/console/handoffs/1/reply", '{"text": NaN}', "advisor"),
    ],
)
def test_nan_or_infinity_in_a_json_body_is_422_not_a_server_error(
    fuzz_stack: FuzzStack, path: str, body: str, caller: str | None
) -> None:
    """Python reads NaN and Infinity in JSON; the 422 no longer echoes them back (no JSON
    writer may send them), so the answer is a 422 with where and why."""
    headers = {"Content-Type": "application/json"}
    if caller == "service":
        headers["Authorization"] = f"Bearer {SERVICE_TOKEN}"
    elif caller is not None:
        headers["Authorization"] = f"Bearer {fuzz_stack.tokens[caller]}"
    response = client(fuzz_stack).post(path, content=body, headers=headers)
    assert response.status_code == 422
    assert all(set(error) == {"type", "loc", "msg"} for error in response.json()["detail"])


@pytest.mark.parametrize(
    "event",
    [
        {"type": "invite.activated", "invite_id": "inv-\x00", "event_id": "evt-1"},
        {"type": "invite.activated", "invite_id": "inv-1", "event_id": "evt-\x1f\n"},
        {"type": "invite.activated", "invite_id": "i" * 201, "event_id": "evt-2"},
    ],
)
def test_a_signed_activation_with_a_control_character_in_an_id_is_400_and_stores_nothing(
    fuzz_stack: FuzzStack, event: dict[str, str]
) -> None:
    """A NUL in the invite id made PostgreSQL's look-up a server error: an id with a
    control character, or too long for its column, is a plain 400 and leaves no row."""
    body = json.dumps(event).encode()
    timestamp = int(fuzz_stack.container.clock.now().timestamp())
    # Signed as a message of its own: no header can carry such an id.
    headers = {
        "Content-Type": "application/json",
        **signed_headers([CHANNEL_SECRET.encode()], "evt-signed", timestamp, body),
    }
    before = fuzz_stack.count()
    response = client(fuzz_stack).post(ACTIVATED_PATH, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert fuzz_stack.count() == before

"""The public webhooks under generated input: Twilio's inbound-message and status
forms, unsigned and correctly signed; the secure messenger's activation callback,
unsigned and signed; Rasa's wording endpoint; made-up invite links. Never a server
error; an unsigned or invalid request stores nothing; a valid signed message is
stored exactly once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.adapters.secure_chat_tables import SecureSession
from bot.bootstrap import INBOUND_PATH, STATUS_CALLBACK_PATH
from bot.entrypoints.routes.channel_callbacks import ACTIVATED_PATH
from bot.entrypoints.routes.twilio_webhooks import FORM_ENCODED
from integrations.standard_webhooks import signed_headers
from tests.fuzz.conftest import (
    AUTH_TOKEN,
    CHANNEL_SECRET,
    FUZZ,
    PUBLIC,
    SERVICE_TOKEN,
    TEXT,
    FuzzStack,
)

pytestmark = pytest.mark.fuzz

FIELD_NAMES = st.sampled_from(
    [
        "MessageSid",
        "SmsMessageSid",
        "From",
        "To",
        "Body",
        "ButtonText",
        "ProfileName",
        "NumMedia",
        "MediaUrl0",
        "MediaContentType0",
        "WaId",
        "MessageStatus",
        "SmsStatus",
        "ErrorCode",
        "AccountSid",
    ]
)
FORMS = st.dictionaries(st.one_of(FIELD_NAMES, TEXT.filter(bool)), TEXT, max_size=12)
STATUSES = st.one_of(
    st.sampled_from(["queued", "sent", "delivered", "read", "failed", "undelivered"]), TEXT
)


def client(stack: FuzzStack) -> TestClient:
    # Requests arrive at another host than the public URL, as behind a proxy.
    return TestClient(stack.asgi, base_url="http://10.0.0.5:8000", raise_server_exceptions=False)


def twilio_signature(path: str, form: dict[str, str]) -> str:
    return RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, form)


def unique_sid(sid: str) -> str:
    """A MessageSid no earlier example used, so "stored once" can be counted."""
    return f"SM{time.monotonic_ns():x}{sid}"


@given(form=FORMS, signature=st.one_of(st.just(""), TEXT))
@FUZZ
def test_unsigned_or_wrongly_signed_twilio_forms_are_refused_and_store_nothing(
    fuzz_stack: FuzzStack, form: dict[str, str], signature: str
) -> None:
    """Any form with a missing or made-up signature gets 403 on both Twilio webhooks
    and adds no row anywhere."""
    before = fuzz_stack.count()
    with client(fuzz_stack) as http:
        for path in (INBOUND_PATH, STATUS_CALLBACK_PATH):
            sendable = signature.isascii() and signature.isprintable()
            headers = {"X-Twilio-Signature": signature} if sendable else {}
            headers["Content-Type"] = FORM_ENCODED  # as Twilio sends it, even when empty
            response = http.post(path, data=form, headers=headers)
            assert response.status_code == 403, (path, form, response.text)
    assert fuzz_stack.count() == before


@given(form=FORMS, sid=TEXT, sender=TEXT, body=TEXT)
@FUZZ
def test_signed_inbound_forms_are_stored_exactly_once_or_refused_with_nothing_stored(
    fuzz_stack: FuzzStack, form: dict[str, str], sid: str, sender: str, body: str
) -> None:
    """A correctly signed message form gets 200 and one inbox row, even when delivered
    twice; a signed form that is not a message gets 4xx and stores nothing."""
    form = dict(form)
    if sid:  # otherwise the generated sids, if any, stay
        form["MessageSid"] = sid
    for key in ("MessageSid", "SmsMessageSid"):
        if form.get(key):
            form[key] = unique_sid(form[key])
    if sender:
        form["From"] = sender
    form.setdefault("Body", body)
    headers = {"X-Twilio-Signature": twilio_signature(INBOUND_PATH, form)}
    headers["Content-Type"] = FORM_ENCODED
    before = fuzz_stack.count()
    with client(fuzz_stack) as http:
        first = http.post(INBOUND_PATH, data=form, headers=headers)
        after_first = fuzz_stack.count()
        again = http.post(INBOUND_PATH, data=form, headers=headers)
    assert first.status_code < 500 and again.status_code < 500, (form, first.text)
    if first.status_code == 200:
        assert after_first["inbox"] == before["inbox"] + 1
        assert again.status_code == 200
    else:
        assert 400 <= first.status_code < 500
        assert after_first == before
    assert fuzz_stack.count()["inbox"] == after_first["inbox"], "a redelivery stores nothing"


@given(form=FORMS, sid=TEXT, status=STATUSES, error_code=st.one_of(st.none(), TEXT))
@FUZZ
def test_signed_status_callbacks_are_recorded_or_refused_never_a_server_error(
    fuzz_stack: FuzzStack, form: dict[str, str], sid: str, status: str, error_code: str | None
) -> None:
    """A correctly signed status form with a sid and a status records one status event;
    one without them is a 4xx that records nothing."""
    form = dict(form)
    if sid:
        form["MessageSid"] = sid
    if status:
        form["MessageStatus"] = status
    if error_code is not None:
        form["ErrorCode"] = error_code
    headers = {"X-Twilio-Signature": twilio_signature(STATUS_CALLBACK_PATH, form)}
    headers["Content-Type"] = FORM_ENCODED
    before = fuzz_stack.count()
    with client(fuzz_stack) as http:
        response = http.post(STATUS_CALLBACK_PATH, data=form, headers=headers)
    after = fuzz_stack.count()
    assert response.status_code < 500, (form, response.text)
    if response.status_code == 200:
        assert after["statuses"] == before["statuses"] + 1
    else:
        assert after == before


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=10,
)
EVENTS = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries(
        {"event_id": TEXT, "invite_id": TEXT},
        optional={"activated_at": st.one_of(TEXT, st.datetimes().map(str)), "type": TEXT},
    ),
)


def activation_headers(body: bytes, *, signed: bool, timestamp: int) -> dict[str, str]:
    """Standard Webhooks headers, the id being the body's event_id where a header can
    carry it; a body that is not UTF-8 gets a signature over its bytes, as the
    specification defines it (the library signs text only)."""
    try:
        event_id = json.loads(body).get("event_id")
    except (ValueError, AttributeError):
        event_id = None
    fits_a_header = (
        isinstance(event_id, str)
        and event_id != ""
        and event_id.isascii()
        and event_id.isprintable()
        and event_id == event_id.strip()
    )
    msg_id = event_id if fits_a_header else "evt-fuzz"
    headers = {"Content-Type": "application/json", "webhook-id": msg_id}
    headers["webhook-timestamp"] = str(timestamp)
    if signed:
        try:
            headers.update(signed_headers([CHANNEL_SECRET.encode()], msg_id, timestamp, body))
        except UnicodeDecodeError:
            signed_text = f"{msg_id}.{timestamp}.".encode() + body
            digest = hmac.new(CHANNEL_SECRET.encode(), signed_text, hashlib.sha256).digest()
            headers["webhook-signature"] = "v1," + base64.b64encode(digest).decode()
    return headers


@given(
    event=EVENTS,
    raw=st.one_of(st.none(), st.binary(max_size=300)),
    signed=st.booleans(),
    skew=st.one_of(st.just(0), st.integers(-(10**6), 10**6)),
)
@FUZZ
def test_activation_callbacks_never_fail_and_store_nothing_for_unknown_invites(
    fuzz_stack: FuzzStack, event: Any, raw: bytes | None, signed: bool, skew: int
) -> None:
    """Signed or not, fresh or stale, JSON or not, an activation callback gets an answer
    below 500; unsigned, stale, malformed or naming no invite of ours, it stores nothing."""
    body = raw if raw is not None else json.dumps(event).encode()
    timestamp = int(fuzz_stack.container.clock.now().timestamp()) + skew
    before = fuzz_stack.count()
    with client(fuzz_stack) as http:
        response = http.post(
            ACTIVATED_PATH,
            content=body,
            headers=activation_headers(body, signed=signed, timestamp=timestamp),
        )
    assert response.status_code < 500, (body, response.text)
    if not signed or abs(skew) > 300:
        assert response.status_code == 401
    # The seeded data has no provider invite, so no callback can name one.
    assert response.status_code != 200
    assert fuzz_stack.count() == before


NLG_BODIES = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries(
        {
            "response": st.one_of(st.sampled_from(["utter_greet", "utter_goodbye"]), TEXT),
            "tracker": st.fixed_dictionaries({"sender_id": st.one_of(st.just("conv-1"), TEXT)}),
        },
        optional={"arguments": st.dictionaries(TEXT, JSON_VALUES, max_size=3)},
    ),
)


@given(body=NLG_BODIES, token=st.one_of(st.just(SERVICE_TOKEN), TEXT))
@FUZZ
def test_generated_nlg_requests_never_fail_and_store_nothing(
    fuzz_stack: FuzzStack, body: Any, token: str
) -> None:
    """Rasa's wording endpoint answers any body, with or without the service token,
    below 500 (401 without the token) and stores nothing."""
    before = fuzz_stack.count()
    with client(fuzz_stack) as http:
        response = http.post("/nlg", params={"token": token}, content=json.dumps(body))
    assert response.status_code < 500, (body, response.text)
    if token != SERVICE_TOKEN:
        assert response.status_code == 401
    assert fuzz_stack.count() == before


@given(token=TEXT.filter(lambda t: "/" not in t and t not in (".", "..")), redeem=st.booleans())
@FUZZ
def test_made_up_invite_links_never_fail_and_open_nothing(
    fuzz_stack: FuzzStack, token: str, redeem: bool
) -> None:
    """Any token in a secure-channel invite link, looked at or used, gets a page below
    500 and opens no chat session and no handoff."""
    path = "/secure/invite/" + quote(token, safe="")
    before = (fuzz_stack.count(), secure_sessions(fuzz_stack))
    with client(fuzz_stack) as http:
        response = http.post(path) if redeem else http.get(path)
    assert response.status_code < 500, (token, response.text[:200])
    assert (fuzz_stack.count(), secure_sessions(fuzz_stack)) == before


def secure_sessions(stack: FuzzStack) -> int:
    with stack.container.sessions.begin() as s:
        return s.execute(select(func.count()).select_from(SecureSession)).scalar_one()

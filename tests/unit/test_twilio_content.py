"""Quick-reply templates through the Content API, against the sandbox app and fakes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.sandbox import SandboxConfig, create_app
from bot.sandbox.approved_templates import APPROVED
from bot.service_layer.errors import PermanentError, TransientError
from integrations.twilio_content import TwilioContent

ACCOUNT = "AC" + "8" * 32
TOKEN = "content-token"
BUTTONS = [("Yes, I agree", "consent_agree"), ("No, thanks", "consent_decline")]


@pytest.fixture
def sandbox() -> Iterator[TestClient]:
    config = SandboxConfig(ACCOUNT, TOKEN, "http://gangway.test/webhooks/twilio/whatsapp")
    with TestClient(create_app(config), base_url="http://sandbox.test") as client:
        yield client


def content(sandbox: TestClient, token: str = TOKEN) -> TwilioContent:
    return TwilioContent(
        account_sid=ACCOUNT, auth_token=token, base_url="http://sandbox.test", http=sandbox
    )


def listed(sandbox: TestClient) -> list[dict[str, object]]:
    """The account's templates, without the approved ones the sandbox starts with."""
    answer = sandbox.get("/v1/Content", params={"PageSize": 500}, auth=(ACCOUNT, TOKEN))
    contents: list[dict[str, object]] = answer.json()["contents"]
    approved = {sid for sid, *_ in APPROVED}
    return [c for c in contents if c["sid"] not in approved]


def test_ensure_twice_creates_one_template_and_returns_its_sid(sandbox: TestClient) -> None:
    """The second ensure with the same name finds the first template instead of a new one."""
    first = content(sandbox).ensure_quick_reply("consent_en_1a2b", "en", BUTTONS)
    second = content(sandbox).ensure_quick_reply("consent_en_1a2b", "en", BUTTONS)
    assert first == second
    assert first.startswith("HX") and len(first) == 34
    assert [c["sid"] for c in listed(sandbox)] == [first]


def test_the_template_is_a_quick_reply_with_a_text_fallback(sandbox: TestClient) -> None:
    """The created template holds {{1}} as body, the buttons in order, and twilio/text."""
    sid = content(sandbox).ensure_quick_reply("consent_de_9f", "de", BUTTONS)
    stored = sandbox.get(f"/v1/Content/{sid}", auth=(ACCOUNT, TOKEN)).json()
    assert (stored["friendly_name"], stored["language"]) == ("consent_de_9f", "de")
    assert stored["types"] == {
        "twilio/quick-reply": {
            "body": "{{1}}",
            "actions": [
                {"type": "QUICK_REPLY", "title": "Yes, I agree", "id": "consent_agree"},
                {"type": "QUICK_REPLY", "title": "No, thanks", "id": "consent_decline"},
            ],
        },
        "twilio/text": {"body": "{{1}}"},
    }
    assert set(stored["variables"]) == {"1"}


def test_a_changed_name_creates_a_new_template(sandbox: TestClient) -> None:
    """A new wording (so a new name) gets its own template; the old one stays."""
    old = content(sandbox).ensure_quick_reply("consent_en_aaaa", "en", BUTTONS)
    new = content(sandbox).ensure_quick_reply("consent_en_bbbb", "en", [("OK", "agree")])
    assert old != new
    assert {c["sid"] for c in listed(sandbox)} == {old, new}


def test_a_template_on_a_later_page_is_found(sandbox: TestClient) -> None:
    """Listing follows next_page_url, so the 101st template is found, not duplicated."""
    for number in range(101):
        body = {
            "friendly_name": f"other_{number}",
            "language": "en",
            "types": {"twilio/text": {"body": "Hello"}},
        }
        created = sandbox.post("/v1/Content", json=body, auth=(ACCOUNT, TOKEN))
        assert created.status_code == 201
    last = listed(sandbox)[-1]
    assert content(sandbox).ensure_quick_reply("other_100", "en", BUTTONS) == last["sid"]
    assert len(listed(sandbox)) == 101


def test_delete_removes_the_template(sandbox: TestClient) -> None:
    """A deleted template is gone; ensuring it again creates a fresh one."""
    api = content(sandbox)
    sid = api.ensure_quick_reply("consent_fr_01", "fr", BUTTONS)
    api.delete(sid)
    assert listed(sandbox) == []
    with pytest.raises(PermanentError) as missing:
        api.delete(sid)
    assert (missing.value.status, missing.value.code) == (404, 20404)
    assert api.ensure_quick_reply("consent_fr_01", "fr", BUTTONS) != sid


@pytest.mark.parametrize(
    "buttons",
    [
        [],
        [("A", "a"), ("B", "b"), ("C", "c"), ("D", "d")],
        [("x" * 21, "long")],
        [("Same", "id"), ("Other", "id")],
        [("Empty id", "")],
    ],
)
def test_buttons_whatsapp_would_refuse_are_rejected_before_any_request(
    buttons: list[tuple[str, str]],
) -> None:
    """More than 3 buttons, titles over 20 characters, duplicate or empty ids: ValueError."""
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(500)

    http = httpx.Client(transport=httpx.MockTransport(record))
    api = TwilioContent(account_sid=ACCOUNT, auth_token=TOKEN, base_url="http://x.test", http=http)
    with pytest.raises(ValueError):
        api.ensure_quick_reply("name", "en", buttons)
    assert requests == []


def test_wrong_credentials_are_a_permanent_error(sandbox: TestClient) -> None:
    """A 401 from the Content API will not pass by retrying."""
    with pytest.raises(PermanentError) as denied:
        content(sandbox, token="wrong").ensure_quick_reply("n", "en", BUTTONS)
    assert (denied.value.status, denied.value.code) == (401, 20003)


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limits_and_outages_are_transient(status: int) -> None:
    """429 and 5xx from the Content API are worth retrying."""
    body = {"code": 20429 if status == 429 else None, "message": "busy", "status": status}
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(status, json=body)))
    api = TwilioContent(account_sid=ACCOUNT, auth_token=TOKEN, base_url="http://x.test", http=http)
    with pytest.raises(TransientError) as busy:
        api.ensure_quick_reply("n", "en", BUTTONS)
    assert busy.value.status == status


def test_requests_go_to_the_base_url_with_twilio_paths() -> None:
    """content.twilio.com is rewritten to the base URL, keeping /v1/Content, JSON body."""
    seen: list[httpx.Request] = []

    def fake(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            meta = {"key": "contents", "next_page_url": None, "page": 0, "page_size": 100}
            return httpx.Response(200, json={"contents": [], "meta": meta})
        return httpx.Response(201, json={"sid": "HX" + "c" * 32})

    http = httpx.Client(transport=httpx.MockTransport(fake))
    api = TwilioContent(
        account_sid=ACCOUNT, auth_token=TOKEN, base_url="http://127.0.0.1:9/prefix", http=http
    )
    assert api.ensure_quick_reply("n", "es", BUTTONS) == "HX" + "c" * 32
    assert [(r.method, r.url.path) for r in seen] == [
        ("GET", "/prefix/v1/Content"),
        ("POST", "/prefix/v1/Content"),
    ]
    assert seen[1].headers["Content-Type"] == "application/json"
    assert json.loads(seen[1].content)["language"] == "es"

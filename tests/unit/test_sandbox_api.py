"""The WhatsApp sandbox's Twilio-compatible API and chat JSON API, through TestClient.

Webhooks and status callbacks go through an `httpx.MockTransport` seam, so these
tests need no network; tests/integration drives the same app over real HTTP.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from bot.sandbox import SandboxConfig, create_app
from bot.sandbox.approved_templates import APPROVED

ACCOUNT = "AC" + "5" * 32
TOKEN = "sandbox-test-token"
BUSINESS = "whatsapp:+12025550100"
PROSPECT = "whatsapp:+12025550101"
OTHER = "whatsapp:+12025550102"
WEBHOOK = "http://gangway.test/webhooks/twilio/whatsapp"
CALLBACK = "http://gangway.test/webhooks/twilio/status"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"


class Recorder:
    """A fake network: records each request and answers with `respond`."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()
        self.respond: Callable[[httpx.Request], httpx.Response] = lambda request: httpx.Response(
            200, text="<Response></Response>", headers={"Content-Type": "text/xml"}
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        with self._lock:
            self.requests.append(request)
        return self.respond(request)

    def posts_to(self, url: str) -> list[dict[str, Any]]:
        with self._lock:
            found = [r for r in self.requests if str(r.url) == url]
        return [
            {
                "params": dict(parse_qsl(r.content.decode(), keep_blank_values=True)),
                "signature": r.headers.get("X-Twilio-Signature"),
                "headers": r.headers,
            }
            for r in found
        ]


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `condition` until it is truthy (background callbacks), failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(recorder: Recorder) -> Iterator[TestClient]:
    config = SandboxConfig(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        webhook_url=WEBHOOK,
        business_number=BUSINESS,
        default_prospect=PROSPECT,
        status_delay_seconds=0.0,
    )
    transport = httpx.MockTransport(recorder.handle)
    with TestClient(
        create_app(config, webhook_transport=transport, callback_transport=transport)
    ) as test_client:
        yield test_client


def send(client: TestClient, **form: Any) -> httpx.Response:
    data = {"To": PROSPECT, "From": BUSINESS, "Body": "Hello from the business"}
    data.update(form)
    return client.post(
        MESSAGES, data={k: v for k, v in data.items() if v is not None}, auth=(ACCOUNT, TOKEN)
    )


def prospect_writes(client: TestClient, number: str = PROSPECT) -> None:
    """The prospect writes first, which opens WhatsApp's 24-hour window for free-form."""
    client.post("/sandbox/api/inbound", json={"from": number, "body": "hi"}).raise_for_status()


def messages(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    return list(client.get("/sandbox/api/messages", params=params).json()["messages"])


def statuses_of(client: TestClient, sid: str) -> str:
    return str(
        client.get(
            f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json", auth=(ACCOUNT, TOKEN)
        ).json()["status"]
    )


# --- authentication -----------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [None, (ACCOUNT, "wrong-token"), ("AC" + "6" * 32, TOKEN)],
    ids=["missing", "wrong-token", "wrong-account"],
)
def test_create_without_valid_basic_auth_is_401_in_twilio_shape(
    client: TestClient, auth: Any
) -> None:
    """Creating a message without the account's Basic credentials answers Twilio's 20003."""
    form = {"To": PROSPECT, "From": BUSINESS, "Body": "x"}
    response = client.post(MESSAGES, data=form, auth=auth)
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert messages(client) == []


def test_path_account_must_match_credentials(client: TestClient) -> None:
    """Valid credentials for one account do not open another account's Messages."""
    other = "AC" + "7" * 32
    response = client.get(f"/2010-04-01/Accounts/{other}/Messages.json", auth=(ACCOUNT, TOKEN))
    assert response.status_code == 401
    assert response.json()["code"] == 20003


def test_list_and_fetch_require_auth(client: TestClient) -> None:
    """Listing and fetching messages also need Basic auth."""
    sid = send(client).json()["sid"]
    assert client.get(MESSAGES).status_code == 401
    assert client.get(f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json").status_code == 401


# --- create -------------------------------------------------------------------------


def test_create_answers_201_with_twilio_message_resource(client: TestClient) -> None:
    """A valid create answers 201 with the Message resource as Twilio shapes it."""
    response = send(client, Body="Welcome!")
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
    assert body["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{body['sid']}.json"
    assert body["subresource_uris"]["media"].endswith(f"/Messages/{body['sid']}/Media.json")
    expected = {
        "account_sid": ACCOUNT,
        "api_version": "2010-04-01",
        "body": "Welcome!",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": BUSINESS,
        "to": PROSPECT,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "status": "queued",
    }
    assert {k: body[k] for k in expected} == expected
    for field in ("date_created", "date_updated"):
        moment = parsedate_to_datetime(body[field])
        assert moment.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)
        assert body[field].endswith("+0000")
    assert body["date_sent"] is None  # queued: not sent yet


def test_date_sent_is_set_once_the_message_is_sent(client: TestClient) -> None:
    """A sent message reports its send date in RFC 2822, as Twilio does."""
    prospect_writes(client)
    sid = send(client).json()["sid"]
    wait_for(lambda: statuses_of(client, sid) == "delivered")
    fetched = client.get(
        f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json", auth=(ACCOUNT, TOKEN)
    ).json()
    moment = parsedate_to_datetime(fetched["date_sent"])
    assert moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"To": None}, 21604),
        ({"From": None}, 21603),
        ({"Body": None}, 21602),
        ({"From": "whatsapp:+12025550199"}, 63007),
        ({"From": "+12025550100"}, 21606),
        ({"To": "+12025550101"}, 21910),
        ({"To": "whatsapp:555"}, 21211),
        ({"Body": "x" * 1601}, 21617),
        ({"ContentSid": "not-a-content-sid"}, 21655),
        ({"ContentSid": "HX" + "a" * 32, "ContentVariables": "[1]"}, 21656),
        ({"StatusCallback": "not a url"}, 21609),
        ({"MediaUrl": "ftp://example.com/a.png"}, 21620),
    ],
)
def test_invalid_create_is_400_with_twilio_code(
    client: TestClient, form: dict[str, Any], code: int
) -> None:
    """An invalid create answers 400 with the matching Twilio error code and stores nothing."""
    response = send(client, **form)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["status"] == 400
    assert response.json()["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert messages(client) == []


def test_content_sid_and_repeated_media_urls_are_accepted(client: TestClient) -> None:
    """A template (ContentSid) needs no Body, and repeated MediaUrl fields all count."""
    created = client.post(
        "/v1/Content",
        json={
            "friendly_name": "greeting",
            "language": "en",
            "variables": {"1": "name"},
            "types": {"twilio/text": {"body": "Hello {{1}}"}},
        },
        auth=(ACCOUNT, TOKEN),
    )
    content_sid = created.json()["sid"]
    response = client.post(
        MESSAGES,
        data={
            "To": PROSPECT,
            "From": BUSINESS,
            "ContentSid": content_sid,
            "ContentVariables": '{"1": "Ada"}',
            "MediaUrl": ["https://example.com/a.png", "https://example.com/b.png"],
        },
        auth=(ACCOUNT, TOKEN),
    )
    assert response.status_code == 201
    assert response.json()["num_media"] == "2"
    assert response.json()["body"] == "Hello Ada"
    [stored] = messages(client)
    assert stored["content_sid"] == content_sid
    assert stored["content_variables"] == '{"1": "Ada"}'
    assert stored["media_urls"] == ["https://example.com/a.png", "https://example.com/b.png"]


# --- fetch and list -----------------------------------------------------------------


def test_fetch_returns_the_message_and_404_when_unknown(client: TestClient) -> None:
    """Fetching a known sid returns its resource; an unknown sid is Twilio's 20404."""
    sid = send(client).json()["sid"]
    fetched = client.get(
        f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json", auth=(ACCOUNT, TOKEN)
    )
    assert fetched.status_code == 200
    assert fetched.json()["sid"] == sid
    missing = "SM" + "0" * 32
    response = client.get(
        f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{missing}.json", auth=(ACCOUNT, TOKEN)
    )
    assert response.status_code == 404
    assert response.json()["code"] == 20404
    assert response.json()["status"] == 404


def test_list_filters_by_to_and_from_newest_first(client: TestClient) -> None:
    """List filters on To and From and, like Twilio, lists newest first."""
    first = send(client, Body="one").json()["sid"]
    second = send(client, Body="two").json()["sid"]
    send(client, To=OTHER, Body="elsewhere")
    client.post("/sandbox/api/inbound", json={"from": PROSPECT, "body": "hi"})

    page = client.get(MESSAGES, params={"To": PROSPECT}, auth=(ACCOUNT, TOKEN)).json()
    assert [m["sid"] for m in page["messages"]] == [second, first]
    from_prospect = client.get(MESSAGES, params={"From": PROSPECT}, auth=(ACCOUNT, TOKEN)).json()
    assert [m["body"] for m in from_prospect["messages"]] == ["hi"]
    assert from_prospect["messages"][0]["direction"] == "inbound"
    assert from_prospect["messages"][0]["status"] == "received"


def test_list_page_has_twilio_page_keys(client: TestClient) -> None:
    """A list answer is a Twilio page: only `messages` besides Twilio's paging keys."""
    send(client)
    page = client.get(MESSAGES, params={"To": PROSPECT}, auth=(ACCOUNT, TOKEN)).json()
    assert set(page) == {
        "messages",
        "end",
        "first_page_uri",
        "next_page_uri",
        "page",
        "page_size",
        "previous_page_uri",
        "start",
        "uri",
    }
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 50, 0, 0)
    assert page["next_page_uri"] is None and page["previous_page_uri"] is None
    assert page["uri"].startswith(MESSAGES + "?")
    assert "To=whatsapp%3A%2B12025550101" in page["uri"]


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"DateSent": "{today}"}, True),
        ({"DateSent": "{yesterday}"}, False),
        ({"DateSent>": "{today}"}, True),
        ({"DateSent>": "{tomorrow}"}, False),
        ({"DateSent<": "{today}"}, True),
        ({"DateSent<": "{yesterday}"}, False),
        ({"DateSent>": "{minute_ago}"}, True),
        ({"DateSent>": "{minute_ahead}"}, False),
        ({"DateSent<": "{minute_ago}"}, False),
    ],
)
def test_list_filters_by_date_sent(client: TestClient, params: dict[str, str], found: bool) -> None:
    """DateSent, DateSent> (on or after) and DateSent< (on or before) filter by date or instant."""
    now = datetime.now(UTC)
    values = {
        "today": now.strftime("%Y-%m-%d"),
        "yesterday": (now - timedelta(days=1)).strftime("%Y-%m-%d"),
        "tomorrow": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
        # the format twilio-python sends for datetimes
        "minute_ago": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "minute_ahead": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    prospect_writes(client)
    sid = send(client).json()["sid"]
    wait_for(lambda: statuses_of(client, sid) == "delivered")  # queued ones have no date
    query = {k: v.format(**values) for k, v in params.items()}
    page = client.get(MESSAGES, params=query, auth=(ACCOUNT, TOKEN)).json()
    outbound = [m["sid"] for m in page["messages"] if m["direction"] != "inbound"]
    assert (outbound == [sid]) is found


def test_queued_message_is_left_out_of_a_date_sent_filter(recorder: Recorder) -> None:
    """A message still queued has no send date: DateSent> leaves it out, no filter lists it."""
    config = SandboxConfig(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        webhook_url=WEBHOOK,
        business_number=BUSINESS,
        status_delay_seconds=60.0,  # stays queued for the whole test
    )
    transport = httpx.MockTransport(recorder.handle)
    with TestClient(create_app(config, callback_transport=transport)) as slow:
        sid = send(slow).json()["sid"]
        since = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        dated = slow.get(MESSAGES, params={"DateSent>": since}, auth=(ACCOUNT, TOKEN)).json()
        undated = slow.get(MESSAGES, auth=(ACCOUNT, TOKEN)).json()
    assert dated["messages"] == []
    assert [(m["sid"], m["status"], m["date_sent"]) for m in undated["messages"]] == [
        (sid, "queued", None)
    ]


def test_list_rejects_a_malformed_date(client: TestClient) -> None:
    """A DateSent filter that is not a date answers 400."""
    response = client.get(MESSAGES, params={"DateSent>": "last tuesday"}, auth=(ACCOUNT, TOKEN))
    assert response.status_code == 400
    assert response.json()["code"] == 20001


def test_list_pages_follow_next_and_previous_uris(client: TestClient) -> None:
    """With PageSize, next_page_uri and previous_page_uri walk all messages without repeats."""
    sids = [send(client, Body=str(i)).json()["sid"] for i in range(5)]
    first = client.get(MESSAGES, params={"PageSize": 2}, auth=(ACCOUNT, TOKEN)).json()
    seen = [m["sid"] for m in first["messages"]]
    page = first
    while page["next_page_uri"]:
        page = client.get(page["next_page_uri"], auth=(ACCOUNT, TOKEN)).json()
        seen += [m["sid"] for m in page["messages"]]
    assert seen == list(reversed(sids))
    assert (page["page"], page["start"], page["end"]) == (2, 4, 4)
    back = client.get(page["previous_page_uri"], auth=(ACCOUNT, TOKEN)).json()
    assert [m["sid"] for m in back["messages"]] == [sids[2], sids[1]]


# --- faults -------------------------------------------------------------------------


def test_creation_fault_fails_the_next_count_creations(client: TestClient) -> None:
    """A 429 fault with count 2 fails exactly the next two creations with Twilio's error JSON."""
    response = client.post(
        "/sandbox/api/faults",
        json={"status": 429, "code": 20429, "count": 2, "message": "Too Many Requests"},
    )
    assert response.status_code == 201
    for _ in range(2):
        failed = send(client)
        assert failed.status_code == 429
        assert failed.json() == {
            "code": 20429,
            "message": "Too Many Requests",
            "more_info": "https://www.twilio.com/docs/errors/20429",
            "status": 429,
        }
    assert send(client).status_code == 201
    assert len(messages(client)) == 1
    assert client.get("/sandbox/api/faults").json() == {"faults": []}


def test_creation_fault_can_say_when_to_retry(client: TestClient) -> None:
    """A 429 fault with retry_after answers with Twilio's Retry-After header."""
    client.post("/sandbox/api/faults", json={"status": 429, "code": 20429, "retry_after": 2})
    failed = send(client)
    assert failed.status_code == 429
    assert failed.headers["Retry-After"] == "2"
    assert "retry-after" not in send(client).headers


def test_invalid_request_does_not_use_up_a_fault(client: TestClient) -> None:
    """Faults apply to valid creations only; a 400 leaves the fault armed."""
    client.post("/sandbox/api/faults", json={"status": 503, "code": 20503})
    assert send(client, To=None).status_code == 400
    assert send(client).status_code == 503
    assert send(client).status_code == 201


def test_deleting_faults_clears_them(client: TestClient) -> None:
    """DELETE /sandbox/api/faults disarms every fault."""
    client.post("/sandbox/api/faults", json={"status": 500, "code": 20500, "count": 5})
    client.post("/sandbox/api/faults", json={"delivery": "failed", "code": 63016})
    assert len(client.get("/sandbox/api/faults").json()["faults"]) == 2
    assert client.delete("/sandbox/api/faults").status_code == 200
    assert send(client).status_code == 201


def test_recorded_fault_keeps_the_message_but_answers_the_error(client: TestClient) -> None:
    """A fault with record=true simulates a lost answer: an error, yet the send happened."""
    client.post("/sandbox/api/faults", json={"status": 500, "code": 20500, "record": True})
    assert send(client, Body="did this go out?").status_code == 500
    page = client.get(MESSAGES, params={"To": PROSPECT}, auth=(ACCOUNT, TOKEN)).json()
    assert [m["body"] for m in page["messages"]] == ["did this go out?"]


@pytest.mark.parametrize(
    "fault",
    [
        {},
        {"status": 429, "delivery": "failed", "code": 1},
        {"delivery": "failed"},
        {"status": 200},
        {"delivery": "lost", "code": 1},
    ],
)
def test_malformed_fault_is_rejected(client: TestClient, fault: dict[str, Any]) -> None:
    """A fault must be exactly one of a creation fault or a delivery fault, with valid values."""
    assert client.post("/sandbox/api/faults", json=fault).status_code == 422
    assert client.get("/sandbox/api/faults").json() == {"faults": []}


# --- status callbacks ---------------------------------------------------------------


def test_status_callbacks_sent_then_delivered_and_signed(
    client: TestClient, recorder: Recorder
) -> None:
    """After a create with StatusCallback, signed "sent" then "delivered" callbacks are POSTed."""
    prospect_writes(client)
    sid = send(client, StatusCallback=CALLBACK).json()["sid"]
    posts = wait_for(lambda: len(recorder.posts_to(CALLBACK)) >= 2 and recorder.posts_to(CALLBACK))
    assert [p["params"]["MessageStatus"] for p in posts] == ["sent", "delivered"]
    validator = RequestValidator(TOKEN)
    for post in posts:
        params = post["params"]
        assert validator.validate(CALLBACK, params, post["signature"])
        assert params == {
            "AccountSid": ACCOUNT,
            "ApiVersion": "2010-04-01",
            "ChannelPrefix": "whatsapp",
            "From": BUSINESS,
            "To": PROSPECT,
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": params["MessageStatus"],
            "SmsStatus": params["MessageStatus"],
        }
        assert not validator.validate(CALLBACK + "x", params, post["signature"])
    assert statuses_of(client, sid) == "delivered"


def test_message_progresses_without_a_status_callback(
    client: TestClient, recorder: Recorder
) -> None:
    """Without StatusCallback no callback is sent, but the message still reaches "delivered"."""
    prospect_writes(client)
    sid = send(client).json()["sid"]
    wait_for(lambda: statuses_of(client, sid) == "delivered")
    assert recorder.posts_to(CALLBACK) == []


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [("failed", ["failed"]), ("undelivered", ["sent", "undelivered"])],
)
def test_delivery_fault_ends_in_failure_with_error_code(
    client: TestClient, recorder: Recorder, delivery: str, expected: list[str]
) -> None:
    """A delivery fault makes the next message's callbacks end in failure with ErrorCode."""
    prospect_writes(client)
    client.post("/sandbox/api/faults", json={"delivery": delivery, "code": 63016, "count": 1})
    sid = send(client, StatusCallback=CALLBACK).json()["sid"]
    posts = wait_for(
        lambda: len(recorder.posts_to(CALLBACK)) >= len(expected) and recorder.posts_to(CALLBACK)
    )
    assert [p["params"]["MessageStatus"] for p in posts] == expected
    assert posts[-1]["params"]["ErrorCode"] == "63016"
    assert "ErrorCode" not in posts[0]["params"] or len(posts) == 1
    fetched = client.get(
        f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json", auth=(ACCOUNT, TOKEN)
    ).json()
    assert (fetched["status"], fetched["error_code"]) == (delivery, 63016)
    assert "24" in fetched["error_message"] or "window" in fetched["error_message"]
    # only the next message is affected
    next_sid = send(client).json()["sid"]
    wait_for(lambda: statuses_of(client, next_sid) == "delivered")


def test_unreachable_status_callback_is_logged_not_fatal(
    client: TestClient, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback that cannot be delivered is logged and recorded; the sandbox carries on."""
    prospect_writes(client)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    recorder.respond = refuse
    sid = send(client, StatusCallback=CALLBACK).json()["sid"]
    [stored] = wait_for(lambda: [m for m in messages(client) if len(m["callbacks"]) == 2])
    assert stored["sid"] == sid and stored["status"] == "delivered"
    assert [c["error"] is not None for c in stored["callbacks"]] == [True, True]
    assert "status callback" in caplog.text
    assert send(client).status_code == 201


# --- inbound (the prospect types) ---------------------------------------------------


def test_inbound_posts_a_signed_twilio_whatsapp_webhook(
    client: TestClient, recorder: Recorder
) -> None:
    """A typed message becomes a form POST to the webhook that RequestValidator accepts."""
    response = client.post(
        "/sandbox/api/inbound",
        json={"from": PROSPECT, "body": "Hi, I'd like to invest", "profile_name": "Test Prospect"},
    )
    assert response.status_code == 200
    result = response.json()
    assert result["webhook_status"] == 200 and result["webhook_error"] is None
    [post] = recorder.posts_to(WEBHOOK)
    params, sid = post["params"], result["message_sid"]
    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    assert params == {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT,
        "From": PROSPECT,
        "To": BUSINESS,
        "Body": "Hi, I'd like to invest",
        "NumMedia": "0",
        "NumSegments": "1",
        "ProfileName": "Test Prospect",
        "WaId": "12025550101",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
        "ReferralNumMedia": "0",
        "MessageType": "text",
    }
    assert post["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert RequestValidator(TOKEN).validate(WEBHOOK, params, post["signature"])
    assert not RequestValidator("other-token").validate(WEBHOOK, params, post["signature"])
    [stored] = messages(client)
    assert stored["id"] == result["id"]
    assert (stored["direction"], stored["webhook_status"]) == ("inbound", 200)


def test_inbound_defaults_to_the_default_prospect(client: TestClient, recorder: Recorder) -> None:
    """Without "from", the message comes from the configured default prospect."""
    client.post("/sandbox/api/inbound", json={"body": "hello"})
    [post] = recorder.posts_to(WEBHOOK)
    assert post["params"]["From"] == PROSPECT
    assert "ProfileName" not in post["params"]


def test_inbound_redelivery_reuses_the_message_sid(client: TestClient, recorder: Recorder) -> None:
    """Passing message_sid redelivers the same MessageSid without a second transcript entry."""
    first = client.post("/sandbox/api/inbound", json={"from": PROSPECT, "body": "hi"}).json()
    again = client.post(
        "/sandbox/api/inbound",
        json={"from": PROSPECT, "body": "hi", "message_sid": first["message_sid"]},
    ).json()
    assert (again["id"], again["message_sid"], again["redelivery"]) == (
        first["id"],
        first["message_sid"],
        True,
    )
    posts = recorder.posts_to(WEBHOOK)
    assert [p["params"]["MessageSid"] for p in posts] == [first["message_sid"]] * 2
    [stored] = messages(client)
    assert stored["webhook_attempts"] == 2


def test_inbound_reports_an_unreachable_webhook(client: TestClient, recorder: Recorder) -> None:
    """When gangway is unreachable the message is kept, webhook_status is null with an error."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    recorder.respond = refuse
    result = client.post("/sandbox/api/inbound", json={"body": "anyone there?"}).json()
    assert result["webhook_status"] is None
    assert "ConnectError" in result["webhook_error"]
    assert messages(client)[0]["webhook_error"] == result["webhook_error"]


def test_inbound_reports_a_webhook_error_status(client: TestClient, recorder: Recorder) -> None:
    """gangway answering 403 (e.g. a bad signature) is reported with its status."""
    recorder.respond = lambda request: httpx.Response(403)
    result = client.post("/sandbox/api/inbound", json={"body": "hi"}).json()
    assert result["webhook_status"] == 403
    assert "403" in result["webhook_error"]


def test_twiml_message_in_the_webhook_answer_becomes_a_reply(
    client: TestClient, recorder: Recorder
) -> None:
    """A <Message> in gangway's TwiML answer is sent to the prospect, as Twilio would."""
    recorder.respond = lambda request: httpx.Response(
        200,
        text="<Response><Message>Thanks!</Message></Response>",
        headers={"Content-Type": "text/xml"},
    )
    client.post("/sandbox/api/inbound", json={"body": "hi"})
    inbound, reply = messages(client)
    assert inbound["body"] == "hi"
    assert (reply["direction"], reply["twilio_direction"]) == ("outbound", "outbound-reply")
    assert (reply["to"], reply["body"]) == (PROSPECT, "Thanks!")


@pytest.mark.parametrize(
    "payload",
    [
        {"body": ""},
        {"from": "+12025550101", "body": "hi"},
        {"body": "hi", "message_sid": "SMxyz"},
        {"body": "hi", "unexpected": 1},
    ],
)
def test_invalid_inbound_is_rejected(client: TestClient, recorder: Recorder, payload: Any) -> None:
    """Inbound needs a body and a whatsapp:+E164 sender; nothing is posted otherwise."""
    assert client.post("/sandbox/api/inbound", json=payload).status_code == 422
    assert recorder.requests == []


# --- chat JSON API and page ---------------------------------------------------------


def test_messages_api_filters_by_after_and_number(client: TestClient) -> None:
    """GET /sandbox/api/messages returns messages in order, after an id and for one prospect."""
    a = client.post("/sandbox/api/inbound", json={"from": PROSPECT, "body": "a"}).json()["id"]
    send(client, Body="b")
    client.post("/sandbox/api/inbound", json={"from": OTHER, "body": "c"})
    send(client, To=OTHER, Body="d")
    assert [m["body"] for m in messages(client)] == ["a", "b", "c", "d"]
    assert [m["body"] for m in messages(client, after=a)] == ["b", "c", "d"]
    assert [m["body"] for m in messages(client, number=PROSPECT)] == ["a", "b"]
    assert [m["direction"] for m in messages(client, number=OTHER)] == ["inbound", "outbound"]
    keys = {"id", "sid", "direction", "from", "to", "body", "status", "error_code", "created_at"}
    assert keys <= set(messages(client)[0])


def test_messages_api_changed_after_returns_status_updates(client: TestClient) -> None:
    """changed_after=<rev> returns messages whose status changed since, for the page's polling."""
    prospect_writes(client)
    sid = send(client).json()["sid"]
    wait_for(lambda: statuses_of(client, sid) == "delivered")
    rev = client.get("/sandbox/api/messages").json()["rev"]
    unchanged = client.get("/sandbox/api/messages", params={"changed_after": rev}).json()
    assert unchanged["messages"] == []
    client.post("/sandbox/api/faults", json={"delivery": "failed", "code": 63016})
    other = send(client).json()["sid"]
    wait_for(lambda: statuses_of(client, other) == "failed")
    changed = client.get("/sandbox/api/messages", params={"changed_after": rev}).json()["messages"]
    assert [m["sid"] for m in changed] == [other]
    assert changed[0]["error_code"] == 63016


def test_clearing_messages_empties_the_store(client: TestClient) -> None:
    """DELETE /sandbox/api/messages forgets every message."""
    send(client)
    assert client.delete("/sandbox/api/messages").status_code == 200
    assert messages(client) == []
    assert client.get(MESSAGES, auth=(ACCOUNT, TOKEN)).json()["messages"] == []


def test_chat_page_has_stable_test_ids_and_defaults(client: TestClient) -> None:
    """The chat page renders its inputs, transcript and the prefilled prospect number."""
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "gangway WhatsApp sandbox" in html
    for testid in ("chat-input", "chat-send", "transcript", "prospect-number", "profile-name"):
        assert f'data-testid="{testid}"' in html
    assert f'value="{PROSPECT}"' in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # no external assets
    assert client.get("/sandbox/static/chat.js").status_code == 200
    assert client.get("/sandbox/static/chat.css").status_code == 200


def test_chat_script_never_writes_message_text_as_html(client: TestClient) -> None:
    """The page's script renders message text with textContent, never innerHTML."""
    script = client.get("/sandbox/static/chat.js").text
    assert "textContent" in script
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script


def test_healthz(client: TestClient) -> None:
    """GET /sandbox/healthz answers ok."""
    assert client.get("/sandbox/healthz").json() == {"ok": True}


def test_each_app_has_its_own_state(recorder: Recorder) -> None:
    """Two sandbox apps share no messages: all state hangs off the app."""
    config = SandboxConfig(ACCOUNT, TOKEN, WEBHOOK, status_delay_seconds=0.0)
    transport = httpx.MockTransport(recorder.handle)
    one = TestClient(create_app(config, webhook_transport=transport, callback_transport=transport))
    two = TestClient(create_app(config, webhook_transport=transport, callback_transport=transport))
    assert send(one).status_code == 201
    assert len(messages(one)) == 1
    assert messages(two) == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"business_number": "+12025550100"},
        {"default_prospect": "whatsapp:12025550101"},
        {"auth_token": ""},
        {"status_delay_seconds": -1.0},
    ],
)
def test_config_rejects_malformed_values(overrides: dict[str, Any]) -> None:
    """SandboxConfig refuses numbers that are not whatsapp:+E164, empty secrets, negative delays."""
    values: dict[str, Any] = {"account_sid": ACCOUNT, "auth_token": TOKEN, "webhook_url": WEBHOOK}
    values.update(overrides)
    with pytest.raises(ValueError):
        SandboxConfig(**values)


# --- Content API, quick replies, media ------------------------------------------------

QUICK_REPLY = {
    "friendly_name": "consent_en_0001",
    "language": "en",
    "variables": {"1": "sample"},
    "types": {
        "twilio/quick-reply": {
            "body": "{{1}}",
            "actions": [
                {"type": "QUICK_REPLY", "title": "Yes, I agree", "id": "agree"},
                {"type": "QUICK_REPLY", "title": "No", "id": "decline"},
            ],
        },
        "twilio/text": {"body": "{{1}}"},
    },
}


def create_content(client: TestClient, payload: dict[str, Any] = QUICK_REPLY) -> httpx.Response:
    return client.post("/v1/Content", json=payload, auth=(ACCOUNT, TOKEN))


def quick_reply_with(**changes: Any) -> dict[str, Any]:
    quick = {**QUICK_REPLY["types"]["twilio/quick-reply"], **changes}
    return {**QUICK_REPLY, "types": {"twilio/quick-reply": quick}}


def test_content_create_fetch_and_delete_in_twilio_shape(client: TestClient) -> None:
    """A created template is fetched as Twilio's Content resource; deleting it makes it 404."""
    created = create_content(client)
    assert created.status_code == 201
    resource = created.json()
    sid = resource["sid"]
    assert re.fullmatch(r"HX[0-9a-f]{32}", sid)
    assert resource["account_sid"] == ACCOUNT
    assert resource["types"] == QUICK_REPLY["types"]
    assert resource["url"] == f"http://testserver/v1/Content/{sid}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", resource["date_created"])
    assert client.get(f"/v1/Content/{sid}", auth=(ACCOUNT, TOKEN)).json() == resource
    assert client.delete(f"/v1/Content/{sid}", auth=(ACCOUNT, TOKEN)).status_code == 204
    gone = client.get(f"/v1/Content/{sid}", auth=(ACCOUNT, TOKEN))
    assert (gone.status_code, gone.json()["code"]) == (404, 20404)
    assert client.delete(f"/v1/Content/{sid}", auth=(ACCOUNT, TOKEN)).status_code == 404


def test_content_api_needs_the_account_credentials(client: TestClient) -> None:
    """Without valid Basic auth the Content API answers Twilio's 401 (20003)."""
    denied = client.post("/v1/Content", json=QUICK_REPLY, auth=(ACCOUNT, "wrong"))
    assert (denied.status_code, denied.json()["code"]) == (401, 20003)
    assert client.get("/v1/Content").status_code == 401


def test_content_list_pages_with_next_page_url(client: TestClient) -> None:
    """The list is paged with meta.next_page_url until the last page, which has none."""
    sids = [
        create_content(client, {**QUICK_REPLY, "friendly_name": f"t{i}"}).json()["sid"]
        for i in range(3)
    ]
    page = client.get("/v1/Content", params={"PageSize": 2}, auth=(ACCOUNT, TOKEN)).json()
    assert page["meta"]["key"] == "contents"
    pages = [page]
    while page["meta"]["next_page_url"] is not None:
        page = client.get(page["meta"]["next_page_url"], auth=(ACCOUNT, TOKEN)).json()
        pages.append(page)
    listed = [c["sid"] for p in pages for c in p["contents"]]
    # The approved templates the sandbox starts with come first, oldest first.
    assert listed == [sid for sid, *_ in APPROVED] + sids
    assert [len(p["contents"]) for p in pages] == [2] * (len(pages) - 1) + [1]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            quick_reply_with(actions=[{"title": f"B{i}", "id": f"b{i}"} for i in range(4)]),
            "at most 3",
        ),
        (quick_reply_with(actions=[{"title": "x" * 21, "id": "long"}]), "1-20 characters"),
        (quick_reply_with(body="x" * 1025), "exceeds 1024"),
        (quick_reply_with(actions=[]), "list of actions"),
        ({**QUICK_REPLY, "language": ""}, "language"),
        ({**QUICK_REPLY, "types": {"twilio/card": {"body": "x"}}}, "supports only"),
        ({k: v for k, v in QUICK_REPLY.items() if k != "friendly_name"}, "friendly_name"),
    ],
)
def test_invalid_templates_are_400_with_a_clear_reason(
    client: TestClient, payload: dict[str, Any], reason: str
) -> None:
    """Limits WhatsApp enforces in a session (3 buttons, 20-char titles, 1024-char body) are 400."""
    response = create_content(client, payload)
    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert reason in response.json()["message"]


def test_a_template_message_stores_the_rendered_body_and_buttons(client: TestClient) -> None:
    """Messages.create with ContentSid renders {{1}}; the message answers that as its body."""
    content_sid = create_content(client).json()["sid"]
    text = "Our terms: https://example.com/terms/v3\nDo you agree?"
    response = send(
        client, Body=None, ContentSid=content_sid, ContentVariables=json.dumps({"1": text})
    )
    assert response.status_code == 201
    assert response.json()["body"] == text
    [stored] = messages(client)
    assert stored["body"] == text
    assert stored["buttons"] == [
        {"title": "Yes, I agree", "id": "agree"},
        {"title": "No", "id": "decline"},
    ]
    assert stored["button_tapped"] is None


def test_an_unknown_content_sid_is_21655_and_stores_nothing(client: TestClient) -> None:
    """A well-formed but unknown ContentSid is refused like Twilio does."""
    response = send(client, Body=None, ContentSid="HX" + "0" * 32)
    assert (response.status_code, response.json()["code"]) == (400, 21655)
    assert messages(client) == []


def tap(client: TestClient, sid: str, button_id: str) -> httpx.Response:
    return client.post(
        "/sandbox/api/inbound", json={"button": {"message_sid": sid, "id": button_id}}
    )


def test_tapping_a_quick_reply_posts_button_text_and_payload(
    client: TestClient, recorder: Recorder
) -> None:
    """A tap is a signed webhook with Body and ButtonText = title, ButtonPayload = id."""
    content_sid = create_content(client).json()["sid"]
    sid = send(
        client, Body=None, ContentSid=content_sid, ContentVariables='{"1": "Agree?"}'
    ).json()["sid"]
    assert tap(client, sid, "agree").status_code == 200
    [post] = recorder.posts_to(WEBHOOK)
    params = post["params"]
    assert (params["Body"], params["ButtonText"], params["ButtonPayload"]) == (
        "Yes, I agree",
        "Yes, I agree",
        "agree",
    )
    assert params["OriginalRepliedMessageSid"] == sid
    assert params["MessageType"] == "button"
    assert RequestValidator(TOKEN).validate(WEBHOOK, params, post["signature"])
    [original] = [m for m in messages(client) if m["sid"] == sid]
    assert original["button_tapped"] == "agree"


def test_a_second_tap_or_an_unknown_button_is_refused(
    client: TestClient, recorder: Recorder
) -> None:
    """Buttons lock after one tap; ids the message does not have are refused."""
    content_sid = create_content(client).json()["sid"]
    sid = send(client, Body=None, ContentSid=content_sid).json()["sid"]
    assert tap(client, sid, "nope").status_code == 409
    assert tap(client, sid, "agree").status_code == 200
    assert tap(client, sid, "decline").status_code == 409
    assert tap(client, "SM" + "f" * 32, "agree").status_code == 409
    assert len(recorder.posts_to(WEBHOOK)) == 1


def upload(data: bytes, content_type: str, filename: str | None = None) -> dict[str, Any]:
    return {
        "content_type": content_type,
        "data": base64.b64encode(data).decode(),
        "filename": filename,
    }


def test_media_are_announced_with_twilio_urls_and_served_behind_auth(
    client: TestClient, recorder: Recorder
) -> None:
    """An attached file gives NumMedia/MediaUrl0/MediaContentType0; the URL needs Basic auth
    and redirects (307) to a CDN URL that serves the bytes without auth."""
    pdf = b"%PDF-1.4 invented statement"
    sent = client.post(
        "/sandbox/api/inbound",
        json={"body": "my document", "media": [upload(pdf, "application/pdf", "doc.pdf")]},
    ).json()
    assert sent["message_sid"].startswith("MM")
    [post] = recorder.posts_to(WEBHOOK)
    params = post["params"]
    assert (params["NumMedia"], params["MediaContentType0"], params["Body"]) == (
        "1",
        "application/pdf",
        "my document",
    )
    assert params["MessageType"] == "document"
    url = params["MediaUrl0"]
    assert re.fullmatch(
        rf"http://testserver/2010-04-01/Accounts/{ACCOUNT}/Messages/{sent['message_sid']}"
        r"/Media/ME[0-9a-f]{32}",
        url,
    )
    assert RequestValidator(TOKEN).validate(WEBHOOK, params, post["signature"])
    assert client.get(url, follow_redirects=False).status_code == 401
    assert client.get(url, auth=(ACCOUNT, "wrong"), follow_redirects=False).status_code == 401
    redirect = client.get(url, auth=(ACCOUNT, TOKEN), follow_redirects=False)
    assert redirect.status_code == 307
    cdn = redirect.headers["Location"]
    served = client.get(cdn)
    assert (served.content, served.headers["Content-Type"]) == (pdf, "application/pdf")
    leaked = client.get(cdn, auth=(ACCOUNT, TOKEN))
    assert leaked.status_code == 400
    missing = client.get(url[:-4] + "0000", auth=(ACCOUNT, TOKEN), follow_redirects=False)
    assert (missing.status_code, missing.json()["code"]) == (404, 20404)


def test_a_shared_location_carries_latitude_longitude_and_label(
    client: TestClient, recorder: Recorder
) -> None:
    """A location is Latitude/Longitude/Address/Label parameters, no media."""
    location = {
        "latitude": 48.8584,
        "longitude": 2.2945,
        "label": "Example Place",
        "address": "1 Example Avenue",
    }
    assert client.post("/sandbox/api/inbound", json={"location": location}).status_code == 200
    [post] = recorder.posts_to(WEBHOOK)
    params = post["params"]
    assert {k: params[k] for k in ("Latitude", "Longitude", "Label", "Address", "NumMedia")} == {
        "Latitude": "48.8584",
        "Longitude": "2.2945",
        "Label": "Example Place",
        "Address": "1 Example Avenue",
        "NumMedia": "0",
    }
    assert params["MessageType"] == "location"
    [stored] = messages(client)
    assert stored["location"]["Label"] == "Example Place"


def test_a_contact_card_is_a_vcard_media_item(client: TestClient, recorder: Recorder) -> None:
    """A shared contact arrives as one text/vcard media item the page can show."""
    vcard = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Alex Example\r\nTEL:+12025550142\r\nEND:VCARD\r\n"
    client.post("/sandbox/api/inbound", json={"media": [upload(vcard, "text/vcard", "a.vcf")]})
    [post] = recorder.posts_to(WEBHOOK)
    assert (post["params"]["MediaContentType0"], post["params"]["Body"]) == ("text/vcard", "")
    [stored] = messages(client)
    [item] = stored["media"]
    assert item["content_type"] == "text/vcard"
    assert client.get(item["preview"]).content == vcard


@pytest.mark.parametrize(
    "payload",
    [
        {"media": [{"content_type": "image/png", "data": "not base64!"}]},
        {"media": [{"content_type": "not a type", "data": "AAAA"}]},
        {"location": {"latitude": 91, "longitude": 0}},
        {
            "button": {"message_sid": "SM" + "0" * 32, "id": "x"},
            "media": [upload(b"x", "image/png")],
        },
    ],
)
def test_invalid_media_location_or_button_is_rejected(
    client: TestClient, recorder: Recorder, payload: dict[str, Any]
) -> None:
    """Bad base64, a malformed type, impossible coordinates or mixed kinds post nothing."""
    assert client.post("/sandbox/api/inbound", json=payload).status_code == 422
    assert recorder.requests == []
    assert messages(client) == []

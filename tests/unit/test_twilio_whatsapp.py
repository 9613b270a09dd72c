"""The Twilio WhatsApp adapter against a small fake of Twilio's Messages API."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import parse_qs, urlencode

import httpx
import pytest

from bot.service_layer.errors import PermanentError, TransientError
from integrations.twilio_whatsapp import (
    HttpxTwilioHttpClient,
    OutcomeUnknownError,
    TwilioWhatsApp,
)

SID = "AC" + "0" * 32
TOKEN = "secret-token"
OURS = "whatsapp:+15550001111"
PROSPECT = "whatsapp:+447700900123"
NOW = datetime(2024, 3, 5, 12, 0, 0, tzinfo=UTC)
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeTwilio:
    """Answers like api.twilio.com's Messages resource and records what it was sent."""

    def __init__(self, page_size: int = 50, *, filters_from: bool = True) -> None:
        self.requests: list[httpx.Request] = []
        self.messages: list[dict[str, object]] = []
        self.page_size = page_size
        self.filters_from = filters_from  # a lax Twilio-compatible API may not

    def add(self, *, body: str, created: datetime, to: str = PROSPECT, from_: str = OURS) -> str:
        sid = f"SM{len(self.messages):032d}"
        self.messages.append(
            {
                "sid": sid,
                "account_sid": SID,
                "to": to,
                "from": from_,
                "body": body,
                "status": "queued",
                "date_created": format_datetime(created),
                "date_sent": format_datetime(created),
                "direction": "outbound-api",
            }
        )
        return sid

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return httpx.Response(401, json={"code": 20003, "message": "Authenticate"})
        path = request.url.path
        if request.method == "POST" and path == MESSAGES + ".json":
            form = parse_qs(request.content.decode())
            # A template message comes back with an empty body here, as Twilio's does
            # when a Messaging Service renders it later.
            sid = self.add(body=form.get("Body", [""])[0], created=NOW, to=form["To"][0])
            return httpx.Response(201, json=self.messages[-1] | {"sid": sid})
        if request.method == "GET" and path == MESSAGES + ".json":
            return self._page(request)
        if request.method == "GET" and path.startswith(MESSAGES + "/"):
            sid = path.removeprefix(MESSAGES + "/").removesuffix(".json")
            found = [m for m in self.messages if m["sid"] == sid]
            if found:
                return httpx.Response(200, json=found[0] | {"status": "delivered"})
            return httpx.Response(404, json={"code": 20404, "message": "Not found"})
        return httpx.Response(404, json={"code": 20404, "message": "Not found"})

    def _page(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params
        chosen = [
            m
            for m in reversed(self.messages)  # newest first, as Twilio lists them
            if m["to"] == query.get("To")
            and (m["from"] == query.get("From") or not self.filters_from)
        ]
        page = int(query.get("Page", "0"))
        rows = chosen[page * self.page_size : (page + 1) * self.page_size]
        more = (page + 1) * self.page_size < len(chosen)
        following = urlencode({"To": PROSPECT, "From": OURS, "Page": page + 1})
        next_uri = f"{MESSAGES}.json?{following}" if more else None
        return httpx.Response(
            200,
            json={
                "messages": rows,
                "next_page_uri": next_uri,
                "previous_page_uri": None,
                "first_page_uri": f"{MESSAGES}.json?Page=0",
                "page": page,
                "page_size": self.page_size,
                "start": 0,
                "end": len(rows),
                "uri": f"{MESSAGES}.json",
            },
        )


def whatsapp(handler: Handler, **kwargs: object) -> TwilioWhatsApp:
    options: dict[str, object] = {"base_url": "http://127.0.0.1:8001"} | kwargs
    return TwilioWhatsApp(
        account_sid=SID,
        auth_token=TOKEN,
        from_number=OURS,
        http=httpx.Client(transport=httpx.MockTransport(handler)),
        **options,  # type: ignore[arg-type]
    )


def answering(status: int, body: object) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    return handler


def raising(error: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    return handler


# -- sending ------------------------------------------------------------------------


def test_send_posts_form_to_rewritten_host_with_basic_auth() -> None:
    """send() POSTs To/From/Body/StatusCallback to base_url's host, Twilio's path, basic auth."""
    fake = FakeTwilio()
    wa = whatsapp(fake, status_callback_url="https://gw.example/twilio/status")

    sent = wa.send(to=PROSPECT, body="Hello there")

    (request,) = fake.requests
    assert (request.url.scheme, request.url.host, request.url.port) == ("http", "127.0.0.1", 8001)
    assert request.url.path == MESSAGES + ".json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "To": [PROSPECT],
        "From": [OURS],
        "Body": ["Hello there"],
        "StatusCallback": ["https://gw.example/twilio/status"],
    }
    assert sent.sid == fake.messages[0]["sid"]
    assert (sent.status, sent.to, sent.body, sent.date_created) == (
        "queued",
        PROSPECT,
        "Hello there",
        NOW,
    )


def test_send_without_status_callback_sends_none() -> None:
    """No StatusCallback field is sent when none is configured."""
    fake = FakeTwilio()
    whatsapp(fake).send(to=PROSPECT, body="Hi")
    assert "StatusCallback" not in parse_qs(fake.requests[0].content.decode())


def test_send_with_a_template_posts_content_sid_and_variables_instead_of_body() -> None:
    """A quick-reply send carries ContentSid and ContentVariables (JSON), not Body."""
    fake = FakeTwilio()
    content_sid = "HX" + "d" * 32
    shown = "Our terms: https://example.com/terms/v3\nDo you agree?"

    sent = whatsapp(fake).send(
        to=PROSPECT, body=shown, content_sid=content_sid, content_variables={"1": shown}
    )

    (request,) = fake.requests
    form = parse_qs(request.content.decode())
    assert set(form) == {"To", "From", "ContentSid", "ContentVariables"}
    assert form["ContentSid"] == [content_sid]
    assert json.loads(form["ContentVariables"][0]) == {"1": shown}
    assert sent.body == shown  # Twilio's body was empty: the rendered text we passed


def test_send_with_a_template_keeps_twilios_rendered_body() -> None:
    """When Twilio answers with the rendered body, that is what send() reports."""

    def rendered(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            201,
            json={"sid": "SM" + "e" * 32, "status": "queued", "to": PROSPECT, "body": "Agree?"},
        )

    sent = whatsapp(rendered).send(to=PROSPECT, body="ignored", content_sid="HX" + "d" * 32)
    assert sent.body == "Agree?"


def test_base_url_path_prefix_is_kept() -> None:
    """A base_url with a path puts Twilio's path under it."""
    fake = FakeTwilio()

    def prefixed(request: httpx.Request) -> httpx.Response:
        assert request.url.path.startswith("/twilio/")
        stripped = request.url.copy_with(path=request.url.path.removeprefix("/twilio"))
        return fake(
            httpx.Request(
                request.method, stripped, headers=request.headers, content=request.content
            )
        )

    sent = whatsapp(prefixed, base_url="http://sandbox.test/twilio/").send(to=PROSPECT, body="x")
    assert sent.sid == fake.messages[0]["sid"]


def test_rewrite_touches_only_twilio_hosts() -> None:
    """Only https://twilio.com and its subdomains move to base_url; query strings survive."""
    client = HttpxTwilioHttpClient("http://127.0.0.1:8001")
    assert (
        client.rewrite("https://messaging.twilio.com/v1/Services?PageSize=5")
        == "http://127.0.0.1:8001/v1/Services?PageSize=5"
    )
    assert client.rewrite("https://evil-twilio.com/x") == "https://evil-twilio.com/x"
    assert client.rewrite("https://example.com/x") == "https://example.com/x"


def test_twilio_base_url_means_no_rewriting() -> None:
    """With Twilio's own base URL, lookups.twilio.com is not sent to api.twilio.com."""
    client = HttpxTwilioHttpClient("https://api.twilio.com")
    assert client.rewrite("https://lookups.twilio.com/v2/x") == "https://lookups.twilio.com/v2/x"


def test_list_values_repeat_the_form_key_and_none_is_dropped() -> None:
    """MediaUrl=[a, b] is sent as two MediaUrl fields, like requests does; None is left out."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={})

    client = HttpxTwilioHttpClient(
        "http://127.0.0.1:8001", http=httpx.Client(transport=httpx.MockTransport(handler))
    )
    answer = client.request(
        "post",
        "https://api.twilio.com/2010-04-01/x.json",
        params={"Tag": ["a", "b"]},
        data={"MediaUrl": ["https://m/1", "https://m/2"], "Body": "hi", "Skip": None},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=("user", "pass"),
    )

    assert answer.status_code == 201
    assert seen[0].url.params.get_list("Tag") == ["a", "b"]
    assert parse_qs(seen[0].content.decode()) == {
        "MediaUrl": ["https://m/1", "https://m/2"],
        "Body": ["hi"],
    }
    assert seen[0].headers["Authorization"] == "Basic " + base64.b64encode(b"user:pass").decode()


# -- errors ---------------------------------------------------------------------------


def test_rate_limit_is_transient_with_twilio_code() -> None:
    """A 429 with Twilio's error JSON is a plain TransientError carrying code 20429."""
    body = {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    with pytest.raises(TransientError) as caught:
        whatsapp(answering(429, body)).send(to=PROSPECT, body="Hi")
    assert (caught.value.provider, caught.value.status, caught.value.code) == ("twilio", 429, 20429)
    assert not isinstance(caught.value, OutcomeUnknownError)


def answering_with(status: int, body: object, headers: dict[str, str]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


RATE_LIMITED = {"code": 20429, "message": "Too Many Requests", "status": 429}


def test_a_429s_retry_after_in_seconds_is_on_the_error() -> None:
    """Twilio's "Retry-After: 7" reaches the service layer as the error's retry_after."""
    with pytest.raises(TransientError) as caught:
        whatsapp(answering_with(429, RATE_LIMITED, {"Retry-After": "7"})).send(
            to=PROSPECT, body="Hi"
        )
    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)


def test_a_retry_after_date_counts_from_twilios_own_date() -> None:
    """An HTTP-date Retry-After is measured from the answer's Date, not our clock."""
    headers = {
        "Date": format_datetime(NOW, usegmt=True),
        "Retry-After": format_datetime(NOW + timedelta(seconds=30), usegmt=True),
    }
    with pytest.raises(TransientError) as caught:
        whatsapp(answering_with(429, RATE_LIMITED, headers)).fetch("SM1")
    assert caught.value.retry_after == 30.0


def test_a_503_on_a_send_stays_ambiguous_and_carries_its_retry_after() -> None:
    """Unavailable: the send may still have been taken, and Twilio says when to come back."""
    body = {"code": 20503, "message": "Service Unavailable", "status": 503}
    with pytest.raises(OutcomeUnknownError) as caught:
        whatsapp(answering_with(503, body, {"Retry-After": "12"})).send(to=PROSPECT, body="Hi")
    assert caught.value.ambiguous and caught.value.retry_after == 12.0


def test_a_retry_after_is_not_carried_over_to_a_later_error() -> None:
    """A 500 without Retry-After after a 429 with one carries none of the 429's."""
    answers = iter(
        [
            httpx.Response(429, json=RATE_LIMITED, headers={"Retry-After": "9"}),
            httpx.Response(500, json={"code": 20500, "message": "Internal", "status": 500}),
        ]
    )
    client = whatsapp(lambda request: next(answers))
    with pytest.raises(TransientError):
        client.fetch("SM1")
    with pytest.raises(TransientError) as caught:
        client.fetch("SM1")
    assert (caught.value.status, caught.value.retry_after) == (500, None)


def test_a_list_refused_with_retry_after_carries_it() -> None:
    """A 429 while listing (twilio raises a bare TwilioException there) carries it too."""
    with pytest.raises(TransientError) as caught:
        whatsapp(answering_with(429, RATE_LIMITED, {"Retry-After": "4"})).find_sent(
            to=PROSPECT, body="x", since=NOW
        )
    assert caught.value.retry_after == 4.0


@pytest.mark.parametrize("code", [21610, 63016, 21211])
def test_client_errors_are_permanent_with_twilio_code(code: int) -> None:
    """A 400 (opted out, outside 24 h, invalid number) is a PermanentError with its code."""
    body = {"code": code, "message": "No", "more_info": "", "status": 400}
    with pytest.raises(PermanentError) as caught:
        whatsapp(answering(400, body)).send(to=PROSPECT, body="Hi")
    assert (caught.value.status, caught.value.code) == (400, code)
    assert "No" in caught.value.message


def test_problem_details_error_is_mapped() -> None:
    """An RFC 9457 body (TwilioServiceException) maps by status and code too."""
    body = {
        "type": "https://t/e",
        "title": "Invalid",
        "status": 400,
        "code": 21211,
        "detail": "bad To",
    }
    with pytest.raises(PermanentError) as caught:
        whatsapp(answering(400, body)).send(to=PROSPECT, body="Hi")
    assert (caught.value.status, caught.value.code) == (400, 21211)
    assert "bad To" in caught.value.message


def test_server_error_on_send_is_outcome_unknown() -> None:
    """A 5xx answer to a send may hide a created message: OutcomeUnknownError, no code."""
    with pytest.raises(OutcomeUnknownError) as caught:
        whatsapp(answering(502, "<html>Bad gateway</html>")).send(to=PROSPECT, body="Hi")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (502, None, True)
    assert caught.value.ambiguous


def test_connect_error_is_transient_and_not_ambiguous() -> None:
    """A refused connection proves nothing was sent: a TransientError that is not ambiguous."""
    with pytest.raises(TransientError) as caught:
        whatsapp(raising(httpx.ConnectError)).send(to=PROSPECT, body="Hi")
    assert caught.value.provider == "twilio"
    assert not caught.value.ambiguous


def test_read_timeout_on_send_is_ambiguous() -> None:
    """A send that timed out waiting for the answer is an OutcomeUnknownError."""
    with pytest.raises(OutcomeUnknownError) as caught:
        whatsapp(raising(httpx.ReadTimeout)).send(to=PROSPECT, body="Hi")
    assert caught.value.retryable and caught.value.ambiguous


def test_read_timeout_on_fetch_is_plain_transient() -> None:
    """A GET that timed out changed nothing: a TransientError that is not ambiguous."""
    with pytest.raises(TransientError) as caught:
        whatsapp(raising(httpx.ReadTimeout)).fetch("SM1")
    assert not isinstance(caught.value, OutcomeUnknownError)


def test_send_accepted_without_json_is_outcome_unknown() -> None:
    """A 201 whose body is not JSON was accepted but tells us nothing: OutcomeUnknownError."""
    with pytest.raises(OutcomeUnknownError):
        whatsapp(answering(201, "<html>ok</html>")).send(to=PROSPECT, body="Hi")


# -- fetch and find_sent ------------------------------------------------------------


def test_fetch_returns_current_state() -> None:
    """fetch() GETs the message by sid from the rewritten host."""
    fake = FakeTwilio()
    sid = fake.add(body="Hi", created=NOW)
    fetched = whatsapp(fake).fetch(sid)
    assert (fetched.sid, fetched.status, fetched.body) == (sid, "delivered", "Hi")
    assert fake.requests[0].url.host == "127.0.0.1"


def test_find_sent_finds_a_send_made_before_a_crash() -> None:
    """A message sent by send() is found again by find_sent with the same body."""
    fake = FakeTwilio()
    wa = whatsapp(fake)
    sent = wa.send(to=PROSPECT, body="Your invite")

    found = wa.find_sent(to=PROSPECT, body="Your invite", since=NOW - timedelta(seconds=5))

    assert found == sent
    query = fake.requests[-1].url.params
    assert (query["To"], query["From"]) == (PROSPECT, OURS)
    # No DateSent filter: a message still queued has no send date and must be found.
    assert "DateSent>" not in query


def test_find_sent_ignores_other_bodies_senders_and_older_messages() -> None:
    """Only our message with exactly that body, created since (less skew), counts."""
    fake = FakeTwilio()
    fake.add(body="Your invite!", created=NOW)
    fake.add(body="Your invite", created=NOW, from_="whatsapp:+15559999999")
    fake.add(body="Your invite", created=NOW - timedelta(hours=2))
    assert whatsapp(fake).find_sent(to=PROSPECT, body="Your invite", since=NOW) is None


def test_find_sent_checks_the_sender_itself() -> None:
    """Even if the API ignores the From filter, a message from another number is not ours."""
    fake = FakeTwilio(filters_from=False)
    fake.add(body="Your invite", created=NOW, from_="whatsapp:+15559999999")
    assert whatsapp(fake).find_sent(to=PROSPECT, body="Your invite", since=NOW) is None


def test_find_sent_allows_for_clock_skew() -> None:
    """A message stamped 30 s before `since` is found; one 5 minutes before is not."""
    fake = FakeTwilio()
    fake.add(body="old", created=NOW - timedelta(minutes=5))
    sid = fake.add(body="new", created=NOW - timedelta(seconds=30))
    wa = whatsapp(fake)
    assert wa.find_sent(to=PROSPECT, body="old", since=NOW) is None
    found = wa.find_sent(to=PROSPECT, body="new", since=NOW)
    assert found is not None and found.sid == sid


def test_find_sent_compares_in_utc() -> None:
    """A `since` in another zone is compared with Twilio's UTC creation times correctly."""
    fake = FakeTwilio()
    late = NOW.replace(hour=23, minute=30)
    sid = fake.add(body="late", created=late)
    since = late.astimezone(timezone(timedelta(hours=2)))  # already 6 March there
    found = whatsapp(fake).find_sent(to=PROSPECT, body="late", since=since)
    assert found is not None and found.sid == sid


def test_find_sent_follows_next_page_on_rewritten_host() -> None:
    """Next-page links (built on api.twilio.com by the client) also go to base_url."""
    fake = FakeTwilio(page_size=2)
    sid = fake.add(body="first", created=NOW)
    for n in range(3):
        fake.add(body=f"later {n}", created=NOW + timedelta(seconds=n + 1))
    found = whatsapp(fake).find_sent(to=PROSPECT, body="first", since=NOW)
    assert found is not None and found.sid == sid
    assert [r.url.params.get("Page") for r in fake.requests] == [None, "1"]
    assert {r.url.host for r in fake.requests} == {"127.0.0.1"}


def test_list_error_is_mapped_like_send_errors() -> None:
    """A 429 while listing (raised by twilio as a bare TwilioException) is transient, coded."""
    body = {"code": 20429, "message": "Too Many Requests", "status": 429}
    with pytest.raises(TransientError) as caught:
        whatsapp(answering(429, body)).find_sent(to=PROSPECT, body="x", since=NOW)
    assert (caught.value.status, caught.value.code) == (429, 20429)


def test_find_sent_requires_an_aware_since() -> None:
    """A naive `since` is refused rather than silently read as local or UTC time."""
    with pytest.raises(ValueError):
        whatsapp(FakeTwilio()).find_sent(to=PROSPECT, body="x", since=NOW.replace(tzinfo=None))


def test_bad_credentials_are_permanent() -> None:
    """A 401 from Twilio (wrong auth token) is a PermanentError."""
    wa = TwilioWhatsApp(
        account_sid=SID,
        auth_token="wrong",
        from_number=OURS,
        base_url="http://127.0.0.1:8001",
        http=httpx.Client(transport=httpx.MockTransport(FakeTwilio())),
    )
    with pytest.raises(PermanentError) as caught:
        wa.send(to=PROSPECT, body="Hi")
    assert (caught.value.status, caught.value.code) == (401, 20003)


def test_json_content_type_sends_a_json_body() -> None:
    """Requests twilio marks as application/json get a JSON body, not a form."""
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, json={})

    client = HttpxTwilioHttpClient(http=httpx.Client(transport=httpx.MockTransport(handler)))
    client.request(
        "POST",
        "https://content.twilio.com/v1/Content",
        data={"a": [1, 2]},
        headers={"Content-Type": "application/json"},
    )
    assert json.loads(seen[0]) == {"a": [1, 2]}

"""The Rasa client against a small fake of a Rasa 3.6 server's HTTP API."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from bot.service_layer.errors import PermanentError, TransientError
from bot.service_layer.ports import BotReply
from integrations.rasa import RasaClient
from tests.fakes.ports import RecordingMetrics

SENDER = "whatsapp:+447700900123"
TOKEN = "rasa-token"

Handler = Callable[[httpx.Request], httpx.Response]


def rasa_error(status: int, reason: str, message: str) -> httpx.Response:
    """The body rasa.server.ErrorResponse produces."""
    return httpx.Response(
        status,
        json={
            "version": "3.6.21",
            "status": "failure",
            "message": message,
            "reason": reason,
            "details": {},
            "help": None,
            "code": status,
        },
    )


NO_AGENT = rasa_error(
    409,
    "Conflict",
    "No agent loaded. To continue processing, a model of a trained agent needs to be loaded.",
)


class FakeRasa:
    """Answers like `rasa run --enable-api --auth-token rasa-token` with a model loaded."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "POST" and path == "/webhooks/rest/webhook":
            sent = json.loads(request.content)
            recipient = sent["sender"]
            return httpx.Response(
                200,
                json=[
                    {"recipient_id": recipient, "text": f"You said: {sent['message']}"},
                    {
                        "recipient_id": recipient,
                        "text": "Shall we continue?",
                        "buttons": [
                            {"title": "Yes", "payload": "/affirm"},
                            {"title": "No", "payload": "/deny"},
                        ],
                    },
                    {"recipient_id": recipient, "image": "https://img.example/a.png"},
                    {"recipient_id": recipient, "custom": {"kind": "handoff"}},
                ],
            )
        if request.url.params.get("token") != TOKEN:
            return rasa_error(401, "NotAuthenticated", "User is not authenticated.")
        if request.method == "POST" and path == "/model/parse":
            text = json.loads(request.content)["text"]
            intent = {"name": "greet", "confidence": 0.93}
            return httpx.Response(
                200,
                json={"text": text, "intent": intent, "entities": [], "intent_ranking": [intent]},
            )
        if request.method == "GET" and path == "/status":
            return httpx.Response(
                200,
                json={
                    "model_file": "models/m.tar.gz",
                    "model_id": "abc",
                    "num_active_training_jobs": 0,
                },
            )
        if request.method == "GET" and path.startswith("/conversations/"):
            sender = request.url.raw_path.decode().split("?")[0].split("/")[2]
            return httpx.Response(200, json={"sender_id": sender, "events": [], "slots": {}})
        if request.method == "GET" and path == "/version":
            return httpx.Response(
                200, json={"version": "3.6.21", "minimum_compatible_version": "3.6.21"}
            )
        return httpx.Response(404, text="Requested URL not found")


def rasa(handler: Handler, token: str | None = TOKEN) -> RasaClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return RasaClient("http://127.0.0.1:5005/", token=token, http=http)


def answering(response: httpx.Response) -> Handler:
    return lambda request: response


def raising(error: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    return handler


def test_send_message_posts_to_rest_channel_and_reads_replies() -> None:
    """send_message POSTs sender/message/metadata and turns each answer item into a BotReply."""
    fake = FakeRasa()
    replies = rasa(fake).send_message(SENDER, "hello", metadata={"message_sid": "SM1"})

    (request,) = fake.requests
    assert (request.method, request.url.path) == ("POST", "/webhooks/rest/webhook")
    assert json.loads(request.content) == {
        "sender": SENDER,
        "message": "hello",
        "metadata": {"message_sid": "SM1"},
    }
    assert replies == [
        BotReply(text="You said: hello"),
        BotReply(text="Shall we continue?", buttons=(("Yes", "/affirm"), ("No", "/deny"))),
        BotReply(image="https://img.example/a.png"),
        BotReply(custom={"kind": "handoff"}),
    ]


def test_token_goes_as_query_parameter_only_when_set() -> None:
    """The auth token is sent as ?token=, and no query string is sent without one."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"version": "3.6.21"})

    rasa(handler).version()
    rasa(handler, token=None).version()
    assert seen[0].url.params["token"] == TOKEN
    assert seen[1].url.query == b""


def test_empty_answer_is_no_replies() -> None:
    """An empty list (the bot said nothing, or no model is loaded) is no replies."""
    assert rasa(answering(httpx.Response(200, json=[]))).send_message(SENDER, "hi") == []


def test_attachment_only_item_is_dropped() -> None:
    """An item with none of text/image/buttons/custom (e.g. an attachment) is skipped."""
    body = [{"recipient_id": SENDER, "attachment": "file"}, {"recipient_id": SENDER, "text": "ok"}]
    replies = rasa(answering(httpx.Response(200, json=body))).send_message(SENDER, "hi")
    assert replies == [BotReply(text="ok")]


def test_parse_posts_text_and_returns_nlu_result() -> None:
    """parse() POSTs {"text"} to /model/parse and returns Rasa's intent and entities."""
    fake = FakeRasa()
    result = rasa(fake).parse("hi there")
    assert json.loads(fake.requests[0].content) == {"text": "hi there"}
    assert result["intent"]["name"] == "greet" and result["entities"] == []


def test_status_returns_loaded_model() -> None:
    """status() returns the loaded model's id."""
    assert rasa(FakeRasa()).status()["model_id"] == "abc"


def test_status_without_model_is_permanent_and_says_so() -> None:
    """Rasa's 409 "No agent loaded" on /status is a PermanentError naming the missing model."""
    with pytest.raises(PermanentError) as caught:
        rasa(answering(NO_AGENT)).status()
    assert (caught.value.provider, caught.value.status) == ("rasa", 409)
    assert "no model loaded" in caught.value.message


def test_not_ready_on_parse_is_transient() -> None:
    """The same 409 on other calls is transient (a model may be being replaced)."""
    with pytest.raises(TransientError) as caught:
        rasa(answering(NO_AGENT)).parse("hi")
    assert (caught.value.status, caught.value.code) == (409, "Conflict")


def test_tracker_puts_the_sender_in_the_path_unencoded() -> None:
    """Rasa (Sanic) does not percent-decode the path, so ':' and '+' go as they are."""
    fake = FakeRasa()
    tracker = rasa(fake).tracker(SENDER)
    assert fake.requests[0].url.raw_path.split(b"?")[0] == (
        b"/conversations/whatsapp:+447700900123/tracker"
    )
    assert tracker["sender_id"] == SENDER


def test_tracker_refuses_a_sender_that_needs_encoding() -> None:
    """A sender with characters that need percent-encoding is refused before any request."""
    fake = FakeRasa()
    with pytest.raises(PermanentError):
        rasa(fake).tracker("a b?c")
    assert fake.requests == []


def test_version_works() -> None:
    """version() returns Rasa's version."""
    assert rasa(FakeRasa()).version()["version"] == "3.6.21"


@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
def test_transport_errors_are_transient(error: type[httpx.TransportError]) -> None:
    """Connection refused, timeouts and dropped connections are TransientErrors."""
    with pytest.raises(TransientError) as caught:
        rasa(raising(error)).send_message(SENDER, "hi")
    assert caught.value.provider == "rasa" and caught.value.status is None


def test_server_error_is_transient() -> None:
    """A 500 from Rasa is a TransientError with the status."""
    response = rasa_error(500, "ParsingError", "An unexpected error occurred.")
    with pytest.raises(TransientError) as caught:
        rasa(answering(response)).parse("hi")
    assert (caught.value.status, caught.value.code) == (500, "ParsingError")


def test_a_busy_rasas_retry_after_is_on_the_error() -> None:
    """A 503 with Retry-After (a proxy in front of Rasa, say) tells the worker when to
    ask again."""
    response = httpx.Response(503, text="busy", headers={"Retry-After": "15"})
    with pytest.raises(TransientError) as caught:
        rasa(answering(response)).send_message("conv-1", "hi")
    assert (caught.value.status, caught.value.retry_after) == (503, 15.0)


def test_wrong_token_is_permanent_and_does_not_leak_it() -> None:
    """A 401 is a PermanentError pointing at the token, without repeating the token."""
    with pytest.raises(PermanentError) as caught:
        rasa(FakeRasa(), token="wrong-token").status()
    assert (caught.value.status, caught.value.code) == (401, "NotAuthenticated")
    assert "auth token" in caught.value.message and "wrong-token" not in caught.value.message


def test_missing_api_is_permanent_with_hint() -> None:
    """A 404 on an API route suggests starting Rasa with --enable-api."""
    with pytest.raises(PermanentError) as caught:
        rasa(answering(httpx.Response(404, text="Requested URL not found"))).parse("hi")
    assert caught.value.status == 404 and "--enable-api" in caught.value.message


def test_non_json_body_is_permanent_and_shows_it() -> None:
    """A 200 that is not JSON is a PermanentError that quotes what came back."""
    page = httpx.Response(
        200, text="<html>proxy login</html>", headers={"content-type": "text/html"}
    )
    with pytest.raises(PermanentError) as caught:
        rasa(answering(page)).send_message(SENDER, "hi")
    assert "not JSON" in caught.value.message and "proxy login" in caught.value.message


@pytest.mark.parametrize(
    "body",
    [
        {"recipient_id": SENDER, "text": "not in a list"},
        [{"recipient_id": SENDER, "text": 42}],
        [{"recipient_id": SENDER, "text": "t", "buttons": [{"title": "no payload"}]}],
        ["just a string"],
    ],
)
def test_wrongly_shaped_webhook_answer_is_permanent(body: object) -> None:
    """A webhook answer that is not a list of message objects is a PermanentError."""
    with pytest.raises(PermanentError) as caught:
        rasa(answering(httpx.Response(200, json=body))).send_message(SENDER, "hi")
    assert "unexpected shape" in caught.value.message


def test_a_wrongly_shaped_answer_is_described_without_its_texts() -> None:
    """The error names what Rasa sent (keys, sizes), never the texts in it: error texts
    are logged and stored, and a reply or a tracker holds what was said."""
    body = {"recipient_id": SENDER, "text": "your salary of 4,000 EUR is noted"}
    with pytest.raises(PermanentError) as caught:
        rasa(answering(httpx.Response(200, json=body))).send_message(SENDER, "hi")
    assert "['recipient_id', 'text']" in caught.value.message
    assert "salary" not in caught.value.message


def test_wrongly_shaped_parse_answer_is_permanent() -> None:
    """A parse answer without intent and entities is a PermanentError."""
    with pytest.raises(PermanentError):
        rasa(answering(httpx.Response(200, json={"text": "hi"}))).parse("hi")


def test_dialogue_turns_and_parses_are_timed_failed_ones_too() -> None:
    """Each turn and parse shows in the Rasa request-time figures under its call; the
    other calls (status, version, tracker: the tools', not the service's work) do not."""
    metrics = RecordingMetrics()
    http = httpx.Client(transport=httpx.MockTransport(FakeRasa()))
    client = RasaClient("http://127.0.0.1:5005/", token=TOKEN, http=http, metrics=metrics)
    client.send_message("c-0123", "hi")
    client.parse("hi")
    client.version()
    down = RasaClient(
        "http://127.0.0.1:5005/",
        http=httpx.Client(transport=httpx.MockTransport(raising(httpx.ConnectError))),
        metrics=metrics,
    )
    with pytest.raises(TransientError):
        down.send_message("c-0123", "hi")
    calls = [args[0] for name, args in metrics.reported if name == "rasa_request"]
    assert calls == ["dialogue", "nlu", "dialogue"]
    assert all(isinstance(args[1], float) and args[1] >= 0 for name, args in metrics.reported)

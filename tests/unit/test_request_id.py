"""The request id middleware: a caller's sane X-Request-ID is kept, anything else is
replaced by a fresh id; either way it is echoed and is the id of the request's lines."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bot.entrypoints.request_id import RequestIdMiddleware
from bot.service_layer.log_context import current_request_id


async def seen(request: Request) -> PlainTextResponse:
    """Answers with the request id the app's own code sees (its log lines carry it)."""
    return PlainTextResponse(current_request_id() or "", headers={"X-Request-ID": "the app's"})


@pytest.fixture
def client() -> TestClient:
    return TestClient(RequestIdMiddleware(Starlette(routes=[Route("/seen", seen)])))


@pytest.mark.parametrize("given", ["abc", "0f2a-4c.proxy_7", "A" * 64])
def test_a_sane_id_is_kept_and_echoed(client: TestClient, given: str) -> None:
    answer = client.get("/seen", headers={"X-Request-ID": given})
    assert answer.text == given
    assert answer.headers.get_list("X-Request-ID") == [given]


@pytest.mark.parametrize(
    "given",
    [
        "A" * 65,  # too long
        "has space",
        "semi;colon",
        "whatsapp:+447700900123",  # a number would end up in every line
        "ünïcode".encode(),  # bytes a header may carry, as a client sent them
        "",
    ],
)
def test_an_unfit_id_is_replaced_by_a_fresh_one(client: TestClient, given: str | bytes) -> None:
    answer = client.get("/seen", headers={"X-Request-ID": given})
    assert answer.text.startswith("req-") and answer.text != given
    assert answer.headers["X-Request-ID"] == answer.text


def test_without_an_id_each_request_gets_its_own(client: TestClient) -> None:
    first, second = client.get("/seen"), client.get("/seen")
    assert first.text.startswith("req-") and second.text.startswith("req-")
    assert first.text != second.text
    assert first.headers["X-Request-ID"] == first.text

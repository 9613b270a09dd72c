"""gangway's log lines (bot.entrypoints.logs): JSON or text, with the request id and the
conversation id of the unit of work that wrote them, and no number in what the code
cannot choose (an exception's text, a request's query)."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.config import load_settings
from bot.entrypoints.logs import log_handler
from bot.entrypoints.request_id import RequestIdMiddleware
from bot.entrypoints.routes.secure_channel import INVITE_PATH
from bot.service_layer.log_context import current_request_id, unit_of_work
from bot.service_layer.scheduler import TimerScheduler
from tests.e2e.processes import free_port

NUMBER = "+447700900123"  # Ofcom's range for drama


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose lines go, as JSON, through gangway's handler into a buffer."""
    buffer = io.StringIO()
    logger = logging.getLogger("tests.log_lines")
    handler = log_handler("json", "host-a:8000", stream=buffer)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_json_line_names_its_unit_of_work_and_conversation(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured
    with unit_of_work("turn", "c-0123abcd") as request_id:
        logger.info("inbox %s answered: %d replies queued", "SM01", 2)
    logger.warning("outside any unit of work")
    [inside, outside] = lines(buffer)
    assert request_id.startswith("turn-")
    assert inside["request_id"] == request_id
    assert inside["conversation_id"] == "c-0123abcd"
    assert inside["message"] == "inbox SM01 answered: 2 replies queued"
    assert (inside["level"], inside["logger"]) == ("INFO", "tests.log_lines")
    assert inside["instance"] == "host-a:8000" and isinstance(inside["pid"], int)
    assert datetime.fromisoformat(inside["time"]).utcoffset() is not None
    assert inside["time"].endswith("+00:00")
    # Outside: the id is said to be unknown, and no conversation is named.
    assert outside["request_id"] is None and "conversation_id" not in outside


def test_each_thread_has_its_own_ids(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = captured
    ready, done = threading.Event(), threading.Event()

    def other() -> None:
        with unit_of_work("timer", "c-other"):
            ready.set()
            done.wait(5)
            logger.info("in the other thread")

    thread = threading.Thread(target=other)
    thread.start()
    ready.wait(5)
    with unit_of_work("turn", "c-mine"):
        logger.info("in this thread")
    done.set()
    thread.join(5)
    mine, theirs = lines(buffer)
    assert (mine["conversation_id"], theirs["conversation_id"]) == ("c-mine", "c-other")
    assert mine["request_id"].startswith("turn-") and theirs["request_id"].startswith("timer-")


def test_each_beat_of_a_scheduler_is_a_unit_of_work_named_for_its_job() -> None:
    seen: list[str | None] = []
    beaten = threading.Event()

    class Runner:
        def fire_due(self) -> int:
            seen.append(current_request_id())
            if len(seen) == 2:
                beaten.set()
            return 0

    scheduler = TimerScheduler(Runner(), interval_seconds=0.05, work="retention")
    scheduler.start()
    try:
        assert beaten.wait(10)
    finally:
        scheduler.stop()
    first, second = seen[:2]
    assert first and second and first.startswith("retention-") and first != second
    assert current_request_id() is None  # nothing of it stays behind in this thread


def test_an_exception_is_one_string_without_the_number_or_url_it_quoted(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured
    try:
        raise RuntimeError(
            f"no answer to https://api.twilio.example.com/Messages.json?To=whatsapp:{NUMBER}"
            " from 07700 900123"
        )
    except RuntimeError:
        logger.exception("sending failed")
    [line] = lines(buffer)
    assert "RuntimeError: no answer to https://api.twilio.example.com/…" in line["exc_info"]
    assert "Traceback" in line["exc_info"]
    for shown in ("447700900123", "07700 900123", "Messages.json"):
        assert shown not in buffer.getvalue()


def test_text_lines_name_the_ids_too() -> None:
    buffer = io.StringIO()
    logger = logging.getLogger("tests.log_lines.text")
    handler = log_handler("text", stream=buffer)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with unit_of_work("turn", "c-0123abcd") as request_id:
            logger.warning("lost the lease")
        logger.warning("no unit")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    first, second = buffer.getvalue().splitlines()
    assert first.endswith(f"WARNING tests.log_lines.text [{request_id} c-0123abcd]: lost the lease")
    assert second.endswith("WARNING tests.log_lines.text: no unit")


def test_the_format_is_text_unless_set_and_nothing_else() -> None:
    assert load_settings({}).gangway_log_format == "text"
    assert load_settings({"GANGWAY_LOG_FORMAT": "json"}).gangway_log_format == "json"
    with pytest.raises(ValidationError):
        load_settings({"GANGWAY_LOG_FORMAT": "xml"})


def test_uvicorns_access_line_has_the_request_id_and_no_query_or_invite_token() -> None:
    """uvicorn as the service runs it (no logging configuration of its own, access log
    on): its access lines go through gangway's handler, with the id each response
    echoed, without the query string that named a number, and without the token of an
    invite link (whoever reads the log could open the secure channel)."""

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = RequestIdMiddleware(Starlette(routes=[Route("/lookup", ok), Route(INVITE_PATH, ok)]))
    token = "v1.Zm9yZ2VkLWludml0ZS10b2tlbg.c2lnbmF0dXJl"
    buffer = io.StringIO()
    handler = log_handler("json", stream=buffer)
    access = logging.getLogger("uvicorn.access")
    access.addHandler(handler)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="info")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        answers = [
            httpx.get(f"http://127.0.0.1:{port}/lookup", params={"number": f"whatsapp:{NUMBER}"}),
            httpx.get(f"http://127.0.0.1:{port}" + INVITE_PATH.format(token=token)),
        ]
    finally:
        server.should_exit = True
        thread.join(10)
        access.removeHandler(handler)
    lookup, invite = [json.loads(x) for x in buffer.getvalue().splitlines()]
    assert [a.status_code for a in answers] == [200, 200]
    assert lookup["logger"] == invite["logger"] == "uvicorn.access"
    assert '"GET /lookup HTTP/1.1" 200' in lookup["message"]
    assert '"GET /secure/invite/… HTTP/1.1" 200' in invite["message"]
    assert [lookup["request_id"], invite["request_id"]] == [
        a.headers["X-Request-ID"] for a in answers
    ]
    for secret in ("447700900123", "number=", token):
        assert secret not in buffer.getvalue()

"""Scripted conversations (tests/e2e/conversations/*.yml) against the real stack.

The prospect's messages go through the sandbox's chat API, which posts them to gangway
as signed Twilio webhooks; gangway asks the real Rasa server; replies go out through the
twilio client to the sandbox. The one thing not real is time: gangway runs in this
process, on a real port, with a clock the script moves (``wait: 10m``), so reminders and
expiry are tested without sleeping.

A script::

    name: what it shows
    number: "whatsapp:+12025550140"   # a reserved 555-01xx number
    language: de                      # the language the protocol texts are expected in
    steps:
      - say: "Meine IBAN lautet ..."  # or  media: image/png  /  tap: consent_yes
        replies:                      # exactly these, in order
          - text: consent             # a flow text (consent = the terms + question)
          - response: utter_greet     # a Rasa response's wording, fetched from the flow
          - bot: any                  # any reply of the bot
          - contains: "secure"
          - question: country         # a qualification question (or required, changed,
                                      # done), worded for this conversation
        state: terms_offered          # the conversation afterwards
        level: identity
        answers: {product: mortgage}  # what gangway keeps of the qualification ({}: none)
      - wait: 10m                     # move the clock; due timers fire
        replies: [{text: consent_reminder}]
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn
import yaml

from bot.adapters.tables import Conversation
from bot.bootstrap import Container, build
from bot.config import load_settings
from bot.domain.flows import Flow, parse_duration
from bot.entrypoints.app import create_app
from bot.entrypoints.logs import log_handler
from bot.service_layer.qualification import qualification_of
from bot.service_layer.settled import conversation_of, settled
from bot.service_layer.wording import response_text
from tests.e2e.processes import Proc, free_port, wait_until
from tests.fakes.clock import FakeClock

if TYPE_CHECKING:
    from tests.e2e.conftest import Rasa

SCRIPTS = Path(__file__).parent / "conversations"
BUSINESS = "whatsapp:+12025550100"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n invented test image").decode()


@dataclass
class LiveStack:
    """Sandbox (subprocess) + gangway (this process, on a real port, with ``clock``)."""

    container: Container
    clock: FakeClock
    sandbox_url: str
    log_path: Path  # gangway's log lines, one JSON object each
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))

    @property
    def flow(self) -> Flow:
        return self.container.flows.current()

    def sessions(self):  # type: ignore[no-untyped-def]
        return self.container.sessions()

    def outbound(self, number: str) -> list[dict[str, Any]]:
        answer = self.http.get(
            f"{self.sandbox_url}/sandbox/api/messages", params={"number": number}
        )
        answer.raise_for_status()
        return [m for m in answer.json()["messages"] if m["direction"] == "outbound"]

    def send(self, number: str, payload: dict[str, Any]) -> str:
        answer = self.http.post(
            f"{self.sandbox_url}/sandbox/api/inbound", json={"from": number, **payload}
        )
        assert answer.status_code < 300, answer.text
        body = answer.json()
        assert body["webhook_status"] == 200, body
        return str(body["message_sid"])

    def conversation(self, number: str) -> Conversation | None:
        with self.sessions() as s:
            conv = conversation_of(s, number)
            if conv is not None:
                s.expunge(conv)
            return conv

    def settled(self, number: str, sid: str | None) -> bool:
        """The message (if any) is answered, due timers fired, nothing left to send."""
        with self.sessions() as s:
            return settled(s, number, sid, self.clock.now())


@dataclass
class Expectation:
    kind: str
    value: str


def _expected(stack: LiveStack, item: dict[str, str], language: str, number: str) -> Expectation:
    ((kind, value),) = item.items()
    flow = stack.flow
    if kind == "question":
        q = flow.qualification
        assert q is not None, "the flow has no qualification section"
        name = f"utter_ask_{value}" if value in q.slots else f"utter_qualification_{value}"
        conv = stack.conversation(number)
        assert conv is not None
        with stack.sessions() as s:
            wording = response_text(s, flow, conv.id, name)
        assert wording is not None, f"the flow has no wording for {name}"
        return Expectation("equal", wording)
    if kind == "text" and value == "consent":
        return Expectation("prefix", flow.consent_prompt(language))
    if kind == "text" and value in ("invite", "invite_reminder"):
        template = flow.protocol.texts[value][language]
        return Expectation("prefix", template.split("{link}")[0].format(link=""))
    if kind == "text":
        return Expectation("equal", flow.text(value, language))
    if kind == "response":
        wording = flow.response(value, language)
        assert wording is not None, f"the flow has no wording for {value}"
        return Expectation("equal", wording.split("\n\n")[0])
    if kind == "contains":
        return Expectation("contains", value)
    if kind == "bot":
        return Expectation("any", value)
    raise AssertionError(f"unknown expectation {item}")


def _check(expect: Expectation, body: str) -> bool:
    if expect.kind == "prefix":
        return body.startswith(expect.value)
    if expect.kind == "equal":
        return body == expect.value
    if expect.kind == "contains":
        return expect.value.lower() in body.lower()
    return bool(body)


def run_script(stack: LiveStack, script: dict[str, Any]) -> list[str]:
    """Play ``script``; returns its transcript (for failure messages and the notes)."""
    number, language = script["number"], script.get("language", "en")
    transcript: list[str] = []
    seen = len(stack.outbound(number))
    for index, step in enumerate(script["steps"], 1):
        where = f"{script['name']}, step {index}"
        sid: str | None = None
        if "say" in step:
            transcript.append(f"> {step['say']}")
            sid = stack.send(number, {"body": step["say"]})
        elif "media" in step:
            transcript.append(f"> [{step['media']}]")
            sid = stack.send(number, {"media": [{"content_type": step["media"], "data": PNG}]})
        elif "tap" in step:
            last = stack.outbound(number)[-1]
            transcript.append(f"> [taps {step['tap']}]")
            sid = stack.send(number, {"button": {"message_sid": last["sid"], "id": step["tap"]}})
        elif "wait" in step:
            transcript.append(f"  ... {step['wait']} later")
            stack.clock.advance(parse_duration(step["wait"]).total_seconds())
        wait_until(lambda sid=sid: stack.settled(number, sid), 90, f"{where} to settle")
        got = stack.outbound(number)[seen:]
        seen += len(got)
        bodies = [m["body"] for m in got]
        transcript += [f"< {b}" for b in bodies]
        wanted = [_expected(stack, item, language, number) for item in step.get("replies", [])]
        log = "\n".join(transcript)
        assert len(bodies) == len(wanted), (
            f"{where}: {len(bodies)} replies, not {len(wanted)}\n{log}"
        )
        for expect, body in zip(wanted, bodies, strict=True):
            assert _check(expect, body), f"{where}: {body!r} is not {expect}\n{log}"
        conv = stack.conversation(number)
        assert conv is not None
        for attribute in ("state", "level", "language"):
            if attribute in step:
                actual = getattr(conv, attribute)
                assert actual == step[attribute], f"{where}: {attribute} {actual}\n{log}"
        if "answers" in step:
            with stack.sessions() as s:
                kept = (qualification_of(s, conv.id) or {}).get("answers") or {}
            given = {slot: value for slot, value in kept.items() if value is not None}
            wanted_answers = step["answers"]
            if wanted_answers:
                shown = {slot: given.get(slot) for slot in wanted_answers}
                assert shown == wanted_answers, f"{where}: answers {given}\n{log}"
            else:
                assert not given, f"{where}: answers {given}, not none\n{log}"
    return transcript


def load_scripts() -> list[dict[str, Any]]:
    return [
        yaml.safe_load(path.read_text()) | {"file": path.name}
        for path in sorted(SCRIPTS.glob("*.yml"))
    ]


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns the signals
        pass


@contextmanager
def json_log(path: Path) -> Iterator[None]:
    """This process's lines at INFO, as the service writes them with
    GANGWAY_LOG_FORMAT=json (bot.entrypoints.logs), into ``path`` while it runs; the
    HTTP client's loggers kept at WARNING, as the service keeps them."""
    root = logging.getLogger()
    quiet = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [root.level, *(logger.level for logger in quiet)]
    with path.open("a", encoding="utf-8") as stream:
        handler = log_handler("json", "e2e-scripted", stream=stream)
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        for logger in quiet:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            root.removeHandler(handler)
            for logger, level in zip([root, *quiet], levels, strict=True):
                logger.setLevel(level)


def live_stack(rasa: Rasa, database_url: str, logs: Path) -> Iterator[LiveStack]:
    """Start the sandbox and an in-process gangway where ``rasa`` expects it; stop both after."""
    service_port = rasa.service_port
    sandbox_port = free_port()
    service_url = f"http://127.0.0.1:{service_port}"
    env = {
        "DATABASE_URL": database_url,
        "GANGWAY_PUBLIC_URL": service_url,
        "GANGWAY_HOST": "127.0.0.1",
        "GANGWAY_PORT": str(service_port),
        "GANGWAY_INSTANCE_ID": "e2e-scripted",
        "GANGWAY_SERVICE_TOKEN": rasa.service_token,
        "GANGWAY_SANDBOX_PORT": str(sandbox_port),
        "GANGWAY_STATE_DIR": str(logs),
        "GANGWAY_INVITE_SECRET": secrets.token_hex(32),
        "GANGWAY_TIMER_INTERVAL": "0.1",
        "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "TWILIO_WHATSAPP_FROM": BUSINESS,
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
        "RASA_URL": rasa.url,
        "RASA_TOKEN": rasa.token,
        "GANGWAY_ACTION_SERVER_URL": rasa.action_url,
    }
    sandbox = Proc(
        "sandbox",
        [sys.executable, "-m", "bot.entrypoints.cli", "sandbox"],
        {**os.environ, **env},
        logs,
    )
    clock = FakeClock()
    log_path = logs / "gangway.log"
    with json_log(log_path):
        container = build(load_settings(env), clock=clock)
        # As `gangway serve` runs uvicorn: its lines, the access log too, go through
        # gangway's handler.
        server = _Server(
            uvicorn.Config(
                create_app(lambda: container),
                host="127.0.0.1",
                port=service_port,
                log_level="info",
                log_config=None,
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        try:
            sandbox.wait_ready(f"http://127.0.0.1:{sandbox_port}/sandbox/healthz", timeout=30)
            thread.start()
            deadline = time.monotonic() + 30
            while not server.started:
                assert time.monotonic() < deadline, "gangway did not start"
                time.sleep(0.05)
            yield LiveStack(container, clock, f"http://127.0.0.1:{sandbox_port}", log_path)
        finally:
            server.should_exit = True
            thread.join(timeout=20)
            sandbox.stop()

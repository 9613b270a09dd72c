"""A private stack to play a flow against: the real Rasa, gangway, a stand-in Twilio.

`gangway flows test` and `gangway simulate` run the real service layer in this process
(the app on a real loopback port, a temporary SQLite database, the flow file asked for)
and the sandbox's Twilio-compatible API on another loopback port, so a prospect's
message takes the path a WhatsApp message takes: a signed webhook, gangway, Rasa, the
replies sent through the Twilio client. Rasa is given (bot.entrypoints.flow_test_rasa
starts one): gangway listens where its action server and wording (NLG) expect it.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db import make_engine
from bot.adapters.flow_version_tables import FlowVersion
from bot.adapters.migrate import upgrade
from bot.adapters.tables import InboxMessage, MessageClassification
from bot.bootstrap import INBOUND_PATH, Container, build, webhook_path
from bot.config import load_settings
from bot.domain.flow_tests import Observed
from bot.domain.flows import Flow
from bot.entrypoints.app import create_app
from bot.entrypoints.flow_test_rasa import RasaEndpoints, StackError, free_port
from bot.entrypoints.logs import log_handler
from bot.entrypoints.loopback import local_only
from bot.sandbox.app import SandboxConfig
from bot.sandbox.app import create_app as create_sandbox
from bot.sandbox.server import ServerThread
from bot.service_layer.receiving import conversation_for
from bot.service_layer.settled import conversation_of, settled

__all__ = ["LocalStack", "Prospect", "flow_version", "local_stack"]

BUSINESS = "whatsapp:+12025550100"
# Invented prospects: the UK's range reserved for drama, +44 7700 900000-900999.
PROSPECTS = "whatsapp:+447700900{:03d}"


def flow_version(session: Session, flow: Flow) -> str:
    """The flow's version as a status line shows it: the live version's number and hash
    when versions are kept for this flow, else the file's hash."""
    live = session.execute(
        select(FlowVersion.seq, FlowVersion.sha256)
        .where(FlowVersion.flow == flow.name, FlowVersion.status == "live")
        .order_by(FlowVersion.seq.desc())
    ).first()
    if live is not None:
        return f"v{live.seq} ({live.sha256[:12]})"
    return f"file {flow.digest[:12]}"


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the command owns the signals
        pass


@dataclass
class LocalStack:
    container: Container
    sandbox_url: str
    http: httpx.Client
    settle_timeout: float = 90.0
    _numbers: int = 0

    @property
    def flow(self) -> Flow:
        return self.container.flows.current()

    def prospect(self, variant: str | None = None, language: str | None = None) -> Prospect:
        """A new prospect, with a number no earlier conversation had.

        With ``variant`` or ``language`` the conversation is created before its first
        turn: the variant assignment keeps a variant already set, and the language is
        where language detection starts (a message plainly in another one switches it).
        """
        number = PROSPECTS.format(self._numbers)
        self._numbers += 1
        if variant is not None or language is not None:
            with self.container.sessions() as s:
                conv = conversation_for(s, number, self.container.clock.now())
                conv.variant = variant
                conv.language = language
                s.commit()
        return Prospect(self, number)


class Prospect:
    """One invented prospect's conversation, message by message."""

    def __init__(self, stack: LocalStack, number: str) -> None:
        self.stack = stack
        self.number = number
        self._seen = 0

    def _outbound(self) -> list[dict[str, Any]]:
        answer = self.stack.http.get(
            f"{self.stack.sandbox_url}/sandbox/api/messages", params={"number": self.number}
        )
        answer.raise_for_status()
        return [m for m in answer.json()["messages"] if m["direction"] == "outbound"]

    def say(self, text: str) -> Observed:
        return self._send({"body": text})

    def tap(self, title: str) -> Observed:
        """Tap the button called ``title`` (or with that id) on the last message offering
        buttons; LookupError names the buttons there are."""
        offering = [m for m in self._outbound() if m.get("buttons")]
        buttons = offering[-1]["buttons"] if offering else []
        for button in buttons:
            if title.casefold() in (button["title"].casefold(), button["id"].casefold()):
                return self._send(
                    {"button": {"message_sid": offering[-1]["sid"], "id": button["id"]}}
                )
        shown = ", ".join(repr(b["title"]) for b in buttons) or "none"
        raise LookupError(f"no button {title!r} is offered (buttons offered: {shown})")

    def _send(self, payload: dict[str, Any]) -> Observed:
        answer = self.stack.http.post(
            f"{self.stack.sandbox_url}/sandbox/api/inbound", json={"from": self.number, **payload}
        )
        if answer.status_code >= 300 or answer.json().get("webhook_status") != 200:
            raise StackError(f"gangway did not take the message: {answer.text[:300]}")
        sid = str(answer.json()["message_sid"])
        deadline = time.monotonic() + self.stack.settle_timeout
        while not self._settled(sid):
            if time.monotonic() > deadline:
                raise StackError(f"no answer within {self.stack.settle_timeout:.0f}s")
            time.sleep(0.1)
        got = self._outbound()[self._seen :]
        self._seen += len(got)
        return self._observed(sid, got)

    def _settled(self, sid: str) -> bool:
        with self.stack.container.sessions() as s:
            return settled(s, self.number, sid, self.stack.container.clock.now())

    def _observed(self, sid: str, got: list[dict[str, Any]]) -> Observed:
        with self.stack.container.sessions() as s:
            conv = conversation_of(s, self.number)
            assert conv is not None  # settled only once it exists
            evidence = s.execute(
                select(MessageClassification.evidence)
                .join(InboxMessage, InboxMessage.id == MessageClassification.inbox_id)
                .where(InboxMessage.message_sid == sid)
            ).scalar_one_or_none()
            # Names of what found something, never what it found.
            found = tuple(
                f"{e['name']} ({e['source']}, {e['level']})" for e in json.loads(evidence or "[]")
            )
            return Observed(
                replies=tuple(m["body"] for m in got),
                buttons=tuple(b["title"] for m in got for b in m.get("buttons") or ()),
                level=conv.level,
                state=conv.state,
                language=conv.language,
                evidence=found,
            )

    def version(self) -> str:
        with self.stack.container.sessions() as s:
            return flow_version(s, self.stack.flow)


@contextmanager
def _logged_to(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with path.open("a", encoding="utf-8") as stream:
        handler = log_handler("json", "flow-test", stream=stream)
        root.addHandler(handler)
        try:
            yield
        finally:
            root.removeHandler(handler)


@contextmanager
def local_stack(
    rasa: RasaEndpoints, flow_file: Path, logs: Path | None = None
) -> Iterator[LocalStack]:
    """The sandbox and gangway (serving ``flow_file``, on a new SQLite database) where
    ``rasa`` expects gangway; both stopped after. Their warnings and errors go to
    gangway.log in ``logs`` (default: the temporary folder), not amid the report."""
    with (
        tempfile.TemporaryDirectory(prefix="gangway-flow-test-") as tmp,
        _logged_to((logs or Path(tmp)) / "gangway.log"),
    ):
        where = Path(tmp)
        database_url = f"sqlite:///{where / 'gangway.db'}"
        engine = make_engine(database_url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        sandbox_port = free_port()
        service_url = f"http://127.0.0.1:{rasa.service_port}"
        env = {
            "DATABASE_URL": database_url,
            "GANGWAY_FLOW": str(flow_file),
            "GANGWAY_PUBLIC_URL": service_url,
            "GANGWAY_HOST": "127.0.0.1",
            "GANGWAY_PORT": str(rasa.service_port),
            "GANGWAY_INSTANCE_ID": "flow-test",
            "GANGWAY_SERVICE_TOKEN": rasa.service_token,
            "GANGWAY_SANDBOX_PORT": str(sandbox_port),
            "GANGWAY_STATE_DIR": str(where),
            "GANGWAY_INVITE_SECRET": secrets.token_hex(32),
            "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
            "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
            "TWILIO_WHATSAPP_FROM": BUSINESS,
            "TWILIO_API_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
            "RASA_URL": rasa.url,
            "RASA_TOKEN": rasa.token,
            "GANGWAY_ACTION_SERVER_URL": rasa.action_url,
        }
        settings = load_settings(env)
        assert settings.twilio_account_sid and settings.twilio_auth_token
        sandbox = ServerThread(
            local_only(
                create_sandbox(
                    SandboxConfig(
                        account_sid=settings.twilio_account_sid,
                        auth_token=settings.twilio_auth_token.get_secret_value(),
                        webhook_url=webhook_path(settings, INBOUND_PATH),
                        business_number=BUSINESS,
                        # Delivery reports at once: none left in flight when the run ends.
                        status_delay_seconds=0.0,
                    )
                )
            ),
            port=sandbox_port,
        )
        container = build(settings)
        server = _Server(
            uvicorn.Config(
                create_app(lambda: container),
                host="127.0.0.1",
                port=rasa.service_port,
                log_level="warning",
                log_config=None,
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        http = httpx.Client(timeout=60.0)
        try:
            sandbox.start()
            thread.start()
            deadline = time.monotonic() + 60
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise StackError(f"gangway did not start on port {rasa.service_port}")
                time.sleep(0.05)
            yield LocalStack(container, sandbox.url, http)
        finally:
            http.close()
            # The sandbox first: its delivery reports must not go to a gangway gone.
            sandbox.stop()
            server.should_exit = True
            thread.join(timeout=20)

"""The real stack for end-to-end tests.

Once per test session: the Rasa action server and the Rasa server with the
trained model. Per test: the WhatsApp sandbox (Twilio-compatible API) and the
gangway service on a real port, on SQLite and, when configured, PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bot.adapters.db import SessionFactory, make_engine, make_session_factory
from bot.adapters.keyring import Keyring
from bot.adapters.vault import Vault
from bot.entrypoints.supervisor import (
    RASA_BIN,
    action_server_argv,
    child_environments,
    rasa_has_model,
    rasa_server_argv,
)
from bot.rasa_project import model_path
from tests.e2e.processes import REPO, Proc, free_port, wait_until
from tests.fakes.keys import fake_keyring, keys_env

pytestmark = pytest.mark.e2e

BUSINESS = "whatsapp:+12025550100"


@dataclass
class Rasa:
    url: str
    action_url: str
    service_port: int  # where the action server expects gangway
    service_token: str
    token: str  # Rasa's --auth-token (?token= on its HTTP API)
    action_secret: str  # what the action server requires of its callers


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def rasa(logs_dir: Path) -> Iterator[Rasa]:
    """The real Rasa server (API enabled) and action server, trained model loaded."""
    model = Path(os.environ.get("GANGWAY_RASA_MODEL") or model_path(REPO))
    if not RASA_BIN.exists():
        pytest.fail(f"{RASA_BIN} is missing: run `make install` (or `make test`).")
    if not model.exists():
        pytest.fail(f"no trained Rasa model at {model}: run `make model` (or `make test`).")
    rasa_port, action_port, service_port = free_port(), free_port(), free_port()
    token, rasa_token, action_secret = (secrets.token_urlsafe(16) for _ in range(3))
    # The environments `gangway up` gives them: each only what it needs.
    envs = child_environments(
        os.environ,
        {
            "GANGWAY_ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}",
            "GANGWAY_URL": f"http://127.0.0.1:{service_port}",
            # Rasa fetches every utter_* wording from the service under test.
            "GANGWAY_NLG_URL": f"http://127.0.0.1:{service_port}/nlg",
            "GANGWAY_SERVICE_TOKEN": token,
            "GANGWAY_ACTION_SECRET": action_secret,
        },
    )
    actions = Proc("actions", action_server_argv(action_port), envs["actions"], logs_dir)
    server = Proc(
        "rasa",
        rasa_server_argv(model, host="127.0.0.1", port=rasa_port, token=rasa_token),
        envs["rasa"],
        logs_dir,
    )
    try:
        actions.wait_ready(f"http://127.0.0.1:{action_port}/health", timeout=120)
        server.wait_ready(
            f"http://127.0.0.1:{rasa_port}/status?token={rasa_token}",
            timeout=180,
            check=rasa_has_model,
        )
        yield Rasa(
            f"http://127.0.0.1:{rasa_port}",
            f"http://127.0.0.1:{action_port}",
            service_port,
            token,
            rasa_token,
            action_secret,
        )
    finally:
        server.stop()
        actions.stop()


@dataclass
class Stack:
    """A running sandbox + gangway service, and ways to talk to them as Twilio would."""

    env: dict[str, str]
    service_url: str
    sandbox_url: str
    logs: Path
    database_url: str
    keyring: Keyring
    service: Proc | None = None
    sandbox: Proc | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=20.0))

    @property
    def auth_token(self) -> str:
        return self.env["TWILIO_AUTH_TOKEN"]

    def sessions(self) -> SessionFactory:
        """Sessions on the stack's database, with its keys."""
        return make_session_factory(make_engine(self.database_url), Vault(self.keyring))

    def start_service(self) -> None:
        self.launch_service()
        self.wait_for_service()

    def launch_service(self) -> None:
        self.service = Proc(
            "gangway", [sys.executable, "-m", "bot.entrypoints.cli", "serve"], self.env, self.logs
        )

    def wait_for_service(self) -> None:
        assert self.service is not None
        self.service.wait_ready(f"{self.service_url}/readyz", timeout=60)

    def webhook(self, params: dict[str, str], *, signature: str | None = None) -> httpx.Response:
        url = f"{self.service_url}/webhooks/twilio/whatsapp"
        if signature is None:
            signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return self.http.post(url, data=params, headers={"X-Twilio-Signature": signature})

    def say(self, number: str, body: str, sid: str | None = None) -> tuple[str, httpx.Response]:
        sid = sid or "SM" + secrets.token_hex(16)
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.env["TWILIO_ACCOUNT_SID"],
            "From": number,
            "To": BUSINESS,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "ProfileName": "Test Prospect",
            "WaId": number.removeprefix("whatsapp:+"),
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        return sid, self.webhook(params)

    def received(self, number: str | None = None) -> list[dict[str, Any]]:
        """What the Twilio-compatible API was asked to send (to `number`)."""
        params = {"number": number} if number else {}
        resp = self.http.get(f"{self.sandbox_url}/sandbox/api/messages", params=params)
        resp.raise_for_status()
        return [m for m in resp.json()["messages"] if m["direction"] == "outbound"]

    def wait_for_replies(
        self, number: str, count: int, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        wait_until(
            lambda: len(self.received(number)) >= count, timeout, f"{count} replies to {number}"
        )
        return self.received(number)


@pytest.fixture
def stack(rasa: Rasa, database_url: str, logs_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    sandbox_port = free_port()
    service_url = f"http://127.0.0.1:{rasa.service_port}"
    keyring = fake_keyring()
    env = {
        **os.environ,
        **keys_env(keyring),
        "DATABASE_URL": database_url,
        "GANGWAY_PUBLIC_URL": service_url,
        "GANGWAY_HOST": "127.0.0.1",
        "GANGWAY_PORT": str(rasa.service_port),
        "GANGWAY_INSTANCE_ID": "e2e-service",
        # As a deployment logs: one JSON object per line (tests/e2e/test_log_scan.py
        # reads them back).
        "GANGWAY_LOG_FORMAT": "json",
        "GANGWAY_SERVICE_TOKEN": rasa.service_token,
        "GANGWAY_SANDBOX_PORT": str(sandbox_port),
        "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "TWILIO_WHATSAPP_FROM": BUSINESS,
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
        "RASA_URL": rasa.url,
        "RASA_TOKEN": rasa.token,
        "GANGWAY_ACTION_SERVER_URL": rasa.action_url,
    }
    test_logs = tmp_path / "logs"
    test_logs.mkdir()
    st = Stack(
        env, service_url, f"http://127.0.0.1:{sandbox_port}", test_logs, database_url, keyring
    )
    st.sandbox = Proc(
        "sandbox", [sys.executable, "-m", "bot.entrypoints.cli", "sandbox"], env, test_logs
    )
    try:
        # Both start at once: neither needs the other until the first message.
        st.launch_service()
        st.sandbox.wait_ready(f"{st.sandbox_url}/sandbox/healthz", timeout=30)
        st.wait_for_service()
        yield st
    finally:
        if st.service:
            st.service.stop()
        st.sandbox.stop()
        st.http.close()

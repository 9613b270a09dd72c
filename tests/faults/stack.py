"""The real processes a fault test breaks: gangway service processes on one
PostgreSQL database, the WhatsApp sandbox standing in for Twilio, and a Rasa
server that can be killed and started again on its port.

Webhooks are posted by the test itself, signed as Twilio signs them (against the
public URL every service process shares), to whichever service process it
chooses: what a load balancer in front of several processes does.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text
from twilio.request_validator import RequestValidator

from bot.adapters.db import SessionFactory, make_engine, make_session_factory
from bot.adapters.keyring import Keyring
from bot.adapters.vault import Vault
from bot.bootstrap import INBOUND_PATH, STATUS_CALLBACK_PATH
from bot.entrypoints.supervisor import rasa_has_model, rasa_server_argv
from tests.e2e.processes import Proc, free_port

__all__ = ["BUSINESS", "FaultStack", "RasaServer"]

BUSINESS = "whatsapp:+12025550100"


class RasaServer:
    """The Rasa server on a fixed port, which a test may SIGKILL and start again."""

    def __init__(
        self, model: Path, port: int, token: str, env: Mapping[str, str], logs: Path
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.token = token
        self._argv = rasa_server_argv(model, host="127.0.0.1", port=port, token=token)
        self._env = dict(env)
        self._logs = logs
        self._starts = 0
        self.proc: Proc | None = None

    def start(self, timeout: float = 180.0) -> None:
        self._starts += 1
        self.proc = Proc(f"rasa-{self._starts}", self._argv, self._env, self._logs)
        self.proc.wait_ready(
            f"{self.url}/status?token={self.token}", timeout=timeout, check=rasa_has_model
        )

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


@dataclass
class FaultStack:
    """Service processes, the sandbox, and ways to talk to them as Twilio would."""

    env: dict[str, str]
    public_url: str
    sandbox_url: str
    database_url: str
    keyring: Keyring
    logs: Path
    services: dict[str, tuple[Proc, str]] = field(default_factory=dict)
    sandbox: Proc | None = None
    _engine: Engine | None = None
    _sessions: SessionFactory | None = None
    http: httpx.Client = field(
        default_factory=lambda: httpx.Client(
            timeout=20.0, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
        )
    )

    @property
    def account_sid(self) -> str:
        return self.env["TWILIO_ACCOUNT_SID"]

    def sessions(self) -> SessionFactory:
        """Sessions on the stack's database, with its keys (one engine per stack)."""
        if self._sessions is None:
            self._engine = make_engine(self.database_url)
            self._sessions = make_session_factory(self._engine, Vault(self.keyring))
        return self._sessions

    # -- processes --------------------------------------------------------------

    def start_service(self, name: str, port: int | None = None) -> str:
        """Start `gangway serve` as instance ``name``; returns its base URL."""
        port = port or free_port()
        env = {**self.env, "GANGWAY_PORT": str(port), "GANGWAY_INSTANCE_ID": f"faults-{name}"}
        proc = Proc(name, [sys.executable, "-m", "bot.entrypoints.cli", "serve"], env, self.logs)
        url = f"http://127.0.0.1:{port}"
        self.services[name] = (proc, url)
        proc.wait_ready(f"{url}/readyz", timeout=60)
        return url

    def url_of(self, name: str) -> str:
        return self.services[name][1]

    def kill_service(self, name: str) -> None:
        self.services[name][0].kill()

    def start_sandbox(self) -> None:
        self.sandbox = Proc(
            "sandbox", [sys.executable, "-m", "bot.entrypoints.cli", "sandbox"], self.env, self.logs
        )
        self.sandbox.wait_ready(f"{self.sandbox_url}/sandbox/healthz", timeout=30)

    def close(self) -> None:
        for proc, _url in self.services.values():
            proc.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
        self.http.close()
        if self._engine is not None:
            self._engine.dispose()

    def log_tails(self, lines: int = 30) -> str:
        procs = [p for p, _u in self.services.values()] + ([self.sandbox] if self.sandbox else [])
        return "\n".join(f"--- {p.name}\n{p.log_tail(lines)}" for p in procs)

    def terminate_backends(self) -> int:
        """End every other connection to the stack's database, as a PostgreSQL restart
        or failover does to the service's; returns how many were ended."""
        engine = make_engine(self.database_url)
        try:
            with engine.begin() as conn:
                ended = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
        finally:
            engine.dispose()
        return int(ended)

    # -- as Twilio --------------------------------------------------------------

    def _signed_post(self, base_url: str, path: str, params: dict[str, str]) -> httpx.Response:
        signature = RequestValidator(self.env["TWILIO_AUTH_TOKEN"]).compute_signature(
            self.public_url + path, params
        )
        return self.http.post(
            base_url + path, data=params, headers={"X-Twilio-Signature": signature}
        )

    def inbound(self, base_url: str, number: str, body: str, sid: str) -> httpx.Response:
        """Deliver one inbound WhatsApp message's webhook to the service at ``base_url``."""
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "From": number,
            "To": BUSINESS,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "ProfileName": "Fault Prospect",
            "WaId": number.removeprefix("whatsapp:+"),
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        return self._signed_post(base_url, INBOUND_PATH, params)

    def status(self, base_url: str, sid: str, to: str, status: str) -> httpx.Response:
        """Deliver one status callback for outbound message ``sid``."""
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": self.account_sid,
            "From": BUSINESS,
            "To": to,
            "ApiVersion": "2010-04-01",
        }
        return self._signed_post(base_url, STATUS_CALLBACK_PATH, params)

    def open_window(self, number: str, body: str, sid: str | None = None) -> dict[str, Any]:
        """Have the prospect write through the sandbox (which posts the webhook to the
        public URL): WhatsApp's 24-hour window opens there, so replies are delivered.
        With ``sid``, the sandbox delivers that message again. Returns its answer
        (``message_sid``, ``webhook_status``)."""
        payload = {"from": number, "body": body}
        if sid is not None:
            payload["message_sid"] = sid
        resp = self.http.post(f"{self.sandbox_url}/sandbox/api/inbound", json=payload)
        resp.raise_for_status()
        return dict(resp.json())

    # -- what "Twilio" saw ------------------------------------------------------

    def sent(self) -> list[dict[str, Any]]:
        """Every message gangway created at the stand-in, in the order they arrived."""
        resp = self.http.get(f"{self.sandbox_url}/sandbox/api/messages")
        resp.raise_for_status()
        return [m for m in resp.json()["messages"] if m["direction"] == "outbound"]

    def add_twilio_fault(self, **fault: Any) -> None:
        self.http.post(f"{self.sandbox_url}/sandbox/api/faults", json=fault).raise_for_status()

    def twilio_faults_left(self) -> list[dict[str, Any]]:
        resp = self.http.get(f"{self.sandbox_url}/sandbox/api/faults")
        resp.raise_for_status()
        return list(resp.json()["faults"])


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)

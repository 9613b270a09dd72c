"""Fault tests under load: real gangway processes on PostgreSQL, a real Rasa server
with the trained model, the sandbox standing in for Twilio, all on loopback.

Once per session: the action server and a Rasa server a test may kill and start
again. Per test: a fresh copy of the migrated PostgreSQL database, the sandbox, and
the service processes the test starts. Leases and retries are short (through the
settings), so a test waits seconds, not minutes, for a takeover or a retry.

PostgreSQL only (several processes share one database): without it the tests skip
locally and fail in CI, which must run them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.entrypoints.supervisor import RASA_BIN, action_server_argv, child_environments
from bot.rasa_project import model_path
from tests.conftest import PG_URL, PostgresCopies
from tests.e2e.processes import REPO, Proc, free_port
from tests.fakes.keys import fake_keyring, keys_env
from tests.faults.stack import BUSINESS, FaultStack, RasaServer

# How long a dead process's conversations stay leased: the takeover's delay.
LEASE_SECONDS = 4


@dataclass
class Rasa:
    server: RasaServer
    action_url: str
    service_port: int  # where Rasa and the action server expect gangway
    service_token: str


def _require_postgres() -> None:
    """Skip without PostgreSQL; in CI, which must run these tests, fail instead."""
    if PG_URL and str(PG_URL).startswith("postgresql"):
        return
    reason = "the fault tests need PostgreSQL: set GANGWAY_TEST_DATABASE_URL"
    if os.environ.get("CI") in {"true", "1"}:
        pytest.fail(f"{reason} (CI runs them)")
    pytest.skip(reason)


@pytest.fixture
def faults_database(postgres_copies: PostgresCopies | None) -> str:
    """A fresh, migrated PostgreSQL database for one test."""
    _require_postgres()
    if postgres_copies is None:
        pytest.fail("the fault tests need a PostgreSQL role that may create databases")
    return postgres_copies.fresh()


@pytest.fixture(scope="session")
def faults_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fault-logs")


@pytest.fixture(scope="session")
def rasa(faults_logs: Path) -> Iterator[Rasa]:
    """The action server and a Rasa server with the trained model."""
    _require_postgres()
    model = Path(os.environ.get("GANGWAY_RASA_MODEL") or model_path(REPO))
    if not RASA_BIN.exists():
        pytest.fail(f"{RASA_BIN} is missing: run `make install` (or `make test`).")
    if not model.exists():
        pytest.fail(f"no trained Rasa model at {model}: run `make model` (or `make test`).")
    rasa_port, action_port, service_port = free_port(), free_port(), free_port()
    token, rasa_token, action_secret = (secrets.token_urlsafe(16) for _ in range(3))
    envs = child_environments(
        os.environ,
        {
            "GANGWAY_ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}",
            "GANGWAY_URL": f"http://127.0.0.1:{service_port}",
            "GANGWAY_NLG_URL": f"http://127.0.0.1:{service_port}/nlg",
            "GANGWAY_SERVICE_TOKEN": token,
            "GANGWAY_ACTION_SECRET": action_secret,
        },
    )
    actions = Proc("actions", action_server_argv(action_port), envs["actions"], faults_logs)
    server = RasaServer(model, rasa_port, rasa_token, envs["rasa"], faults_logs)
    try:
        actions.wait_ready(f"http://127.0.0.1:{action_port}/health", timeout=120)
        server.start()
        yield Rasa(server, f"http://127.0.0.1:{action_port}", service_port, token)
    finally:
        server.stop()
        actions.stop()


@pytest.fixture
def stack(rasa: Rasa, faults_database: str, tmp_path: Path) -> Iterator[FaultStack]:
    """The sandbox, running; the test starts the service processes it needs. The
    public URL (where the sandbox posts webhooks and callbacks, and Rasa fetches its
    wording) is the service process started on ``rasa.service_port``."""
    sandbox_port = free_port()
    public_url = f"http://127.0.0.1:{rasa.service_port}"
    keyring = fake_keyring()
    env = {
        **os.environ,
        **keys_env(keyring),
        "DATABASE_URL": faults_database,
        "GANGWAY_PUBLIC_URL": public_url,
        "GANGWAY_HOST": "127.0.0.1",
        "GANGWAY_SERVICE_TOKEN": rasa.service_token,
        "GANGWAY_INVITE_SECRET": secrets.token_hex(32),
        "GANGWAY_SANDBOX_PORT": str(sandbox_port),
        "GANGWAY_LEASE_SECONDS": str(LEASE_SECONDS),
        # Retries a second apart at most, so a recovery is seen within seconds.
        "GANGWAY_RETRY_BASE_SECONDS": "0.25",
        "GANGWAY_RETRY_CAP_SECONDS": "1",
        # The load is the point: no per-sender pacing of the answers.
        "GANGWAY_SENDER_RATE": "off",
        "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "TWILIO_WHATSAPP_FROM": BUSINESS,
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
        "RASA_URL": rasa.server.url,
        "RASA_TOKEN": rasa.server.token,
        "GANGWAY_ACTION_SERVER_URL": rasa.action_url,
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    st = FaultStack(
        env, public_url, f"http://127.0.0.1:{sandbox_port}", faults_database, keyring, logs
    )
    try:
        st.start_sandbox()
        yield st
    finally:
        st.close()

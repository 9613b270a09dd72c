"""The WhatsApp sandbox stays local: it refuses settings that point gangway at the real
Twilio or at a gangway elsewhere, and answers only requests addressed to loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.config import load_settings
from bot.entrypoints.loopback import is_loopback_url, local_only, sandbox_refusal
from bot.sandbox import SandboxConfig, create_app

REPO = Path(__file__).resolve().parents[2]
CREDENTIALS = {"TWILIO_ACCOUNT_SID": "AC" + "5" * 32, "TWILIO_AUTH_TOKEN": "5" * 32}
LOCAL = {
    **CREDENTIALS,
    "TWILIO_API_BASE_URL": "http://127.0.0.1:8001",
    "GANGWAY_PUBLIC_URL": "http://127.0.0.1:8000",
}


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8001", True),
        ("http://127.8.9.10", True),
        ("http://localhost:8001/", True),
        ("http://[::1]:8001", True),
        ("https://api.twilio.com", False),
        ("http://0.0.0.0:8001", False),
        ("http://[::]:8001", False),
        ("http://10.0.0.5:8001", False),
        ("http://127.0.0.1.example.com", False),
        ("ftp://127.0.0.1", False),
        ("127.0.0.1:8001", False),
    ],
)
def test_only_loopback_urls_count_as_local(url: str, local: bool) -> None:
    """Loopback addresses and "localhost" are local; every interface, other hosts and
    look-alike names are not."""
    assert is_loopback_url(url) is local


def test_sandbox_may_start_when_both_ends_are_local() -> None:
    """Loopback Twilio API base URL and loopback webhook URL: no objection."""
    assert sandbox_refusal(load_settings(LOCAL)) is None


def test_sandbox_refuses_the_real_twilio_api() -> None:
    """The default base URL (api.twilio.com) means real credentials: refused, saying what
    to set instead."""
    reason = sandbox_refusal(
        load_settings(CREDENTIALS | {"GANGWAY_PUBLIC_URL": LOCAL["GANGWAY_PUBLIC_URL"]})
    )
    assert reason is not None and "TWILIO_API_BASE_URL=http://127.0.0.1:8001" in reason


def test_sandbox_refuses_to_sign_webhooks_for_a_remote_gangway() -> None:
    """A public webhook URL elsewhere is refused: its signatures could be replayed there."""
    settings = load_settings(LOCAL | {"GANGWAY_PUBLIC_URL": "https://gangway.example.com"})
    reason = sandbox_refusal(settings)
    assert reason is not None and "GANGWAY_PUBLIC_URL" in reason


def test_gangway_sandbox_exits_non_zero_with_the_real_twilio_url(tmp_path: Path) -> None:
    """`gangway sandbox` with TWILIO_API_BASE_URL=https://api.twilio.com exits 2 with a
    plain message and never listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "GANGWAY_"))}
    env |= LOCAL | {"TWILIO_API_BASE_URL": "https://api.twilio.com"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", "sandbox"],
        cwd=tmp_path,  # no .env here
        env=env | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refuses to start" in result.stderr and "api.twilio.com" in result.stderr


def test_sandbox_answers_only_requests_addressed_to_loopback() -> None:
    """A request whose Host is not a loopback name (DNS rebinding) gets 400."""
    config = SandboxConfig(
        account_sid=CREDENTIALS["TWILIO_ACCOUNT_SID"],
        auth_token=CREDENTIALS["TWILIO_AUTH_TOKEN"],
        webhook_url="http://127.0.0.1:8000/webhooks/twilio/whatsapp",
    )
    app = local_only(create_app(config))
    assert (
        TestClient(app, base_url="http://127.0.0.1:8001").get("/sandbox/healthz").status_code == 200
    )
    assert (
        TestClient(app, base_url="http://localhost:8001").get("/sandbox/healthz").status_code == 200
    )
    rebound = TestClient(app, base_url="http://attacker.example.com:8001")
    assert rebound.get("/sandbox/healthz").status_code == 400

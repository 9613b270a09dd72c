"""The log lines of a journey through the threshold, in-process: the app with its real
worker and background jobs, the bot and Twilio passed through the ports, every line
caught through gangway's own JSON handler. Each line is JSON with a request id; the
lines about the conversation name it; none holds the number or what was said."""

from __future__ import annotations

import io
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.adapters.tables import Conversation
from bot.adapters.vault import vault_of
from bot.bootstrap import Container, build
from bot.config import load_settings
from bot.entrypoints.app import create_app
from bot.entrypoints.logs import log_handler
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding
from tests.log_scan import json_lines, leaks, number_forms, text_fragments

TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC = "https://gangway.example.com"
PATH = "/webhooks/twilio/whatsapp"
PROSPECT = "whatsapp:+447700900123"
SAID = [
    "Good morning, what are your opening hours please?",
    "My passport number is C01X00T47",
    "yes",
]


@pytest.fixture
def lines_caught() -> Iterator[io.StringIO]:
    """Every line the process writes at INFO and above, as the service would (the
    handler gangway installs on the root logger), into a buffer."""
    buffer = io.StringIO()
    root = logging.getLogger()
    handler = log_handler("json", "test-instance", stream=buffer)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def client(
    database_url: str, clock: FakeClock, tmp_path: Path, lines_caught: io.StringIO
) -> Iterator[TestClient]:
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "GANGWAY_PUBLIC_URL": PUBLIC,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "GANGWAY_SERVICE_TOKEN": "service-token-for-tests",
            "GANGWAY_STATE_DIR": str(tmp_path),
        }
    )
    container = build(
        settings,
        clock=clock,
        # The bot answers by quoting the prospect: its reply holds what was said.
        dialogue=FakeDialogue(lambda text: [f"Thank you for writing: {text}"]),
        understanding=FakeUnderstanding(),
        model=FakeModel(),
        sender=FakeSender(clock.now),
    )
    with TestClient(create_app(lambda: container), base_url=PUBLIC) as c:
        c.container = container  # type: ignore[attr-defined]
        yield c


def say(client: TestClient, body: str) -> str:
    """Post ``body`` as a signed webhook from the prospect; the response's request id."""
    sid = "SM" + secrets.token_hex(16)
    params = {
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": PROSPECT,
        "To": "whatsapp:+12025550100",
        "Body": body,
        "NumMedia": "0",
        "ProfileName": "Test Prospect",
        "WaId": PROSPECT.removeprefix("whatsapp:+"),
    }
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + PATH, params)
    answer = client.post(PATH, data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200
    return answer.headers["X-Request-ID"]


def replies(client: TestClient, count: int) -> list[str]:
    """The first ``count`` messages sent to the prospect, once the worker sent them."""
    container: Container = client.container  # type: ignore[attr-defined]
    sender = container.sender
    assert isinstance(sender, FakeSender)
    deadline = time.monotonic() + 30
    while len(sender.bodies_to(PROSPECT)) < count:
        assert time.monotonic() < deadline, f"only {sender.bodies_to(PROSPECT)} sent"
        container.ingest.wake()
        time.sleep(0.05)
    return sender.bodies_to(PROSPECT)


def test_a_journey_through_the_threshold_logs_ids_and_nothing_said(
    client: TestClient, lines_caught: io.StringIO
) -> None:
    request_ids = [say(client, SAID[0])]
    replies(client, 1)
    request_ids.append(say(client, SAID[1]))
    replies(client, 2)
    request_ids.append(say(client, SAID[2]))
    sent = replies(client, 3)
    assert "https://" in sent[2]  # the secure-channel link: through the threshold
    container: Container = client.container  # type: ignore[attr-defined]
    with container.sessions() as s:
        conversation_id = s.execute(
            select(Conversation.id).where(Conversation.number_hmac == vault_of(s).lookup(PROSPECT))
        ).scalar_one()

    lines = json_lines(lines_caught.getvalue())
    about = [line for line in lines if line.get("conversation_id") == conversation_id]
    # A turn per message (classified, answered, each reply sent) at least.
    assert len(about) >= 6, lines
    assert all(line["request_id"] and line["request_id"].startswith("turn-") for line in about)
    # Every line naming one of this conversation's messages is about it.
    sids = {w for line in about for w in line["message"].split() if w.startswith("SM")}
    naming = [line for line in lines if any(sid in line["message"] for sid in sids)]
    assert naming and all(line.get("conversation_id") == conversation_id for line in naming)
    # No request's id is a turn's: a request's lines and a turn's stay apart.
    assert not set(request_ids) & {line["request_id"] for line in about}
    forbidden = number_forms(PROSPECT) + text_fragments([*SAID, *sent])
    assert leaks(lines, forbidden) == []


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_command_logs_in_the_format_set(tmp_path: Path, log_format: str) -> None:
    """`gangway db upgrade` as run from a shell: its stderr lines (the migration's, and
    a Python warning's) are JSON objects with GANGWAY_LOG_FORMAT=json, text otherwise."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'gangway.db'}",
        "GANGWAY_STATE_DIR": str(tmp_path),
        "GANGWAY_LOG_FORMAT": log_format,
    }
    ran = subprocess.run(
        [sys.executable, "-W", "always", "-c", UPGRADE_AND_WARN],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert ran.returncode == 0, ran.stderr
    assert "database at revision" in ran.stdout
    if log_format == "text":
        assert "INFO bot.adapters.db_roles: database schema migrated" in ran.stderr
        assert not any(line.startswith("{") for line in ran.stderr.splitlines())
        return
    lines = json_lines(ran.stderr)
    assert {"bot.adapters.db_roles", "py.warnings"} <= {line["logger"] for line in lines}
    assert all(line["instance"] and line["pid"] for line in lines)


# The command, then a warning as a library might raise it after logging is set up.
UPGRADE_AND_WARN = """
import sys, warnings
from bot.entrypoints.cli import app
try:
    app(["db", "upgrade"])
except SystemExit as done:
    warnings.warn("a library's deprecation", DeprecationWarning)
    sys.exit(done.code)
"""

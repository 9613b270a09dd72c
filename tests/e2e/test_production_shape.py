"""The production shape of deploy/compose.yaml, as real processes on loopback:
`gangway up --replicas 2 --rasa-replicas 2` on PostgreSQL and Redis. Two service
processes, two Rasa servers sharing one SQL tracker store and one Redis lock store,
one action server. Prospects writing at the same moment each get their answer once,
and each conversation's tracker is in Rasa's own database, the same from either
replica."""

from __future__ import annotations

import secrets
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.adapters.db import make_engine, normalise_url
from bot.entrypoints.supervisor import RASA_BIN
from tests.conftest import PG_URL, reset_postgres
from tests.e2e.processes import wait_until
from tests.e2e.test_rasa_replicas import _two_free_ports
from tests.e2e.test_up_and_doctor import Up, _children, stack_env
from tests.integration.test_service_processes import workers_of

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="GANGWAY_TEST_DATABASE_URL is not set"),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]

# A Redis database of its own, apart from the other Rasa replica tests'.
REDIS_URL = "redis://127.0.0.1:6379/4"
PROSPECTS = [f"whatsapp:+1202555{n:04d}" for n in range(160, 166)]


@dataclass
class Shape:
    up: Up
    sandbox_url: str
    rasa_urls: list[str]
    rasa_token: str
    tracker_url: str


@pytest.fixture(scope="module")
def shape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shape]:
    if not RASA_BIN.exists():
        pytest.fail("Rasa is not installed: run `make install`.")
    assert PG_URL
    url = normalise_url(PG_URL)
    reset_postgres(url)
    env = stack_env(tmp_path_factory.mktemp("shape"))
    port, token = _two_free_ports(), secrets.token_urlsafe(16)
    env.update(
        DATABASE_URL=url,
        RASA_URL=f"http://127.0.0.1:{port}",
        RASA_TOKEN=token,
        GANGWAY_REDIS_URL=REDIS_URL,
    )
    running = Up(env, "--replicas", "2", "--rasa-replicas", "2")
    try:
        sandbox = running.expect(r"gangway is up\. .* sandbox: (http://\S+)", timeout=600).group(1)
        tracker_db = make_url(url)
        tracker_db = tracker_db.set(database=f"{tracker_db.database}_rasa")
        yield Shape(
            running,
            sandbox.rstrip("/"),
            [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"],
            token,
            tracker_db.render_as_string(hide_password=False),
        )
    finally:
        if running.proc.poll() is None:
            running.proc.send_signal(signal.SIGINT)
            try:
                running.proc.wait(60)
            except subprocess.TimeoutExpired:
                running.proc.kill()


def _senders(tracker_url: str) -> set[str]:
    """The conversations whose turns Rasa keeps in its SQL tracker store."""
    engine = make_engine(tracker_url)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(text("SELECT DISTINCT sender_id FROM events")))
    finally:
        engine.dispose()


def _replies(sandbox_url: str, number: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{sandbox_url}/sandbox/api/messages", params={"number": number}, timeout=10)
    resp.raise_for_status()
    return [m for m in resp.json()["messages"] if m["direction"] == "outbound"]


def test_the_stack_runs_two_service_processes_and_two_rasa_servers(shape: Shape) -> None:
    children = [cmd for cmd, _env in _children(shape.up.proc.pid).values()]
    assert sum(" run --enable-api" in cmd for cmd in children) == 2, children
    assert sum("actions.server" in cmd for cmd in children) == 1, children
    serve = [pid for pid, (cmd, _e) in _children(shape.up.proc.pid).items() if " serve " in cmd]
    assert len(serve) == 1, children
    wait_until(lambda: len(workers_of(serve[0])) == 2, 60, "two service processes")


def test_prospects_writing_at_once_are_each_answered_once_from_shared_trackers(
    shape: Shape,
) -> None:
    """Six prospects say hi at the same moment: each gets the greeting and the first
    question exactly once; Rasa kept six new conversations in its own database, and
    either replica reads each of them the same."""
    before = _senders(shape.tracker_url)

    def say_hi(number: str) -> int:
        resp = httpx.post(
            f"{shape.sandbox_url}/sandbox/api/inbound",
            json={"from": number, "body": "hi"},
            timeout=30,
        )
        return int(resp.json().get("webhook_status", resp.status_code))

    with ThreadPoolExecutor(max_workers=len(PROSPECTS)) as pool:
        assert list(pool.map(say_hi, PROSPECTS)) == [200] * len(PROSPECTS)
    for number in PROSPECTS:
        wait_until(lambda n=number: len(_replies(shape.sandbox_url, n)) >= 2, 240, f"{number}")
    for number in PROSPECTS:
        bodies = [m["body"] for m in _replies(shape.sandbox_url, number)]
        assert any("interested" in body for body in bodies), bodies
        assert len(bodies) == len(set(bodies)), f"a reply was sent twice: {bodies}"

    new = _senders(shape.tracker_url) - before
    assert len(new) == len(PROSPECTS)
    # The phone number stays in gangway: Rasa knows each conversation by an opaque id.
    assert not any("+1202555" in sender for sender in new)
    first, second = shape.rasa_urls
    for sender in new:
        seen = [
            httpx.get(
                f"{replica}/conversations/{sender}/tracker",
                params={"token": shape.rasa_token},
                timeout=30,
            ).json()["events"]
            for replica in (first, second)
        ]
        assert seen[0] == seen[1]
        assert any(e.get("event") == "user" and e.get("text") == "hi" for e in seen[0])

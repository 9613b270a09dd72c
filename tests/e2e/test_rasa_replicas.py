"""`gangway up --rasa-replicas 2` on PostgreSQL and Redis: one conversation whose turns
alternate between the two Rasa servers keeps its slots and its form, because both keep
trackers in the shared SQL tracker store and take turns under the Redis lock store."""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from bot.adapters.db import normalise_url
from bot.entrypoints.supervisor import RASA_BIN
from tests.conftest import PG_URL, reset_postgres
from tests.e2e.processes import free_port
from tests.e2e.test_up_and_doctor import Up, stack_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="GANGWAY_TEST_DATABASE_URL is not set"),
]

REDIS_URL = "redis://127.0.0.1:6379/3"


def _two_free_ports() -> int:
    """A port whose next one is free too: the second replica listens there."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], str]]:
    """The stack with two Rasa replicas; their URLs and Rasa's token."""
    if not RASA_BIN.exists():
        pytest.fail("Rasa is not installed: run `make install`.")
    assert PG_URL
    url = normalise_url(PG_URL)
    reset_postgres(url)
    env = stack_env(tmp_path_factory.mktemp("replicas"))
    port, token = _two_free_ports(), secrets.token_urlsafe(16)
    env.update(
        DATABASE_URL=url,
        RASA_URL=f"http://127.0.0.1:{port}",
        RASA_TOKEN=token,
        GANGWAY_REDIS_URL=REDIS_URL,
    )
    running = Up(env, "--rasa-replicas", "2")
    try:
        running.expect(r"gangway is up", timeout=600)
        yield [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"], token
    finally:
        if running.proc.poll() is None:
            running.proc.send_signal(signal.SIGINT)
            try:
                running.proc.wait(60)
            except subprocess.TimeoutExpired:
                running.proc.kill()


def _turn(rasa: str, sender: str, text: str) -> list[dict[str, Any]]:
    resp = httpx.post(
        f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60
    )
    resp.raise_for_status()
    answer: list[dict[str, Any]] = resp.json()
    return answer


def _tracker(rasa: str, token: str, sender: str) -> dict[str, Any]:
    resp = httpx.get(f"{rasa}/conversations/{sender}/tracker", params={"token": token}, timeout=30)
    resp.raise_for_status()
    tracker: dict[str, Any] = resp.json()
    return tracker


def _user_texts(tracker: dict[str, Any]) -> list[str]:
    return [e["text"] for e in tracker["events"] if e.get("event") == "user"]


def test_turns_alternating_between_replicas_keep_the_conversation(
    replicas: tuple[list[str], str],
) -> None:
    """ "hi" on one replica opens the qualification form; the other replica continues
    that form, and each sees every turn the other took, in order.

    (The form's answers come from gangway's records of the conversation, which a
    conversation typed straight to Rasa has none of: what is shared here is Rasa's
    own state, the active form, the question asked and the events.)"""
    (first, second), token = replicas
    sender = f"e2e-replicas-{secrets.token_hex(4)}"
    assert _turn(first, sender, "hi")
    opened = _tracker(second, token, sender)
    assert opened["active_loop"]["name"] == "qualification_form"
    assert opened["slots"]["requested_slot"] == "product"

    assert _turn(second, sender, "a mortgage")
    assert _turn(first, sender, "what are your opening hours")
    assert _turn(second, sender, "thanks")
    seen_by_first, seen_by_second = (_tracker(r, token, sender) for r in (first, second))
    said = ["hi", "a mortgage", "what are your opening hours", "thanks"]
    assert _user_texts(seen_by_first) == _user_texts(seen_by_second) == said
    assert seen_by_first["events"] == seen_by_second["events"]


def test_conversations_served_by_both_replicas_at_once_each_keep_their_turns(
    replicas: tuple[list[str], str],
) -> None:
    """Eight conversations at the same moment, their turns alternating between the
    replicas: each tracker holds its own turns, in order, whichever replica is asked.

    Turns of one conversation come one at a time, as gangway sends them (a conversation
    is leased to one service process, whose turns for it are sequential): Rasa's Redis
    lock store issues its tickets with a read and a write that are not atomic, so two
    turns of one conversation arriving at two replicas at the same instant may both
    run, and one be lost from the tracker."""
    (first, second), token = replicas
    senders = [f"e2e-replicas-{secrets.token_hex(4)}" for _ in range(8)]
    said = [f"what are your opening hours {n}" for n in range(3)]

    def converse(n: int) -> None:
        for k, text in enumerate(said):
            _turn((first, second)[(n + k) % 2], senders[n], text)

    with ThreadPoolExecutor(max_workers=len(senders)) as pool:
        list(pool.map(converse, range(len(senders))))
    for n, sender in enumerate(senders):
        assert _user_texts(_tracker((first, second)[n % 2], token, sender)) == said, sender


def test_the_trackers_are_in_their_own_database_not_gangways(
    replicas: tuple[list[str], str],
) -> None:
    """Rasa's table lives in <database>_rasa; gangway's database holds none of it."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from bot.adapters.db import make_engine

    assert PG_URL
    url = make_url(normalise_url(PG_URL))
    gangway = make_engine(url.render_as_string(hide_password=False))
    trackers = make_engine(
        url.set(database=f"{url.database}_rasa").render_as_string(hide_password=False)
    )
    try:
        assert "events" in inspect(trackers).get_table_names()
        assert "events" not in inspect(gangway).get_table_names()
    finally:
        gangway.dispose()
        trackers.dispose()

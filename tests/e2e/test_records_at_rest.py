"""Nothing a prospect discloses lies readable at rest: after a scripted conversation
through the real stack (sandbox, signed webhooks, the real Rasa server), the raw
database files (SQLite's main file and write-ahead log) or PostgreSQL's table dumps,
and every log, are searched for the values: none is found."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from bot.adapters.db import make_engine
from tests.e2e.conftest import Rasa
from tests.e2e.processes import wait_until
from tests.e2e.scripted import LiveStack, live_stack, run_script

pytestmark = pytest.mark.e2e

NUMBER = "whatsapp:+12025550163"
NAME = "Zelda Quixworth-Example"
# Invented values with valid check digits: the German passport specimen, a test IBAN,
# Visa's documented test card.
PASSPORT = "C01X00T47"
IBAN_SPACED = "DE89 3704 0044 0532 0130 00"
CARD = "4111 1111 1111 1111"


def forms(value: str) -> list[bytes]:
    """A value as it could sit in a file: as typed, without spaces, and in hex (how a
    PostgreSQL dump shows bytes)."""
    found = {value, value.replace(" ", "")}
    out = []
    for v in found:
        out += [v.encode(), v.encode().hex().encode()]
    return out


def secrets_of(link: str) -> dict[str, list[bytes]]:
    token = link.rsplit("/", 1)[1]
    return {
        "passport": forms(PASSPORT),
        "iban": forms(IBAN_SPACED),
        "card": forms(CARD),
        "number": forms(NUMBER.removeprefix("whatsapp:+")),
        "name": forms(NAME),
        "invite token": forms(token),
    }


def database_bytes(database_url: str) -> bytes:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    engine = make_engine(database_url)
    dump = []
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            for table in list(tables):
                rows = conn.execute(text(f'SELECT "{table}"::text FROM "{table}"')).scalars()
                dump += [f"{table}: {row}" for row in rows]
    finally:
        engine.dispose()
    return "\n".join(dump).encode()


@pytest.fixture
def live(rasa: Rasa, database_url: str, tmp_path: Path) -> Iterator[LiveStack]:
    yield from live_stack(rasa, database_url, tmp_path)


def test_disclosed_values_are_nowhere_at_rest_nor_in_the_logs(
    live: LiveStack,
    database_url: str,
    tmp_path: Path,
    logs_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # The prospect's WhatsApp profile name comes with every message they send.
    sid = live.send(NUMBER, {"body": "hello", "profile_name": NAME})
    wait_until(lambda: live.settled(NUMBER, sid), 90, "the first message to be answered")
    run_script(
        live,
        {
            "name": "records at rest",
            "number": NUMBER,
            "steps": [
                {"say": "hi", "replies": [{"bot": "any"}, {"question": "product"}]},
                {"say": f"My passport number is {PASSPORT}", "replies": [{"text": "consent"}]},
                {"say": "yes", "replies": [{"text": "invite"}]},
                {
                    "say": f"my IBAN is {IBAN_SPACED} and my card {CARD}",
                    "replies": [{"text": "redirect_notice"}],
                },
                {"wait": "1h", "replies": [{"text": "invite_reminder"}]},
            ],
        },
    )
    invite = next(m["body"] for m in live.outbound(NUMBER) if "/secure/invite/" in m["body"])
    link = next(w for w in invite.split() if "/secure/invite/" in w)
    secrets = secrets_of(link)

    stored = database_bytes(database_url)
    assert len(stored) > 10_000  # the files were found and hold the conversation
    found = {name for name, values in secrets.items() if any(v in stored for v in values)}
    assert found == set()

    # Every log: gangway's own (it runs in this process), and the files of every process
    # the test started. The sandbox stands in for Twilio, which holds the messages
    # anyway: its log is not gangway's and is left out.
    # The test's own calls to the sandbox's chat API (/sandbox/api/, which gangway never
    # calls) name the number in their URL: they are the test's, not gangway's.
    gangway_records = [r for r in caplog.records if "/sandbox/api/" not in r.getMessage()]
    logs = "\n".join(r.getMessage() for r in gangway_records).encode()
    for path in [*tmp_path.rglob("*.log"), *logs_dir.rglob("*.log")]:
        if path.name != "sandbox.log":
            logs += path.read_bytes()
    leaked = {name for name, values in secrets.items() if any(v in logs for v in values)}
    assert leaked == set()

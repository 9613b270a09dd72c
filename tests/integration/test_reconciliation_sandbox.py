"""Reconciliation through the real twilio 9 client against the sandbox on loopback,
and `gangway audit reconcile` end to end (output and exit code).

A small receiver stands in for gangway's webhook: it records each inbound message
with the real receiving use case, except bodies starting "lost", which it answers 500
to, so the sandbox holds a message gangway never recorded.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from twilio.rest import Client
from typer.testing import CliRunner

from bot.adapters.db import SessionFactory
from bot.adapters.vault import Vault
from bot.domain.inbound import parse_inbound
from bot.domain.reconciliation import Side
from bot.entrypoints.cli import app as cli
from bot.sandbox import SandboxConfig, create_app
from bot.sandbox.server import ServerThread
from bot.service_layer.ports import SystemClock
from bot.service_layer.receiving import record_inbound
from bot.service_layer.reconciliation import Reconciler
from integrations.twilio_history import TwilioMessageHistory
from integrations.twilio_whatsapp import TwilioWhatsApp
from tests.fakes.keys import keys_env
from tests.integration.gangway_records import record_in, record_out

ACCOUNT = "AC" + "4" * 32
TOKEN = "reconcile-token"
BUSINESS = "whatsapp:+12025550100"
ANNA = "whatsapp:+12025550123"
BERT = "whatsapp:+12025550145"


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `condition` until truthy (the sandbox delivers in a background thread)."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
    return result


class GangwayWebhook:
    """Records inbound webhooks into whichever database the current test uses."""

    def __init__(self) -> None:
        self.sessions: SessionFactory | None = None
        self.app = FastAPI()

        @self.app.post("/webhooks/twilio/whatsapp")
        async def receive(request: Request) -> Response:
            params = {k: str(v) for k, v in (await request.form()).items()}
            if self.sessions is None or params.get("Body", "").startswith("lost"):
                return Response(status_code=500)
            with self.sessions.begin() as s:
                record_inbound(s, parse_inbound(params), datetime.now(UTC))
            return Response("<Response></Response>", media_type="text/xml")


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[GangwayWebhook, str]]:
    receiver = GangwayWebhook()
    with ServerThread(receiver.app) as server:
        yield receiver, server.url


def _sandbox(webhook_url: str, delay: float) -> SandboxConfig:
    return SandboxConfig(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        webhook_url=webhook_url + "/webhooks/twilio/whatsapp",
        business_number=BUSINESS,
        default_prospect=ANNA,
        status_delay_seconds=delay,
    )


@pytest.fixture(scope="module")
def sandbox(webhook: tuple[GangwayWebhook, str]) -> Iterator[str]:
    with ServerThread(create_app(_sandbox(webhook[1], 0.01))) as server:
        yield server.url


@pytest.fixture
def gangway(
    sandbox: str, webhook: tuple[GangwayWebhook, str], sessions: SessionFactory
) -> Iterator[SessionFactory]:
    """The sandbox emptied, and the webhook recording into this test's database."""
    httpx.delete(sandbox + "/sandbox/api/messages").raise_for_status()
    webhook[0].sessions = sessions
    yield sessions
    webhook[0].sessions = None


def history_at(url: str, page_size: int = 1000) -> TwilioMessageHistory:
    return TwilioMessageHistory(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        business_number=BUSINESS,
        base_url=url,
        page_size=page_size,
    )


def prospect_writes(sandbox: str, number: str, body: str) -> str:
    answer = httpx.post(
        sandbox + "/sandbox/api/inbound", json={"from": number, "body": body}, timeout=20
    )
    return str(answer.raise_for_status().json()["message_sid"])


def gangway_sends(sessions: SessionFactory, sandbox: str, to: str, body: str) -> str:
    """Sent with gangway's sender and kept in the outbox, as the worker does."""
    sender = TwilioWhatsApp(
        account_sid=ACCOUNT, auth_token=TOKEN, from_number=BUSINESS, base_url=sandbox
    )
    sent = sender.send(to=to, body=body)
    sender.close()
    record_out(sessions, sent.sid, to, datetime.now(UTC))
    return sent.sid


def is_delivered(client: Client, sid: str) -> bool:
    return bool(client.messages(sid).fetch().status == "delivered")


def delivered(client: Client, *sids: str) -> None:
    """Wait until each is sent: only then has it the send date the list filters on."""
    for sid in sids:
        wait_for(functools.partial(is_delivered, client, sid))


@pytest.fixture
def client(sandbox: str) -> Client:
    twilio = Client(ACCOUNT, TOKEN)
    twilio.api.base_url = sandbox
    return twilio


def reconcile(sessions: SessionFactory, url: str) -> Any:
    # Grace 0: these messages are a moment old, and nothing else is in flight.
    return Reconciler(sessions, SystemClock(), history_at(url), grace=timedelta(0))


def test_sandbox_and_gangway_agree(gangway: SessionFactory, sandbox: str, client: Client) -> None:
    """A prospect's message and gangway's answer are on both sides: clean."""
    inbound = prospect_writes(sandbox, ANNA, "What are your opening hours?")
    outbound = gangway_sends(gangway, sandbox, ANNA, "From 9 to 5.")
    delivered(client, outbound)

    report = reconcile(gangway, sandbox).reconcile_since(timedelta(hours=1))

    assert report.result.clean
    assert (report.result.provider.inbound, report.result.provider.outbound) == (1, 1)
    assert (report.result.gangway.inbound, report.result.gangway.outbound) == (1, 1)
    assert inbound.startswith("SM")


def test_gaps_on_both_sides_through_the_sandbox(
    gangway: SessionFactory, sandbox: str, client: Client
) -> None:
    """Messages only the sandbox holds, and gangway records the sandbox never saw,
    are each a gap on its side."""
    prospect_writes(sandbox, ANNA, "hello")  # recorded by gangway
    lost = prospect_writes(sandbox, BERT, "lost on the way")  # webhook failed
    around = client.messages.create(to=ANNA, from_=BUSINESS, body="sent around gangway").sid
    delivered(client, around)
    now = datetime.now(UTC)
    record_in(gangway, "SM" + "d" * 32, BERT, now - timedelta(minutes=5))
    record_out(gangway, "SM" + "e" * 32, ANNA, now - timedelta(minutes=4))

    report = reconcile(gangway, sandbox).reconcile_since(timedelta(hours=1))

    found = {(g.side, g.sid, g.direction) for g in report.result.gaps}
    assert found == {
        (Side.NOT_IN_GANGWAY, lost, "inbound"),
        (Side.NOT_IN_GANGWAY, around, "outbound"),
        (Side.NOT_AT_PROVIDER, "SM" + "d" * 32, "inbound"),
        (Side.NOT_AT_PROVIDER, "SM" + "e" * 32, "outbound"),
    }
    assert (report.result.provider.inbound, report.result.provider.outbound) == (2, 1)


def test_history_pages_through_both_directions(
    gangway: SessionFactory, sandbox: str, client: Client
) -> None:
    """With pages of two, every message of the range in each direction is read once,
    those of the range's last (partial) second included."""
    for text in ("one", "two", "three"):
        prospect_writes(sandbox, ANNA, text)
    sent = [client.messages.create(to=ANNA, from_=BUSINESS, body=t).sid for t in "abc"]
    delivered(client, *sent)
    listed = history_at(sandbox, page_size=2).sent_between(
        datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC)
    )
    assert [m.direction for m in listed].count("inbound") == 3
    assert {m.sid for m in listed if m.direction == "outbound"} == set(sent)
    assert [m.date_sent for m in listed] == sorted(m.date_sent for m in listed if m.date_sent)
    assert len({m.sid for m in listed}) == 6


def test_message_still_queued_at_the_sandbox_is_no_gap(
    webhook: tuple[GangwayWebhook, str], sessions: SessionFactory
) -> None:
    """An accepted message not sent yet has no send date: fetched by id, it is there."""
    with ServerThread(create_app(_sandbox(webhook[1], delay=60.0))) as slow:
        sid = gangway_sends(sessions, slow.url, ANNA, "Your advisor will call.")
        report = reconcile(sessions, slow.url).reconcile_since(timedelta(hours=1))
    assert report.result.clean
    assert report.result.provider.outbound == 0 and report.result.gangway.outbound == 1
    assert sid.startswith("SM")


def run_cli(
    database_url: str, sandbox: str, vault: Vault, *args: str, grace: str = "0"
) -> tuple[int, str]:
    env = {
        **keys_env(vault.keyring),
        "DATABASE_URL": database_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_WHATSAPP_FROM": BUSINESS,
        "TWILIO_API_BASE_URL": sandbox,
        "GANGWAY_RECONCILE_GRACE": grace,
    }
    result = CliRunner().invoke(cli, ["audit", "reconcile", *args], env=env)
    return result.exit_code, result.output


def test_cli_reports_gaps_plainly_and_exits_1(
    database_url: str, gangway: SessionFactory, sandbox: str, client: Client, vault: Vault
) -> None:
    """`gangway audit reconcile --since 90m` lists each gap (sid, masked number, which
    side), never a body or a whole number, and exits 1."""
    prospect_writes(sandbox, ANNA, "hello")  # WhatsApp's window open: free-form goes out
    around = client.messages.create(to=ANNA, from_=BUSINESS, body="a private offer").sid
    delivered(client, around)
    record_in(gangway, "SM" + "f" * 32, BERT, datetime.now(UTC) - timedelta(minutes=3))

    code, out = run_cli(database_url, sandbox, vault, "--since", "90m")

    assert code == 1, out
    assert "GAPS: 1 not in gangway, 1 not at the provider" in out
    lines = out.splitlines()
    assert any(around in line and "at the provider but not in gangway" in line for line in lines)
    assert any("SM" + "f" * 32 in line and "not at the provider" in line for line in lines)
    assert "whatsapp:+1202*****23" in out
    assert ANNA not in out and BERT not in out and "private offer" not in out


def test_cli_clean_range_exits_0(
    database_url: str, gangway: SessionFactory, sandbox: str, client: Client, vault: Vault
) -> None:
    """With both sides agreeing the command says so and exits 0."""
    prospect_writes(sandbox, ANNA, "hi")
    delivered(client, gangway_sends(gangway, sandbox, ANNA, "Hello!"))
    code, out = run_cli(database_url, sandbox, vault, "--since", "24h")
    assert code == 0, out
    assert "no gaps" in out and "1 inbound, 1 outbound" in out


@pytest.mark.parametrize(
    ("since", "grace", "reason"),
    [
        ("yesterday", "0", "is not a duration"),
        ("24", "0", "is not a duration"),
        ("0h", "0", "empty duration"),
        ("5m", "10", "grace period"),
    ],
)
def test_cli_rejects_a_bad_since_with_exit_2(
    database_url: str,
    gangway: SessionFactory,
    sandbox: str,
    since: str,
    grace: str,
    reason: str,
    vault: Vault,
) -> None:
    """A --since that is no duration, or no longer than the grace period, is a plain
    error with exit 2."""
    code, out = run_cli(database_url, sandbox, vault, "--since", since, grace=grace)
    assert code == 2, out
    assert "--since" in out and reason in out


def test_cli_without_twilio_credentials_exits_2(database_url: str) -> None:
    """Without Twilio credentials (or the sandbox's) there is nothing to compare with."""
    result = CliRunner().invoke(
        cli,
        ["audit", "reconcile"],
        env={"DATABASE_URL": database_url, "TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": ""},
    )
    assert result.exit_code == 2
    assert "TWILIO_ACCOUNT_SID" in result.output

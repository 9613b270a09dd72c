"""Two service processes (`gangway serve --workers 2`) on PostgreSQL with the real Rasa:
a burst of prospects writing at once gets every message answered, once."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from bot.adapters.tables import InboxMessage, OutboxMessage
from tests.conftest import PG_URL
from tests.e2e.conftest import Stack
from tests.e2e.processes import Proc, wait_until
from tests.integration.test_service_processes import started, workers_of

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="GANGWAY_TEST_DATABASE_URL is not set"),
]

PROSPECTS = [f"whatsapp:+1202555{n:04d}" for n in range(120, 136)]


def _restart_with_two_workers(stack: Stack) -> Proc:
    assert stack.service is not None
    stack.service.stop()
    argv = [sys.executable, "-m", "bot.entrypoints.cli", "serve", "--workers", "2"]
    stack.service = Proc("gangway-workers", argv, stack.env, stack.logs)
    stack.service.wait_ready(f"{stack.service_url}/readyz", timeout=180)
    service = stack.service
    wait_until(lambda: len(workers_of(service.popen.pid)) == 2, 60, "two worker processes")
    wait_until(lambda: started(service) == 2, 180, "both workers to finish starting")
    return service


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_burst_of_prospects_is_answered_once_each_by_two_processes(stack: Stack) -> None:
    """16 prospects say hi at the same moment: 16 messages recorded, each answered with
    the greeting and the first question, exactly once."""
    service = _restart_with_two_workers(stack)

    def type_hi(number: str) -> int:
        with httpx.Client(timeout=30) as http:
            resp = http.post(
                f"{stack.sandbox_url}/sandbox/api/inbound", json={"from": number, "body": "hi"}
            )
            return int(resp.json().get("webhook_status", resp.status_code))

    with ThreadPoolExecutor(max_workers=len(PROSPECTS)) as pool:
        assert list(pool.map(type_hi, PROSPECTS)) == [200] * len(PROSPECTS)
    for number in PROSPECTS:
        stack.wait_for_replies(number, 2, timeout=240)

    sessions = stack.sessions()
    with sessions() as s:
        inbound = s.execute(select(InboxMessage.status, func.count()).group_by(InboxMessage.status))
        assert dict(inbound.all()) == {"done": len(PROSPECTS)}
        replies = s.execute(
            select(func.count()).select_from(OutboxMessage).group_by(OutboxMessage.inbox_id)
        ).scalars()
        assert sorted(replies) == [2] * len(PROSPECTS)
    for number in PROSPECTS:
        assert len(stack.received(number)) == 2
    log = service.log_path.read_text(errors="replace")
    assert log.count("already at revision") == 1  # the parent's check; no worker migrates
    assert "Running upgrade" not in log

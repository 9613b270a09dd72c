"""The running service reconciles on its own schedule, when it has a provider to ask."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.adapters.tables import ReconciliationRun
from bot.bootstrap import Container, build
from bot.config import load_settings
from bot.entrypoints.app import create_app
from tests.fakes.clock import FakeClock
from tests.fakes.ports import (
    FakeDialogue,
    FakeMessageHistory,
    FakeModel,
    FakeSender,
    FakeUnderstanding,
)


def container(
    database_url: str, clock: FakeClock, tmp_path: Path, interval: str, with_history: bool
) -> Container:
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "test-auth-token-0123456789abcdef",
            "GANGWAY_STATE_DIR": str(tmp_path),
            "GANGWAY_RECONCILE_INTERVAL": interval,
        }
    )
    return build(
        settings,
        clock=clock,
        dialogue=FakeDialogue(),
        understanding=FakeUnderstanding(),
        model=FakeModel(),
        sender=FakeSender(clock.now),
        history=FakeMessageHistory() if with_history else None,
    )


@pytest.fixture
def service(database_url: str, clock: FakeClock, tmp_path: Path) -> Iterator[Container]:
    made = container(database_url, clock, tmp_path, "24", with_history=True)
    with TestClient(create_app(lambda: made)):
        yield made


def test_service_runs_the_scheduled_reconciliation(service: Container) -> None:
    """Started with the service, the job records a scheduled run of the last day."""
    assert service.reconcile_scheduler in service.background
    assert service.reconcile_scheduler is not None and service.reconcile_scheduler.running
    service.reconcile_scheduler.run_now()
    deadline = time.monotonic() + 10
    while True:
        with service.sessions() as s:
            done = s.scalars(
                select(ReconciliationRun).where(ReconciliationRun.outcome != "running")
            ).all()
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    [run] = done
    assert (run.trigger, run.outcome) == ("schedule", "clean")


@pytest.mark.parametrize(
    ("interval", "with_history"), [("0", True), ("24", False)], ids=["off", "no-provider"]
)
def test_no_scheduled_reconciliation_when_off_or_without_provider(
    database_url: str, clock: FakeClock, tmp_path: Path, interval: str, with_history: bool
) -> None:
    """Interval 0 turns the job off; without Twilio or the sandbox to ask it does nothing."""
    made = container(database_url, clock, tmp_path, interval, with_history)
    try:
        assert made.reconcile_scheduler is None
    finally:
        made.close()

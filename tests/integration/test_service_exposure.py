"""What the service shows to anyone who can reach it without signing in: the API
documentation only where the settings allow it, and readiness without error details."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from bot.bootstrap import Container, build
from bot.config import load_settings
from bot.entrypoints.app import create_app
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding

DOC_PATHS = ("/docs", "/redoc", "/openapi.json")


def _never_built() -> Container:
    raise AssertionError("no request here needs the container")


def _doc_statuses(env: dict[str, str]) -> list[int]:
    settings = load_settings(env)
    client = TestClient(create_app(_never_built, api_docs=settings.api_docs_enabled))
    return [client.get(path).status_code for path in DOC_PATHS]


def test_api_documentation_is_served_in_development() -> None:
    """By default (development) /docs, /redoc and /openapi.json are there."""
    assert _doc_statuses({}) == [200, 200, 200]


def test_api_documentation_is_off_in_production() -> None:
    """With GANGWAY_ENV=production, /docs, /redoc and /openapi.json answer 404."""
    assert _doc_statuses({"GANGWAY_ENV": "production"}) == [404, 404, 404]


def test_api_docs_setting_overrides_the_environment() -> None:
    """GANGWAY_API_DOCS=on serves them in production; =off hides them in development."""
    assert _doc_statuses({"GANGWAY_ENV": "production", "GANGWAY_API_DOCS": "on"}) == [200] * 3
    assert _doc_statuses({"GANGWAY_API_DOCS": "off"}) == [404] * 3


def test_readiness_hides_why_the_database_failed(
    database_url: str, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """/readyz answers 503 "database unavailable" when the database cannot be opened; the
    driver's message (which names the file or host) is logged, not returned."""
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "test-auth-token-0123456789abcdef",
            "GANGWAY_STATE_DIR": str(tmp_path),
        }
    )
    container = build(
        settings,
        clock=clock,
        dialogue=FakeDialogue(),
        understanding=FakeUnderstanding(),
        model=FakeModel(),
        sender=FakeSender(clock.now),
    )
    missing = tmp_path / "no-such-directory" / "gangway.db"
    broken = dataclasses.replace(container, engine=create_engine(f"sqlite:///{missing}"))
    try:
        with caplog.at_level(logging.ERROR), TestClient(create_app(lambda: broken)) as client:
            answer = client.get("/readyz")
    finally:
        container.engine.dispose()
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "database": "database unavailable"}
    assert "no-such-directory" not in answer.text
    assert "unable to open database file" in caplog.text

"""Upgrading a database whose API tokens never expired gives each the default
lifetime from when it was made, so old tokens stop working like new ones would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from bot.adapters.db import make_engine
from bot.adapters.migrate import upgrade
from bot.adapters.tables import ApiToken
from tests.conftest import PG_URL, reset_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("GANGWAY_TEST_DATABASE_URL is not set")
        reset_postgres(PG_URL)
        engine = make_engine(PG_URL)
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    yield engine
    engine.dispose()


def test_existing_tokens_expire_ninety_days_after_they_were_made(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0008")
    made = datetime(2026, 1, 5, 8, 30)  # stored naive UTC, as the tables store times
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (email, display_name, role, password_hash, active, countries,"
                " products, languages, available, created_at) VALUES ('anna@example.com',"
                " 'Anna', 'advisor', '!', true, '[]', '[]', '[]', true, :made)"
            ),
            {"made": made},
        )
        conn.execute(
            text(
                "INSERT INTO api_tokens (token_sha256, user_id, name, created_at)"
                " VALUES (:digest, 1, 'crm-sync', :made)"
            ),
            {"digest": "0" * 64, "made": made},
        )
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        expires = conn.execute(select(ApiToken.expires_at)).scalar_one()
    assert expires == (made + timedelta(days=90)).replace(tzinfo=UTC)

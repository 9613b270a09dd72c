"""The database holds at most one open handoff per conversation, and upgrading a database
that already has twins closes the younger ones instead of failing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from bot.adapters.db import make_engine, make_session_factory, normalise_url
from bot.adapters.migrate import upgrade
from bot.adapters.tables import Conversation, Handoff
from bot.adapters.vault import Vault
from tests.conftest import PG_URL, reset_postgres
from tests.fakes.prospects import add_prospect

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with no schema at all."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        if not PG_URL:
            pytest.skip("GANGWAY_TEST_DATABASE_URL is not set")
        url = normalise_url(PG_URL)
        reset_postgres(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def handoff(conversation_id: str, status: str = "queued") -> Handoff:
    return Handoff(
        conversation_id=conversation_id,
        reason="human_request",
        status=status,
        queue="general",
        level="public",
        summary=json.dumps({"reason": "human_request"}),
        created_at=AT,
        updated_at=AT,
        closed_at=AT if status == "closed" else None,
    )


def test_upgrading_closes_all_but_the_oldest_open_handoff(
    empty_engine: Engine, vault: Vault
) -> None:
    """Twins from before the upgrade: the oldest stays open, the others are closed and
    say which handoff they duplicated; closed ones and other conversations are untouched."""
    upgrade(empty_engine, "0008")
    sessions = make_session_factory(empty_engine, vault)
    # The conversations as the schema of 0008 had them: the mapped class has columns
    # added since, so only the columns named here are inserted.
    with empty_engine.begin() as conn:
        conn.execute(
            insert(Conversation.__table__),
            [{"id": cid, "created_at": AT, "level": "public"} for cid in ("c-1", "c-2")],
        )
    with sessions.begin() as s:
        s.add_all(
            [
                handoff("c-1", "closed"),
                handoff("c-1", "claimed"),
                handoff("c-1", "queued"),
                handoff("c-1", "escalated"),
                handoff("c-2", "assigned"),
            ]
        )

    upgrade(empty_engine)

    with sessions() as s:
        rows = [(h.id, h.status, json.loads(h.summary)) for h in s.scalars(select(Handoff))]
    rows.sort()
    assert [(i, st) for i, st, _ in rows] == [
        (1, "closed"),
        (2, "claimed"),
        (3, "closed"),
        (4, "closed"),
        (5, "assigned"),
    ]
    assert [r[2].get("closed_reason") for r in rows] == [
        None,
        None,
        "duplicate of handoff 2",
        "duplicate of handoff 2",
        None,
    ]


def test_a_second_open_handoff_is_refused_but_closed_ones_may_pile_up(
    empty_engine: Engine, vault: Vault
) -> None:
    """Any number of closed handoffs, but a second open one fails to insert."""
    upgrade(empty_engine)
    sessions = make_session_factory(empty_engine, vault)
    with sessions.begin() as s:
        add_prospect(s, "whatsapp:+12025550133", Conversation(id="c-1", created_at=AT))
        s.add_all([handoff("c-1", "closed"), handoff("c-1", "closed"), handoff("c-1")])
    with pytest.raises(IntegrityError), sessions.begin() as s:
        s.add(handoff("c-1", "claimed"))

"""Two service processes acting on the same rows at once, on PostgreSQL: two advisors
claiming one handoff, two openers of a handoff for one conversation, two issuers
delivering one invite. Each race is played for many rounds by two real processes
(tests/integration/race_workers.py) that meet at a barrier before each round."""

from __future__ import annotations

import multiprocessing
import queue
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.adapters.db import SessionFactory, make_engine, make_session_factory, normalise_url
from bot.adapters.migrate import upgrade
from bot.adapters.tables import Conversation, Handoff, Invite, OutboxMessage, Timer, User
from bot.adapters.vault import Vault
from bot.service_layer import handoffs
from bot.service_layer.handoff_events import NoHandoffEvents
from tests.conftest import PG_URL, reset_postgres
from tests.fakes.keys import fake_vault
from tests.fakes.prospects import add_prospect
from tests.integration.race_workers import PUBLIC, QueueRouter, race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="GANGWAY_TEST_DATABASE_URL is not set"),
]

ROUNDS = 20
START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def pg() -> Iterator[tuple[str, Vault, SessionFactory]]:
    """An empty, migrated PostgreSQL database, its keys, and sessions on it."""
    assert PG_URL
    url = normalise_url(PG_URL)
    reset_postgres(url)
    engine = make_engine(url)
    upgrade(engine)
    vault = fake_vault()
    yield url, vault, make_session_factory(engine, vault)
    engine.dispose()


def run_race(what: str, url: str, vault: Vault) -> list[tuple[int, int, Any]]:
    """Both processes' (round, worker, outcome) for every round."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=race, args=(what, url, vault.keyring, w, ROUNDS, START, barrier, results)
        )
        for w in range(2)
    ]
    for p in workers:
        p.start()
    outcomes, failures = [], []
    try:
        while len(outcomes) < 2 * ROUNDS and len(failures) < 2:
            outcome = results.get(timeout=120)
            (failures if outcome[0] < 0 else outcomes).append(outcome)
    except queue.Empty:
        pytest.fail(f"the {what} race did not finish")
    finally:
        for p in workers:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert not failures, "\n".join(f[2] for f in failures)  # the workers' tracebacks
    return outcomes


def add_conversations(sessions: SessionFactory, count: int, **fields: Any) -> None:
    with sessions.begin() as s:
        for r in range(count):
            add_prospect(
                s,
                f"whatsapp:+1202555{r:04d}",
                Conversation(
                    id=f"c-{r}", created_at=START, level="public", language="en", **fields
                ),
            )


def test_two_advisors_claiming_at_once_have_exactly_one_winner(
    pg: tuple[str, Vault, SessionFactory],
) -> None:
    """In every round one advisor's claim wins and the other is refused; the handoff
    names the winner."""
    url, vault, sessions = pg
    add_conversations(sessions, ROUNDS, state="handoff_requested", last_inbound_at=START)
    with sessions.begin() as s:
        for uid in (1, 2):
            s.add(
                User(
                    id=uid,
                    email=f"advisor{uid}@example.com",
                    display_name=f"Advisor {uid}",
                    role="advisor",
                    password_hash="x",
                    active=True,
                    team="berlin",
                    countries="[]",
                    products="[]",
                    languages="[]",
                    available=True,
                    created_at=START,
                )
            )
        for r in range(ROUNDS):
            handoffs.open_handoff(
                s,
                conversation_id=f"c-{r}",
                reason="human_request",
                now=START,
                router=QueueRouter(),
                events=NoHandoffEvents(),
                public_url=PUBLIC,
            )

    outcomes = run_race("claim", url, vault)

    by_round: dict[int, dict[int, str]] = defaultdict(dict)
    for r, worker, outcome in outcomes:
        by_round[r][worker] = outcome
    assert all(sorted(o.values()) == ["lost", "won"] for o in by_round.values()), by_round
    with sessions() as s:
        claimed = {h.id: h.claimed_by for h in s.scalars(select(Handoff))}
    for r, o in by_round.items():
        winner = next(w for w, outcome in o.items() if outcome == "won")
        assert claimed[r + 1] == winner + 1


def test_two_processes_opening_a_handoff_at_once_share_one(
    pg: tuple[str, Vault, SessionFactory],
) -> None:
    """Both openers get the same handoff: a conversation never has two open ones."""
    url, vault, sessions = pg
    add_conversations(sessions, ROUNDS, state="handoff_requested", last_inbound_at=START)

    outcomes = run_race("open", url, vault)

    by_round: dict[int, set[int]] = defaultdict(set)
    for r, _worker, handoff_id in outcomes:
        by_round[r].add(handoff_id)
    assert all(len(ids) == 1 for ids in by_round.values()), by_round
    with sessions() as s:
        per_conversation = Counter(
            s.scalars(select(Handoff.conversation_id).where(Handoff.status != "closed"))
        )
        sla_timers = s.scalar(select(func.count()).select_from(Timer))
    assert per_conversation == {f"c-{r}": 1 for r in range(ROUNDS)}
    assert sla_timers == ROUNDS  # the loser routed nothing and scheduled nothing


def test_two_issuers_deliver_each_invite_once(pg: tuple[str, Vault, SessionFactory]) -> None:
    """Two processes making and delivering the same pending invites queue each invite's
    message exactly once."""
    url, vault, sessions = pg
    add_conversations(sessions, ROUNDS, state="invite_sent", last_inbound_at=START)
    with sessions.begin() as s:
        for r in range(ROUNDS):
            s.add(
                Invite(
                    conversation_id=f"c-{r}",
                    provider="stand-in",
                    token_sha256=f"{r:064x}",
                    issued_at=START,
                    expires_at=START.replace(hour=23),
                    status="pending",
                )
            )

    outcomes = run_race("invite", url, vault)

    with sessions() as s:
        messages = Counter(
            s.scalars(select(OutboxMessage.invite_id).where(OutboxMessage.kind == "protocol"))
        )
        active = s.scalar(select(func.count()).where(Invite.status == "active"))
    assert messages and max(messages.values()) == 1, messages
    assert sum(o[2] for o in outcomes) == sum(messages.values()) == active

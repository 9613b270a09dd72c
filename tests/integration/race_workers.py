"""What each of two racing processes does in test_races.py: each is a separate Python
process (``spawn``) with its own engine, meeting the other at a barrier before every
round so that both really act on the same rows at the same moment."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.adapters.db import make_engine, make_session_factory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.keyring import Keyring
from bot.adapters.tables import Handoff
from bot.adapters.vault import Vault
from bot.domain.access import Actor, Licence, Role
from bot.service_layer import handoffs
from bot.service_layer.external_invites import ExternalInviteIssuer
from bot.service_layer.handoff_events import NoHandoffEvents
from bot.service_layer.handoffs import HandoffError, Route
from bot.service_layer.ports import ExternalInvite
from bot.service_layer.transition import InviteSettings
from tests.fakes.clock import FakeClock

__all__ = ["PUBLIC", "QueueRouter", "StandInMessenger", "race"]

PUBLIC = "https://gangway.example.com"
SECRET = b"race-tests-secret-0123456789abcd"


@dataclass
class QueueRouter:
    """Every handoff to the general queue, nobody assigned."""

    def route(self, session: Session, handoff: Handoff, now: datetime) -> Route:
        return Route("general", None, "test routing", timedelta(minutes=15))

    def escalation_target(self, session: Session, handoff: Handoff) -> int | None:
        return None


class StandInMessenger:
    """A secure messenger that makes the same invite for the same reference, as the real
    one does for its idempotency key."""

    def create_invite(
        self, *, reference: str, language: str, expires_at: datetime, display_name: str | None
    ) -> ExternalInvite:
        return ExternalInvite(reference, f"https://messenger.example.com/i/{reference}", expires_at)


def race(
    what: str,
    url: str,
    keyring: Keyring,
    worker: int,
    rounds: int,
    start: datetime,
    barrier: Any,
    results: Any,
) -> None:
    """Play ``rounds`` rounds of ``what``, putting (round, worker, outcome) on ``results``;
    an unexpected error is put there as its traceback instead."""
    engine = make_engine(url)
    sessions = make_session_factory(engine, Vault(keyring))
    clock = FakeClock(start)
    try:
        for r in range(rounds):
            barrier.wait(timeout=60)
            if what == "claim":
                # Licensed for everything and taking from every queue: only the race decides.
                anywhere = frozenset({"*"})
                actor = Actor(
                    worker + 1, Role.ADVISOR, "berlin", Licence(anywhere, anywhere, anywhere), None
                )
                try:
                    with sessions.begin() as s:
                        handoffs.claim(s, actor, r + 1, clock.now(), NoHandoffEvents())
                    outcome: object = "won"
                except HandoffError:
                    outcome = "lost"
            elif what == "open":
                with sessions.begin() as s:
                    outcome = handoffs.open_handoff(
                        s,
                        conversation_id=f"c-{r}",
                        reason="human_request",
                        now=clock.now(),
                        router=QueueRouter(),
                        events=NoHandoffEvents(),
                        public_url=PUBLIC,
                    ).id
            elif what == "invite":
                issuer = ExternalInviteIssuer(
                    sessions,
                    clock,
                    StandInMessenger(),
                    FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH),
                    InviteSettings(SECRET, PUBLIC, external_provider="stand-in"),
                    None,
                    batch=1,
                )
                outcome = issuer.fire_due()
            else:
                raise ValueError(what)
            results.put((r, worker, outcome))
    except Exception:
        barrier.abort()  # the other process stops at once rather than waiting
        results.put((-1, worker, traceback.format_exc()))
    finally:
        engine.dispose()

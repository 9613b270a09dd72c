"""A/B variants in real turns: each conversation is assigned at its first turn, every
turn and consent records the flow version and variant it ran under, and a stopped
variant's conversations go on with the base flow."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH
from bot.adapters.flow_version_store import VersionedFlowStore
from bot.adapters.tables import Consent, Conversation, InboxMessage, User
from bot.domain.flow_variants import assign
from bot.service_layer import flow_governance, handoff_views, handoffs
from bot.service_layer.flow_in_force import handoff_flow
from bot.service_layer.receiving import conversation_for
from bot.service_layer.wording import wording_of
from tests.fakes.clock import FakeClock
from tests.integration.test_console import add_handoff, add_user, claim_as, make_container
from tests.integration.test_protocol import PASSPORT, Stack

ASK = {
    "en": "Shall we continue in our secure channel?",
    "de": "Sollen wir in unserem sicheren Kanal weitermachen?",
    "fr": "Continuons-nous dans notre canal sécurisé ?",
    "es": "¿Seguimos en nuestro canal seguro?",
}
VARIANT = "\n".join(
    [
        "variants:",
        "  - name: b",
        "    weight: 50",
        "    texts:",
        "      consent_question:",
        *(f'        {lang}: "{text}"' for lang, text in ASK.items()),
        "    responses:",
        "      utter_greet:",
        *(f'        {lang}: "Variant B says hello ({lang})."' for lang in ASK),
        "",
    ]
)
SHIPPED = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "default.yml"
    path.write_text(SHIPPED + VARIANT, encoding="utf-8")
    return path


@pytest.fixture
def flows(sessions: SessionFactory, flow_file: Path, clock: FakeClock) -> VersionedFlowStore:
    return VersionedFlowStore(sessions, flow_file, DEFAULT_DOMAIN_PATH, now=clock.now)


@pytest.fixture
def stack(sessions: SessionFactory, clock: FakeClock, flows: VersionedFlowStore) -> Stack:
    return Stack(sessions, clock, flows=flows)


def preset(stack: Stack, number: str, variant: str) -> None:
    """A conversation whose variant is chosen before its first turn (as a flow test does)."""
    stack.number = number
    with stack.sessions.begin() as s:
        conversation_for(s, number, stack.clock.now()).variant = variant


def turns(sessions: SessionFactory, conversation_id: str) -> list[tuple[int | None, str | None]]:
    with sessions.begin() as s:
        rows = s.scalars(
            select(InboxMessage)
            .where(InboxMessage.conversation_id == conversation_id)
            .order_by(InboxMessage.id)
        )
        return [(m.flow_version_id, m.variant) for m in rows]


def test_assignment_is_stable_recorded_and_split_by_weight(
    stack: Stack, flows: VersionedFlowStore
) -> None:
    live = flows.current()
    for n in range(120):
        stack.number = f"whatsapp:+447700900{n:03d}"
        stack.say("hi")
        stack.say("what are your opening hours?")
    with stack.sessions.begin() as s:
        conversations = list(s.scalars(select(Conversation)))
        recorded = {c.id: (c.flow_version_id, c.variant) for c in conversations}
    assert {version for version, _ in recorded.values()} == {live.version_id}
    assert all(variant == assign(live, cid) for cid, (_, variant) in recorded.items())
    counts = Counter(variant for _, variant in recorded.values())
    assert set(counts) == {None, "b"} and 36 <= counts["b"] <= 84
    for cid, (version, variant) in recorded.items():
        assert turns(stack.sessions, cid) == [(version, variant)] * 2


def test_a_consent_records_the_version_and_variant_whose_terms_were_shown(
    stack: Stack, flows: VersionedFlowStore
) -> None:
    preset(stack, "whatsapp:+447700900501", "b")
    [offer] = stack.say(PASSPORT)
    assert ASK["en"] in offer
    [consent] = stack.rows(Consent)
    assert (consent.flow_version_id, consent.variant) == (flows.current().version_id, "b")
    wording = wording_of(stack.sessions, flows, stack.conversation_id, "utter_greet")
    assert wording.text == "Variant B says hello (en)."


def test_a_stopped_variant_goes_on_with_the_base_flow(
    stack: Stack, flows: VersionedFlowStore, flow_file: Path, clock: FakeClock
) -> None:
    preset(stack, "whatsapp:+447700900502", "b")
    stack.say("hi")
    first = flows.current().version_id
    flow_file.write_text(
        SHIPPED + VARIANT.replace("weight: 50", "weight: 50\n    stopped: true"), encoding="utf-8"
    )
    flows.fire_due()  # the service's beat notices the file: a pending version
    flow_governance.approve(stack.sessions, "2", "carla (compliance)", None, clock.now())
    flows.fire_due()  # and takes the approved one
    second = flows.current().version_id
    assert second != first

    [offer] = stack.say(PASSPORT)
    assert ASK["en"] not in offer
    assert turns(stack.sessions, stack.conversation_id) == [(first, "b"), (second, None)]
    conv = stack.conversation()
    assert (conv.flow_version_id, conv.variant) == (first, "b")  # kept for the figures
    [consent] = stack.rows(Consent)
    assert (consent.flow_version_id, consent.variant) == (second, None)
    wording = wording_of(stack.sessions, flows, stack.conversation_id, "utter_greet")
    assert wording.text == flows.current().response("utter_greet", "en")


def test_an_advisors_messages_use_the_conversations_variant(
    sessions: SessionFactory, clock: FakeClock, flows: VersionedFlowStore
) -> None:
    container = make_container(sessions, clock)
    on_b, on_base = add_handoff(container, 1), add_handoff(container, 2)
    with sessions.begin() as s:
        s.get_one(Conversation, "conv-1").variant = "b"
    base = flows.current()
    with sessions.begin() as s:
        assert handoff_flow(s, on_b, base).text("consent_question", "fr") == ASK["fr"]
        assert handoff_flow(s, on_base, base) is base


def test_the_handoff_page_holds_the_advisor_to_the_conversations_variant(
    sessions: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    """A variant that moves the threshold up: at the identity level its conversation may
    still be answered on WhatsApp, the base flow's may not."""
    later = SHIPPED + VARIANT.replace(
        "    weight: 50\n", "    weight: 50\n    transition_at: financial\n"
    )
    flows = VersionedFlowStore(
        sessions, _write(tmp_path / "default.yml", later), DEFAULT_DOMAIN_PATH, now=clock.now
    )
    container = make_container(sessions, clock)
    anna = add_user(sessions, clock, "anna@example.com", "advisor")
    on_b = add_handoff(container, 1, messages=(("my passport", "identity"),), level="identity")
    on_base = add_handoff(container, 2, messages=(("my passport", "identity"),), level="identity")
    with sessions.begin() as s:
        s.get_one(Conversation, "conv-1").variant = "b"
    refusals = {}
    for handoff_id in (on_b, on_base):
        claim_as(container, anna, handoff_id)
        with sessions.begin() as s:
            actor = handoffs.actor_of(s.get_one(User, anna), container.routing.current())
        detail = handoff_views.detail_of(sessions, actor, handoff_id, clock.now(), flows.current())
        refusals[handoff_id] = detail.reply_refusal
    assert refusals[on_b] is None
    assert "reached the identity level" in (refusals[on_base] or "")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path

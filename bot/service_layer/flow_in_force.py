"""Which flow a conversation runs: its version and A/B variant.

A conversation is assigned at its first turn: the live flow version, and a variant by
a hash of its id (``bot.domain.flow_variants.assign``). A variant set before the first
turn (a flow test, a simulation) is kept. Each turn then runs the conversation's
variant of the flow in force at that moment (the base flow once the variant is
stopped), and records on its inbox message the version and variant it ran under.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.adapters.tables import Conversation, Handoff, InboxMessage
from bot.domain.flow_variants import assign, effective
from bot.domain.flows import Flow
from bot.service_layer.ports import FlowSource

__all__ = ["flow_of", "handoff_flow", "start_turn"]


def flow_of(flows: FlowSource, conv: Conversation) -> Flow:
    """The flow ``conv`` runs now (its variant's, while that variant runs)."""
    return flows.for_conversation(conv.id, conv.variant)


def start_turn(flows: FlowSource, conv: Conversation, msg: InboxMessage) -> Flow:
    """The flow the turn answering ``msg`` runs; assigns the conversation at its first
    turn and records the version and variant on ``msg``."""
    if conv.flow_version_id is None:
        base = flows.current()
        if conv.variant is None:
            conv.variant = assign(base, conv.id)
        conv.flow_version_id = base.version_id
    flow = flow_of(flows, conv)
    msg.flow_version_id, msg.variant = flow.version_id, flow.variant
    return flow


def handoff_flow(s: Session, handoff_id: int, flow: Flow) -> Flow:
    """``flow`` (the base flow in force) as the conversation of the handoff runs it: its
    variant's, while that runs. An unknown handoff gets ``flow`` (the caller refuses it)."""
    handoff = s.get(Handoff, handoff_id)
    conv = s.get(Conversation, handoff.conversation_id) if handoff is not None else None
    return effective(flow, conv.variant) if conv is not None else flow

"""Which flow a conversation runs: its version and A/B variant.

A conversation is assigned at its first turn: the live flow version, and a variant by
a hash of its id (``bot.domain.flow_variants.assign``). A variant set before the first
turn (a flow test, a simulation) is kept. Each turn then runs the conversation's
variant of the flow in force at that moment (the base flow once the variant is
stopped), and records on its inbox message the version and variant it ran under.
"""

from __future__ import annotations

from bot.adapters.tables import Conversation, InboxMessage
from bot.domain.flow_variants import assign
from bot.domain.flows import Flow
from bot.service_layer.ports import FlowSource

__all__ = ["flow_of", "start_turn"]


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

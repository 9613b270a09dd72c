"""Processes dying under load: a service process, the Rasa server, the database's
connections. Whatever dies, every message is answered once, in order."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.adapters.tables import Conversation
from tests.faults.checks import assert_answered_once_in_order
from tests.faults.conftest import Rasa
from tests.faults.load import Stream
from tests.faults.stack import FaultStack

pytestmark = pytest.mark.faults


def test_a_killed_service_process_work_is_taken_over(stack: FaultStack, rasa: Rasa) -> None:
    """SIGKILL one of two service processes mid-stream: the other takes over its
    conversations once their leases expire and answers every message once, in order."""
    survivor = stack.start_service("b", rasa.service_port)
    victim = stack.start_service("a")
    # The balancer keeps sending to both: deliveries to the dead one are refused and
    # go to the other, as a balancer without health checks does.
    stream = Stream(stack, lambda: [victim, survivor]).start()
    stream.wait_sent(30)
    stack.kill_service("a")
    with stack.sessions().begin() as s:
        orphaned = s.scalar(select(func.count()).where(Conversation.lease_owner == "faults-a"))
    sent = stream.join()

    outcome = assert_answered_once_in_order(stack, sent)
    print(f"killed with {orphaned} conversation(s) leased; {outcome}")
    assert stream.delivery.failures, "no delivery reached the killed process"


def test_rasa_killed_and_restarted_mid_stream(stack: FaultStack, rasa: Rasa) -> None:
    """Rasa SIGKILLed mid-stream and started again: the messages wait and are
    answered once, in order, when it is back."""
    url = stack.start_service("b", rasa.service_port)
    stream = Stream(stack, lambda: [url]).start()
    stream.wait_sent(15)
    rasa.server.kill()
    rasa.server.start()  # loading the model takes a while: the stream goes on meanwhile
    sent = stream.join()

    # Rasa answers its HTTP port before the model is in use: the first turns after a
    # restart are slow, and the worker's calls wait for them.
    outcome = assert_answered_once_in_order(stack, sent, timeout=180)
    print(outcome)


def test_database_connections_terminated_mid_stream(stack: FaultStack, rasa: Rasa) -> None:
    """Every connection to the database ended three times mid-stream (as a failover
    does): no message is lost or answered twice."""
    urls = [stack.start_service("b", rasa.service_port), stack.start_service("a")]
    stream = Stream(stack, lambda: urls).start()
    ended = []
    for count in (12, 28, 44):
        stream.wait_sent(count)
        ended.append(stack.terminate_backends())
    sent = stream.join()

    outcome = assert_answered_once_in_order(stack, sent)
    print(f"connections ended: {ended}; {outcome}; failed deliveries: {stream.delivery}")
    assert all(n > 0 for n in ended)

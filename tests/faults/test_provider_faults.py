"""Twilio refusing sends for a while under load: rate limited (429 with
Retry-After), then failing (500), then recovering."""

from __future__ import annotations

import pytest

from tests.e2e.processes import wait_until
from tests.faults.checks import assert_answered_once_in_order
from tests.faults.conftest import Rasa
from tests.faults.load import Stream
from tests.faults.stack import FaultStack

pytestmark = pytest.mark.faults


def test_twilio_429_and_500_for_a_while(stack: FaultStack, rasa: Rasa) -> None:
    """Sends refused with 429 (Retry-After) and then 500 mid-stream are sent again
    later: every reply reaches Twilio once, in order."""
    url = stack.start_service("b", rasa.service_port)
    stream = Stream(stack, lambda: [url]).start()
    stream.wait_sent(10)
    stack.add_twilio_fault(status=429, code=20429, count=15, retry_after=1)
    stack.add_twilio_fault(status=500, code=20500, count=15)
    sent = stream.join()
    wait_until(lambda: not stack.twilio_faults_left(), 60, "Twilio's faults to be used up")

    outcome = assert_answered_once_in_order(stack, sent)
    print(outcome)

"""The Rasa client with several replicas: one per conversation, the next when it is down."""

from __future__ import annotations

import httpx
import pytest

from bot.service_layer.errors import TransientError
from integrations.rasa import RasaClient

REPLICAS = ("http://rasa-a.example.com:5005", "http://rasa-b.example.com:5006")
PROSPECTS = [f"whatsapp:+4477009001{n:02d}" for n in range(40)]


class Replicas:
    """Fake Rasa replicas by host: each answers a turn with its own name; ``down`` ones
    refuse the connection, ``slow`` ones time out."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.slow: set[str] = set()
        self.turns: list[tuple[str, str]] = []  # (host, sender)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.down:
            raise httpx.ConnectError("Connection refused", request=request)
        if host in self.slow:
            raise httpx.ReadTimeout("timed out", request=request)
        sender = httpx.Response(200, content=request.content).json()["sender"]
        self.turns.append((host, sender))
        return httpx.Response(200, json=[{"recipient_id": sender, "text": host}])


def client(replicas: Replicas) -> RasaClient:
    http = httpx.Client(transport=httpx.MockTransport(replicas))
    return RasaClient(" , ".join(REPLICAS) + ",", http=http)


def test_each_conversation_always_goes_to_the_same_replica_and_both_get_some() -> None:
    """A stable hash of the sender picks the replica, the same for every process."""
    replicas = Replicas()
    rasa = client(replicas)
    first = {p: rasa.send_message(p, "hi")[0].text for p in PROSPECTS}
    again = {p: client(replicas).send_message(p, "hi")[0].text for p in PROSPECTS}
    assert first == again
    assert set(first.values()) == {"rasa-a.example.com", "rasa-b.example.com"}


def test_a_replica_that_refuses_connections_is_skipped_for_the_next() -> None:
    """Every conversation is still answered, by the replica that is up."""
    replicas = Replicas()
    replicas.down.add("rasa-a.example.com")
    rasa = client(replicas)
    answers = {rasa.send_message(p, "hi")[0].text for p in PROSPECTS}
    assert answers == {"rasa-b.example.com"}


def test_no_replica_up_is_a_transient_error() -> None:
    """The turn is retried later, as with one Rasa down."""
    replicas = Replicas()
    replicas.down.update({"rasa-a.example.com", "rasa-b.example.com"})
    with pytest.raises(TransientError, match="no answer from Rasa"):
        client(replicas).send_message(PROSPECTS[0], "hi")


def test_a_timed_out_turn_is_not_sent_to_another_replica() -> None:
    """The slow replica may still run the turn: a second one would answer twice."""
    replicas = Replicas()
    replicas.slow.add("rasa-a.example.com")
    rasa = client(replicas)
    slow_ones = [p for p in PROSPECTS if _home(p) == "rasa-a.example.com"]
    with pytest.raises(TransientError, match="ReadTimeout"):
        rasa.send_message(slow_ones[0], "hi")
    assert replicas.turns == []


def _home(sender: str) -> str:
    replicas = Replicas()
    return client(replicas).send_message(sender, "hi")[0].text or ""

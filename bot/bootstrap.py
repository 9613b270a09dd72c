"""The one place that wires gangway together. Nothing here runs at import time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy import Engine

from bot.adapters.db import SessionFactory, make_engine, make_session_factory
from bot.adapters.migrate import upgrade
from bot.config import Settings
from bot.entrypoints.worker import Worker
from bot.service_layer.ports import Clock, Dialogue, MessageSender, SystemClock
from bot.service_layer.processing import ConversationProcessor, ProcessingPolicy
from integrations.rasa import RasaClient
from integrations.twilio_whatsapp import TwilioWhatsApp

__all__ = ["NO_TWILIO", "Container", "MissingConfiguration", "build", "webhook_path"]

log = logging.getLogger(__name__)

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/whatsapp"


def webhook_path(settings: Settings, path: str) -> str:
    return settings.gangway_public_url.rstrip("/") + path


NO_TWILIO = (
    "No Twilio credentials: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, "
    "or run `gangway up`, which starts the local WhatsApp sandbox for you."
)


class MissingConfiguration(RuntimeError):
    """Gangway cannot start with the configuration it was given."""


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: SessionFactory
    clock: Clock
    dialogue: Dialogue
    sender: MessageSender
    processor: ConversationProcessor
    worker: Worker
    _http: list[httpx.Client] = field(default_factory=list)

    def close(self) -> None:
        self.worker.stop()
        for client in self._http:
            client.close()
        self.engine.dispose()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    dialogue: Dialogue | None = None,
    sender: MessageSender | None = None,
    migrate: bool = True,
) -> Container:
    if sender is None and not settings.twilio_configured:
        raise MissingConfiguration(NO_TWILIO)
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    sessions = make_session_factory(engine)
    clients: list[httpx.Client] = []
    if dialogue is None:
        rasa_http = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
        clients.append(rasa_http)
        token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
        dialogue = RasaClient(settings.rasa_url, token=token, http=rasa_http)
    if sender is None:
        assert settings.twilio_account_sid and settings.twilio_auth_token
        twilio_http = httpx.Client(
            timeout=httpx.Timeout(15.0, connect=5.0),
            limits=httpx.Limits(max_connections=settings.gangway_workers * 2),
        )
        clients.append(twilio_http)
        sender = TwilioWhatsApp(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_whatsapp_from,
            base_url=settings.twilio_api_base_url,
            status_callback_url=webhook_path(settings, STATUS_CALLBACK_PATH),
            http=twilio_http,
        )
    holding_after = timedelta(seconds=settings.gangway_holding_reply_after)
    processor = ConversationProcessor(
        sessions,
        dialogue,
        sender,
        clock,
        ProcessingPolicy(
            holding_after=holding_after, holding_text=settings.gangway_holding_reply_text
        ),
    )
    worker = Worker(
        sessions,
        processor,
        clock,
        instance_id=settings.instance_id,
        concurrency=settings.gangway_workers,
        lease=timedelta(seconds=settings.gangway_lease_seconds),
        holding_after=holding_after,
    )
    return Container(
        settings, engine, sessions, clock, dialogue, sender, processor, worker, clients
    )

"""The one place that wires gangway together. Nothing here runs at import time."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.adapters.db import SessionFactory, make_engine, make_session_factory
from bot.adapters.db_roles import migrate_database, triggers_only_warning
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, FlowFileError
from bot.adapters.flow_version_store import VersionedFlowStore
from bot.adapters.intake import IntakeWriter
from bot.adapters.model_files import ModelFileError, load_model, model_in_use
from bot.adapters.prometheus_metrics import PrometheusMetrics
from bot.adapters.routing_file import RoutingStore
from bot.adapters.tables import Conversation
from bot.adapters.vault import Vault
from bot.background import (
    checkpoint_scheduler,
    message_history,
    reconcile_scheduler,
    retention_scheduler,
)
from bot.config import NO_TWILIO, MissingConfiguration, Settings
from bot.domain.flows import Flow
from bot.domain.invite_tokens import MIN_SECRET_BYTES
from bot.records_setup import check_keys, keyring
from bot.service_layer.audit_chainer import AuditChainer
from bot.service_layer.classification import Classifier
from bot.service_layer.conversation_events import (
    invite_activated,
    request_human,
    timer_handlers,
)
from bot.service_layer.crm_outbox import CrmPusher
from bot.service_layer.external_invites import ExternalInviteIssuer
from bot.service_layer.handoff_events import CrmHandoffEvents, NoHandoffEvents
from bot.service_layer.handoffs import HandoffEvents, Router
from bot.service_layer.ingest import IngestDrain
from bot.service_layer.ports import (
    Clock,
    ContentTemplates,
    Dialogue,
    MediaFetcher,
    MessageHistory,
    MessageSender,
    SensitivityScorer,
    SystemClock,
    Understanding,
)
from bot.service_layer.processing import ConversationProcessor, ProcessingPolicy
from bot.service_layer.routing import RulesRouter, RulesSource
from bot.service_layer.scheduler import TimerScheduler
from bot.service_layer.screening import Screening
from bot.service_layer.timers import TimerRunner
from bot.service_layer.transition import Handover, InviteSettings
from bot.service_layer.worker import Worker
from integrations.crm_webhook import CrmWebhook
from integrations.rasa import RasaClient
from integrations.secure_messenger import PROVIDER as MESSENGER
from integrations.secure_messenger import SecureMessengerClient
from integrations.twilio_content import TwilioContent
from integrations.twilio_media import TwilioMediaFetcher
from integrations.twilio_whatsapp import TwilioWhatsApp

__all__ = [
    "NO_TWILIO",
    "Container",
    "MissingConfiguration",
    "build",
    "webhook_path",
]

log = logging.getLogger(__name__)

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/whatsapp"
# How often the scheduled reconciliation looks whether its slot has run yet.


def webhook_path(settings: Settings, path: str) -> str:
    return settings.gangway_public_url.rstrip("/") + path


def invite_secret(settings: Settings) -> bytes:
    """GANGWAY_INVITE_SECRET, or one made once and kept in the state directory."""
    if settings.gangway_invite_secret is not None:
        secret = settings.gangway_invite_secret.get_secret_value().encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise MissingConfiguration(
                f"GANGWAY_INVITE_SECRET must be at least {MIN_SECRET_BYTES} characters "
                "(make one with: openssl rand -hex 32)"
            )
        return secret
    path: Path = settings.state_dir / "invite-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        log.warning("GANGWAY_INVITE_SECRET is not set: made one in %s", path)
    return path.read_text().strip().encode()


class Background(Protocol):
    """A thread of the service that the app starts and stops."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


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
    flows: VersionedFlowStore
    invite_secret: bytes
    scheduler: TimerScheduler
    handover: Handover
    routing: RulesSource  # the rules in force; access to handoffs follows them too
    intake: IntakeWriter  # where the webhooks store what arrives
    ingest: IngestDrain  # records it from there and wakes the worker
    crm_scheduler: TimerScheduler | None = None
    invite_scheduler: TimerScheduler | None = None
    retention_scheduler: TimerScheduler | None = None
    checkpoint_scheduler: TimerScheduler | None = None
    reconcile_scheduler: TimerScheduler | None = None
    flow_scheduler: TimerScheduler | None = None  # proposes file changes, takes approvals
    _http: list[httpx.Client] = field(default_factory=list)
    chainer: AuditChainer | None = None
    metrics: PrometheusMetrics | None = None  # what GET /metrics shows

    @property
    def http_clients(self) -> tuple[httpx.Client, ...]:
        """The clients of every outside call (Rasa, Twilio, CRM, messenger), to trace."""
        return tuple(self._http)

    @property
    def handoff_router(self) -> Router:
        return self.handover.router

    @property
    def handoff_events(self) -> HandoffEvents:
        return self.handover.events

    def on_invite_activated(self, conversation_id: str) -> None:
        """The prospect opened the secure channel: the conversation is handed off."""
        with self.sessions.begin() as s:
            invite_activated(
                s,
                conversation_id,
                self._flow_of(s, conversation_id),
                self.clock.now(),
                self._invite_settings(),
                self.handover,
            )

    def request_human(self, conversation_id: str, text: str) -> int | None:
        """The bot's action reports a request for a person (see routes/api.py)."""
        with self.sessions.begin() as s:
            return request_human(
                s,
                conversation_id,
                text,
                self._flow_of(s, conversation_id),
                self.clock.now(),
                self._invite_settings(),
                self.handover,
            )

    def _flow_of(self, s: Session, conversation_id: str) -> Flow:
        """The flow the conversation runs (its A/B variant's, while that runs)."""
        conv = s.get(Conversation, conversation_id)
        return self.flows.for_conversation(conversation_id, conv.variant if conv else None)

    def _invite_settings(self) -> InviteSettings:
        return InviteSettings(self.invite_secret, self.settings.gangway_public_url)

    @property
    def background(self) -> list[Background]:
        """What the app starts and stops with the worker: the audit chainer (first), the
        webhook intake's writer and drain, and the schedulers."""
        extra = [
            self.crm_scheduler,
            self.invite_scheduler,
            self.retention_scheduler,
            self.checkpoint_scheduler,
            self.reconcile_scheduler,
            self.flow_scheduler,
        ]
        chainer = [] if self.chainer is None else [self.chainer]
        return [
            *chainer,
            self.intake,
            self.ingest,
            self.scheduler,
            *(s for s in extra if s is not None),
        ]

    def close(self) -> None:
        for job in self.background:
            if job is not self.chainer:
                job.stop()
        self.worker.stop()
        # Last: it chains what the worker and the jobs appended while they stopped.
        if self.chainer is not None:
            self.chainer.stop()
        for client in self._http:
            client.close()
        if self.metrics is not None:
            self.metrics.close()
        self.engine.dispose()


def _secure_messenger(
    settings: Settings, clients: list[httpx.Client]
) -> SecureMessengerClient | None:
    """The external secure messenger's client, when one is configured."""
    # Read even without a messenger: the callback route takes them whenever they are set,
    # and a mistyped one is better refused now than on every callback.
    keys = settings.channel_webhook_secrets
    if not settings.gangway_secure_messenger_url:
        return None
    if not keys:
        raise MissingConfiguration(
            "GANGWAY_SECURE_MESSENGER_URL is set: GANGWAY_CHANNEL_WEBHOOK_SECRET must be "
            "too (the secret the messenger signs its activation callbacks with)"
        )
    http = httpx.Client()
    clients.append(http)
    auth = settings.gangway_secure_messenger_auth_value
    return SecureMessengerClient(
        settings.gangway_secure_messenger_url,
        settings.gangway_secure_messenger_auth_header,
        auth.get_secret_value() if auth else "",
        timeout=settings.gangway_secure_messenger_timeout,
        retries=settings.gangway_secure_messenger_retries,
        http=http,
    )


def _crm_pusher(
    settings: Settings, sessions: SessionFactory, clock: Clock, clients: list[httpx.Client]
) -> CrmPusher | None:
    """The CRM outbox's sender, when a CRM is configured."""
    if not settings.gangway_crm_url:
        return None
    secrets = settings.crm_secrets
    if not secrets or min(len(key) for key in secrets) < 16:
        raise MissingConfiguration(
            "GANGWAY_CRM_URL is set: GANGWAY_CRM_SECRET must be too, each secret in it "
            'at least 16 bytes (make one with: echo "whsec_$(openssl rand -base64 32)")'
        )
    http = httpx.Client()
    clients.append(http)
    webhook = CrmWebhook(
        settings.gangway_crm_url,
        secrets,
        http=http,
        timeout=settings.gangway_crm_timeout,
    )
    return CrmPusher(
        sessions, clock, webhook, lease_seconds=max(60.0, 3 * settings.gangway_crm_timeout)
    )


def sensitivity_model(settings: Settings, flows: VersionedFlowStore) -> SensitivityScorer | None:
    """The trained sensitivity model: GANGWAY_SENSITIVITY_MODEL, else the one `make model`
    trains from the current data. Without one, the service refuses to start when the flow
    gives the model a say (``min_score``), rather than quietly catching less."""
    path = model_in_use(settings.gangway_sensitivity_model)
    try:
        model = load_model(path)
    except ModelFileError as exc:
        if flows.current().min_scores():
            raise MissingConfiguration(
                f"{exc}.\nThe flow {flows.path} sets `min_score` for the sensitivity "
                "model, so gangway does not run without it."
            ) from exc
        log.warning("no sensitivity model (%s); the flow sets no min_score", exc)
        return None
    log.info("sensitivity model %s loaded from %s (%d n-grams)", model.name, path, model.size)
    return model


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    dialogue: Dialogue | None = None,
    sender: MessageSender | None = None,
    understanding: Understanding | None = None,
    model: SensitivityScorer | None = None,
    templates: ContentTemplates | None = None,
    media: MediaFetcher | None = None,
    history: MessageHistory | None = None,
    migrate: bool = True,
) -> Container:
    if sender is None and not settings.twilio_configured:
        raise MissingConfiguration(NO_TWILIO)
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    if migrate:
        migrate_database(engine, settings.migration_database_url)
        warning = triggers_only_warning(engine)
        if warning:
            log.warning(warning)
    vault = Vault(keyring(settings, clock.now()))
    sessions = make_session_factory(engine, vault)
    check_keys(sessions)
    metrics = PrometheusMetrics(engine)
    clients: list[httpx.Client] = []
    if dialogue is None:
        rasa_http = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
        clients.append(rasa_http)
        token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
        rasa = RasaClient(settings.rasa_url, token=token, http=rasa_http, metrics=metrics)
        dialogue = rasa
        understanding = understanding or rasa
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
        # The Content API lives on its own host at Twilio; a sandbox serves both.
        default_api = settings.twilio_api_base_url == "https://api.twilio.com"
        templates = templates or TwilioContent(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            base_url="https://content.twilio.com" if default_api else settings.twilio_api_base_url,
            http=twilio_http,
        )
        media = media or TwilioMediaFetcher(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            base_url=settings.twilio_api_base_url,
            http=twilio_http,
        )
        history = history or message_history(settings, twilio_http)
    if understanding is None:
        raise MissingConfiguration("a dialogue was given without an understanding (NLU)")
    try:
        flows = VersionedFlowStore(
            sessions,
            settings.gangway_flow,
            DEFAULT_DOMAIN_PATH,
            now=clock.now,
        )
    except (FlowFileError, OSError) as exc:
        problem = f"the flow {settings.gangway_flow} cannot be used:\n{exc}"
        raise MissingConfiguration(problem) from exc
    try:
        routing = RoutingStore(settings.gangway_routing)
    except (FlowFileError, OSError) as exc:
        problem = f"the routing rules {settings.gangway_routing} cannot be used:\n{exc}"
        raise MissingConfiguration(problem) from exc
    secret = invite_secret(settings)
    messenger = _secure_messenger(settings, clients)
    invite_settings = InviteSettings(
        secret,
        settings.gangway_public_url,
        external_provider=MESSENGER if messenger is not None else None,
    )
    crm_pusher = _crm_pusher(settings, sessions, clock, clients)
    events: HandoffEvents = NoHandoffEvents() if crm_pusher is None else CrmHandoffEvents()
    crm_scheduler = None
    if crm_pusher is not None:
        crm_scheduler = TimerScheduler(
            crm_pusher, interval_seconds=settings.gangway_crm_interval, work="crm"
        )
    handover = Handover(RulesRouter(routing), events, settings.gangway_public_url, metrics)
    screening = Screening(
        classifier=Classifier(flows, understanding, model or sensitivity_model(settings, flows)),
        flows=flows,
        invites=invite_settings,
        media=media,
        templates=templates,
        handover=handover,
        max_chars=settings.gangway_max_inbound_chars,
        metrics=metrics,
    )
    holding_after = timedelta(seconds=settings.gangway_holding_reply_after)
    processor = ConversationProcessor(
        sessions,
        dialogue,
        sender,
        clock,
        screening,
        ProcessingPolicy(
            holding_after=holding_after,
            retry_base_seconds=settings.gangway_retry_base_seconds,
            retry_cap_seconds=settings.gangway_retry_cap_seconds,
            lease=timedelta(seconds=settings.gangway_lease_seconds),
        ),
        owner=settings.instance_id,
        metrics=metrics,
    )
    worker = Worker(
        sessions,
        processor,
        clock,
        concurrency=settings.gangway_workers,
        holding_after=holding_after,
    )
    ingest = IngestDrain(
        sessions,
        clock,
        rate=settings.sender_rate,
        messages_arrived=worker.wake,
        metrics=metrics,
    )
    intake = IntakeWriter(engine, vault, clock.now, committed=ingest.wake)
    runner = TimerRunner(
        sessions,
        clock,
        timer_handlers(flows, invite_settings, handover),
        owner=settings.instance_id,
        metrics=metrics,
    )
    scheduler = TimerScheduler(
        runner, interval_seconds=settings.gangway_timer_interval, work="timers"
    )
    invite_scheduler = None
    if messenger is not None:
        issuer = ExternalInviteIssuer(sessions, clock, messenger, flows, invite_settings, handover)
        invite_scheduler = TimerScheduler(
            issuer, interval_seconds=settings.gangway_timer_interval, work="invites"
        )
    return Container(
        settings,
        engine,
        sessions,
        clock,
        dialogue,
        sender,
        processor,
        worker,
        flows,
        secret,
        scheduler,
        handover,
        routing,
        intake,
        ingest,
        crm_scheduler,
        invite_scheduler,
        retention_scheduler(settings, sessions, clock, flows, engine, events),
        checkpoint_scheduler(settings, sessions, clock),
        reconcile_scheduler(settings, sessions, clock, history),
        TimerScheduler(flows, interval_seconds=settings.gangway_flow_poll_seconds, work="flow"),
        clients,
        chainer=AuditChainer(sessions, clock),
        metrics=metrics,
    )

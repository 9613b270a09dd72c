"""The service's background jobs beyond the worker: retention, the audit chain's
checkpoints and reconciliation with the provider, each on its own beat."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import Engine

from bot.adapters.audit_checkpoints import CheckpointWriter
from bot.adapters.db import SessionFactory
from bot.config import NO_TWILIO, MissingConfiguration, Settings
from bot.records_setup import scrubber
from bot.service_layer.handoffs import HandoffEvents
from bot.service_layer.ports import Clock, FlowSource, MessageHistory
from bot.service_layer.reconciliation import Reconciler, ScheduledReconciliation
from bot.service_layer.retention import RetentionRunner
from bot.service_layer.scheduler import TimerScheduler
from integrations.twilio_history import TwilioMessageHistory

__all__ = [
    "RECONCILE_BEAT_SECONDS",
    "checkpoint_scheduler",
    "message_history",
    "reconcile_scheduler",
    "reconciler",
    "retention_scheduler",
]

RECONCILE_BEAT_SECONDS = 60.0


def message_history(settings: Settings, http: httpx.Client) -> TwilioMessageHistory:
    """Twilio's (or the sandbox's) list of the business number's messages."""
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        raise MissingConfiguration(NO_TWILIO)
    return TwilioMessageHistory(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        business_number=settings.twilio_whatsapp_from,
        base_url=settings.twilio_api_base_url,
        http=http,
    )


def reconciler(
    settings: Settings, sessions: SessionFactory, clock: Clock, history: MessageHistory
) -> Reconciler:
    grace = timedelta(minutes=settings.gangway_reconcile_grace)
    return Reconciler(sessions, clock, history, grace=grace)


def reconcile_scheduler(
    settings: Settings, sessions: SessionFactory, clock: Clock, history: MessageHistory | None
) -> TimerScheduler | None:
    """The scheduled reconciliation: off without a provider to ask, or at interval 0."""
    if history is None or settings.gangway_reconcile_interval <= 0:
        return None
    job = ScheduledReconciliation(
        reconciler(settings, sessions, clock, history),
        sessions,
        clock,
        interval=timedelta(hours=settings.gangway_reconcile_interval),
    )
    return TimerScheduler(job, interval_seconds=RECONCILE_BEAT_SECONDS, work="reconcile")


def checkpoint_scheduler(
    settings: Settings, sessions: SessionFactory, clock: Clock
) -> TimerScheduler | None:
    """The audit chain's checkpoints outside the database (bot.domain.checkpoints)."""
    if settings.gangway_audit_checkpoint_seconds <= 0:
        return None
    writer = CheckpointWriter(sessions, clock, settings.audit_checkpoints)
    return TimerScheduler(
        writer, interval_seconds=settings.gangway_audit_checkpoint_seconds, work="checkpoint"
    )


def retention_scheduler(
    settings: Settings,
    sessions: SessionFactory,
    clock: Clock,
    flows: FlowSource,
    engine: Engine,
    events: HandoffEvents,
) -> TimerScheduler | None:
    """The daily retention run (its beat is hourly; it runs when a day has passed)."""
    if settings.gangway_retention_check_seconds <= 0:
        return None
    runner = RetentionRunner(
        sessions, clock, lambda: flows.current().retention, scrubber(settings, engine), events
    )
    return TimerScheduler(
        runner, interval_seconds=settings.gangway_retention_check_seconds, work="retention"
    )

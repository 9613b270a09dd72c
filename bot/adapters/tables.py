"""The database schema, as SQLAlchemy 2 mapped classes (times: see schema_base)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

# Flow versions and their approval live apart too.
from bot.adapters.flow_version_tables import FlowVersion

# Webhook deliveries waiting to be ingested live apart too.
from bot.adapters.intake_tables import WebhookIntake

# The records' tables live apart; they are part of the schema as much as these.
from bot.adapters.record_tables import (
    AuditContent,
    AuditHead,
    AuditLog,
    AuditPending,
    DataKey,
    KeyCheck,
    LegalHold,
    ReconciliationRun,
)
from bot.adapters.schema_base import Base, UTCDateTime

# The built-in secure chat's tables, likewise.
from bot.adapters.secure_chat_tables import SecureChat, SecureMessage, SecureSession

# Sign-in's throttle and pending identity-provider sign-ins, likewise.
from bot.adapters.sign_in_tables import PendingOidcSignIn, SignInFailure

__all__ = [
    "ApiToken",
    "AuditContent",
    "AuditHead",
    "AuditLog",
    "AuditPending",
    "Base",
    "ChannelCallback",
    "Consent",
    "Conversation",
    "CrmDelivery",
    "DataKey",
    "FlowVersion",
    "Handoff",
    "HumanRequest",
    "InboxMessage",
    "Invite",
    "KeyCheck",
    "LegalHold",
    "MediaItem",
    "MessageClassification",
    "OutboxMessage",
    "PendingOidcSignIn",
    "Qualification",
    "ReconciliationRun",
    "SecureChat",
    "SecureMessage",
    "SecureSession",
    "SignInFailure",
    "StatusEvent",
    "Timer",
    "UTCDateTime",
    "User",
    "UserSession",
    "WebhookIntake",
]


class Conversation(Base):
    __tablename__ = "conversations"

    # Opaque id: what Rasa sees as the sender, so the phone number stays in gangway.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The WhatsApp number's keyed hash, by which the conversation is found (NULL once
    # erased: the number then starts a new conversation), and the number itself, sealed.
    number_hmac: Mapped[str | None] = mapped_column(String(64), unique=True)
    number_sealed: Mapped[str | None] = mapped_column(Text)
    profile_name: Mapped[str | None] = mapped_column(Text)  # sealed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the "one moment" message went out; cleared when a real reply follows.
    holding_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Which worker processes this conversation now, and until when (see worker).
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The statechart (bot.domain.conversation_chart): its state, the level ratchet, and
    # where an opted-out conversation resumes. state is NULL until the chart first runs.
    state: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16), default="public")
    resume_state: Mapped[str | None] = mapped_column(String(32))
    # The conversation's language (en, de, fr, es), detected from the prospect's messages.
    language: Mapped[str | None] = mapped_column(String(8))
    # When its data key was destroyed (erasure or retention): its sealed fields are gone.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The flow version (flow_versions.id) and A/B variant (None: the base flow)
    # it was assigned at its first turn.
    flow_version_id: Mapped[int | None] = mapped_column(Integer)
    variant: Mapped[str | None] = mapped_column(String(64))


class InboxMessage(Base):
    __tablename__ = "inbox_messages"
    __table_args__ = (Index("ix_inbox_due", "status", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    body: Mapped[str] = mapped_column(Text, default="")  # sealed
    params: Mapped[str] = mapped_column(Text)  # every webhook parameter, as JSON, sealed
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The flow version (flow_versions.id) and A/B variant (None: the base flow)
    # this turn ran under.
    flow_version_id: Mapped[int | None] = mapped_column(Integer)
    variant: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        # One row per reply of one inbound message: a retried Rasa call cannot add twice.
        UniqueConstraint("inbox_id", "kind", "seq", name="uq_outbox_source"),
        Index("ix_outbox_due", "status", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_messages.id"))
    kind: Mapped[str] = mapped_column(String(16))  # reply|holding|protocol|timer
    seq: Mapped[int] = mapped_column(Integer, default=0)
    to_number: Mapped[str] = mapped_column(Text)  # sealed
    body: Mapped[str] = mapped_column(Text)  # sealed
    # A Twilio Content API template (quick-reply buttons); body is its plain-text rendering.
    content_sid: Mapped[str | None] = mapped_column(String(64))
    content_variables: Mapped[str | None] = mapped_column(Text)  # JSON object, sealed
    # The invite whose link the message carries: the body holds a placeholder for it,
    # and the link is put in only to send (bot.service_layer.outbox).
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatusEvent(Base):
    """Every delivery status callback as received, kept even when it arrives
    before gangway has recorded the message's provider id."""

    __tablename__ = "status_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_sid: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HumanRequest(Base):
    __tablename__ = "human_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    text: Mapped[str] = mapped_column(Text, default="")  # sealed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MessageClassification(Base):
    """The sensitivity of one inbound message and the evidence for it (spans, never values)."""

    __tablename__ = "message_classifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox_messages.id"), unique=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[str] = mapped_column(Text)  # JSON list of Evidence.as_dict()
    language: Mapped[str | None] = mapped_column(String(8))
    # The NLU's top intent (what the prospect asked about), for the handoff summary.
    intent: Mapped[str | None] = mapped_column(String(64))
    # Whether the message went on to Rasa's dialogue (never at or above the threshold).
    forwarded: Mapped[bool] = mapped_column(Boolean, default=False)
    classified_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Consent(Base):
    """One offer of the terms and what the prospect answered: the consent evidence."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    terms_version: Mapped[str] = mapped_column(String(64))
    terms_url: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    # The exact text shown (terms summary + consent question), sealed, and its SHA-256.
    shown_text: Mapped[str] = mapped_column(Text)
    shown_sha256: Mapped[str] = mapped_column(String(64))
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    trigger_inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_messages.id"))
    decision: Mapped[str] = mapped_column(String(16), default="pending")  # pending|agreed|declined
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_messages.id"))
    decision_message_sid: Mapped[str | None] = mapped_column(String(64))
    # The flow version (flow_versions.id) and A/B variant (None: the base flow)
    # whose terms were shown.
    flow_version_id: Mapped[int | None] = mapped_column(Integer)
    variant: Mapped[str | None] = mapped_column(String(64))


class Invite(Base):
    """A one-time, expiring secure-channel invite. Only the token's hash is kept."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id"))
    provider: Mapped[str] = mapped_column(String(32))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # active | used | expired | superseded | revoked
    status: Mapped[str] = mapped_column(String(16), default="active")
    # The link, sealed, while it can still be sent; NULL once the invite is spent.
    link_sealed: Mapped[str | None] = mapped_column(Text)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The invite's id at an external secure-channel provider (None for the built-in one).
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)


class Timer(Base):
    """A durable timer (consent reminder, invite reminder, invite expiry, ...).

    ``key`` is stable, so scheduling the same timer twice is harmless; a fired or
    cancelled timer never fires again.
    """

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON object
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|fired|cancelled
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MediaItem(Base):
    """An attachment of an inbound message, fetched from the provider and kept."""

    __tablename__ = "media_items"
    __table_args__ = (UniqueConstraint("inbox_id", "idx", name="uq_media_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox_messages.id"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    # image | document | audio | video | location | contact
    kind: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str | None] = mapped_column(String(200))
    provider_url: Mapped[str | None] = mapped_column(Text)  # sealed
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|stored|failed
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class User(Base):
    """A person who signs in to the console: advisor, supervisor, compliance or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # advisor|supervisor|compliance|admin
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    team: Mapped[str | None] = mapped_column(String(100))
    # What an advisor may take: JSON lists of ISO country codes, products, languages.
    countries: Mapped[str] = mapped_column(Text, default="[]")
    products: Mapped[str] = mapped_column(Text, default="[]")
    languages: Mapped[str] = mapped_column(Text, default="[]")
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserSession(Base):
    """A console sign-in; the cookie holds the token, the table only its SHA-256."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """A per-user token for the JSON API (shown once; only its SHA-256 is kept)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A token stops working here; a new one is made with `gangway users token`.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Handoff(Base):
    """A conversation handed to people: who may take it, who has it, and its summary."""

    __tablename__ = "handoffs"
    __table_args__ = (
        Index("ix_handoffs_queue", "status", "queue", "id"),
        # One open handoff per conversation, even when two processes open one at once.
        Index(
            "uq_handoffs_one_open",
            "conversation_id",
            unique=True,
            sqlite_where=text("status <> 'closed'"),
            postgresql_where=text("status <> 'closed'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    # threshold (the prospect moved to the secure channel) | human_request
    reason: Mapped[str] = mapped_column(String(32))
    # queued (nobody assigned) | assigned | claimed | escalated | closed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    queue: Mapped[str] = mapped_column(String(100))
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_to: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    language: Mapped[str | None] = mapped_column(String(8))
    country: Mapped[str | None] = mapped_column(String(2))
    product: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    # JSON: qualification answers, level and evidence names (never values), consent id,
    # invite status, language, transcript link.
    summary: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CrmDelivery(Base):
    """One signed webhook to the CRM, sent from this outbox until it answers 2xx."""

    __tablename__ = "crm_deliveries"
    __table_args__ = (Index("ix_crm_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    # The JSON body, exactly as signed and sent (it names rules and ids, never values).
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ChannelCallback(Base):
    """Every accepted secure-channel activation callback; its event id refuses replays."""

    __tablename__ = "channel_callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    provider: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id"))
    payload: Mapped[str] = mapped_column(Text)  # sealed
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Qualification(Base):
    """A prospect's answers to the flow's qualification questions (one row per
    conversation). The answers are sealed: public-level, but a prospect's personal data."""

    __tablename__ = "qualifications"

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    answers: Mapped[str] = mapped_column(Text)  # JSON object slot -> value, sealed
    # When every question was first answered or skipped; NULL until then.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Counts the changes: the CRM keeps the lead of the highest revision.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

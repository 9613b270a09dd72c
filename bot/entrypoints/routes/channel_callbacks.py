"""The secure messenger's activation callback: ``POST /webhooks/secure-channel/activated``.

The protocol is drawn in ``integrations/secure_messenger.py``. In order:

- no shared secret configured: 503 (gangway cannot tell a real callback from a forged one);
- missing or wrong ``X-Signature``, or an ``X-Timestamp`` more than five minutes from
  gangway's clock: 401, logged, nothing written;
- a body that is not the expected JSON: 400;
- an ``event_id`` seen before: 409, the provider's sign to stop retrying;
- an ``invite_id`` gangway never issued: 404, nothing written;
- otherwise the callback is stored (its event id refuses replays from now on) and, if the
  invite is still active and was opened before it expired, the invite is marked used in
  the same transaction, with an audit record. After the commit
  ``container.on_invite_activated(conversation_id)`` moves the conversation on.
  An invite that was already used, superseded or had expired is not activated again:
  the answer is still 200 (the provider did its part) with ``"ignored"`` saying why.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.invites import schedule_activation_backstop
from bot.adapters.tables import ChannelCallback, Invite
from bot.adapters.vault import vault_of
from bot.service_layer.ports import Clock
from integrations.secure_messenger import callback_signature, parse_time

__all__ = [
    "ACTIVATED_PATH",
    "MAX_SKEW",
    "ChannelCallbackContainer",
    "ChannelWebhookSettings",
    "router",
]

log = logging.getLogger(__name__)
router = APIRouter()

ACTIVATED_PATH = "/webhooks/secure-channel/activated"
MAX_SKEW = timedelta(minutes=5)


class ChannelWebhookSettings(Protocol):
    @property
    def gangway_channel_webhook_secret(self) -> SecretStr | None: ...


class ChannelCallbackContainer(Protocol):
    """What this route needs from ``app.state.container``."""

    sessions: SessionFactory
    clock: Clock

    @property
    def settings(self) -> ChannelWebhookSettings: ...

    def on_invite_activated(self, conversation_id: str) -> None: ...


@dataclass(frozen=True)
class _Outcome:
    status: int
    body: dict[str, Any]
    activated_conversation: str | None = None


def _well_formed_id(value: object) -> bool:
    """An id the provider could have made: text that fits its column and holds no
    control character (PostgreSQL cannot store NUL, and an id is never multi-line)."""
    return isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable()


def _answer(status: int, error: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error}, status_code=status)


def _refusal(secret: bytes, request: Request, raw: bytes, now: datetime) -> str | None:
    """Why the request is not an authentic, fresh callback; None when it is."""
    signature = request.headers.get("X-Signature", "")
    timestamp = request.headers.get("X-Timestamp", "")
    if not signature or not timestamp:
        return "missing signature"
    # Header values arrive decoded as Latin-1; bytes keep compare_digest total.
    expected = callback_signature(secret, timestamp, raw).encode()
    if not hmac.compare_digest(expected, signature.encode("latin-1")):
        return "wrong signature"
    try:
        sent_at = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError):
        return "unreadable timestamp"
    if abs(now - sent_at) > MAX_SKEW:
        return "stale timestamp"
    return None


def _record(session: Session, event: dict[str, Any], text: str, now: datetime) -> _Outcome:
    event_id, invite_id = event["event_id"], event["invite_id"]
    if session.scalar(select(ChannelCallback.id).where(ChannelCallback.event_id == event_id)):
        return _Outcome(409, {"ok": False, "error": "replay"})
    invite = session.scalars(
        select(Invite).where(Invite.external_id == invite_id).with_for_update()
    ).one_or_none()
    if invite is None:
        return _Outcome(404, {"ok": False, "error": "unknown_invite"})
    callback = ChannelCallback(
        event_id=event_id,
        provider=invite.provider,
        conversation_id=invite.conversation_id,
        # As received and signed, the evidence; sealed, as it may name the prospect.
        payload=vault_of(session).seal_unless_erased(
            session, invite.conversation_id, "channel_callback", text
        ),
        received_at=now,
    )
    session.add(callback)
    session.flush()
    # The provider's own time of opening (never later than now) decides against expiry,
    # so a callback that took a moment to arrive still counts.
    opened_at = min(parse_time(event.get("activated_at")) or now, now)
    claimed = None
    if invite.status == "active" and opened_at < invite.expires_at:
        # The status condition makes two different events for one invite activate it once.
        claimed = session.execute(
            update(Invite)
            .where(Invite.id == invite.id, Invite.status == "active")
            .values(status="used", used_at=now, link_sealed=None)
            .returning(Invite.id)
        ).first()
        session.refresh(invite)
        if claimed is not None:
            schedule_activation_backstop(session, invite, now)
    standing = "expired" if invite.status == "active" else invite.status
    payload = {
        "invite_id": invite.id,
        "external_id": invite_id,
        "event_id": event_id,
        "provider": invite.provider,
        "callback_id": callback.id,
        "activated_at": opened_at.isoformat(),
    }
    if claimed is None:
        audit_log.append(
            session,
            kind="channel_activation_ignored",
            conversation_id=invite.conversation_id,
            payload={**payload, "invite_status": standing},
            now=now,
        )
        return _Outcome(200, {"ok": True, "ignored": standing})
    audit_log.append(
        session,
        kind="channel_activated",
        conversation_id=invite.conversation_id,
        payload=payload,
        now=now,
    )
    return _Outcome(200, {"ok": True}, invite.conversation_id)


def _store(container: ChannelCallbackContainer, event: dict[str, Any], text: str) -> _Outcome:
    now = container.clock.now()
    try:
        with container.sessions.begin() as session:
            return _record(session, event, text, now)
    except IntegrityError:
        # The same event arriving twice at once: the unique event id let one in.
        return _Outcome(409, {"ok": False, "error": "replay"})


@router.post(ACTIVATED_PATH)
async def secure_channel_activated(request: Request) -> JSONResponse:
    """The prospect opened their invite at the secure messenger."""
    container: ChannelCallbackContainer = request.app.state.container
    configured = container.settings.gangway_channel_webhook_secret
    if configured is None or not configured.get_secret_value():
        log.error("refused %s: GANGWAY_CHANNEL_WEBHOOK_SECRET is not set", ACTIVATED_PATH)
        return _answer(503, "not_configured")
    raw = await request.body()  # bounded while it arrives (the app's body limit: 413)
    refusal = _refusal(configured.get_secret_value().encode(), request, raw, container.clock.now())
    if refusal is not None:
        log.warning(
            "refused %s from %s: %s",
            ACTIVATED_PATH,
            request.client.host if request.client else "?",
            refusal,
        )
        return _answer(401, "stale" if refusal == "stale timestamp" else "bad_signature")
    try:
        text = raw.decode("utf-8")
        event = json.loads(text)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
        text, event = "", None
    if not (
        isinstance(event, dict)
        and _well_formed_id(event.get("event_id"))
        and _well_formed_id(event.get("invite_id"))
    ):
        return _answer(400, "bad_body")
    outcome = await run_in_threadpool(_store, container, event, text)
    if outcome.activated_conversation is not None:
        try:
            await run_in_threadpool(container.on_invite_activated, outcome.activated_conversation)
        except Exception:
            # The activation is stored and a retry would be refused as a replay, so
            # failing the request would help nobody: the operators get the log.
            log.exception(
                "on_invite_activated failed for conversation %s (event %s)",
                outcome.activated_conversation,
                event["event_id"],
            )
    return JSONResponse(outcome.body, status_code=outcome.status)

"""The evidence bundle of one conversation, for compliance and regulators.

Everything gangway knows of the conversation, opened with its keys: the transcript
in both directions with provider ids and delivery statuses, every audit record
about it (state transitions, level changes with their evidence, consent, invites,
activation, handoffs) with its content checked against the digest the record
keeps, the consent with the exact terms text shown and its hash, and the chain's
verification. An erased conversation exports its skeleton (ids, times, kinds,
levels, statuses) and the record of its erasure.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.tables import (
    AuditLog,
    Consent,
    Conversation,
    Handoff,
    InboxMessage,
    Invite,
    MediaItem,
    MessageClassification,
    OutboxMessage,
    StatusEvent,
)
from bot.adapters.vault import ERASED, vault_of
from bot.service_layer.media_files import open_media
from bot.service_layer.secure_evidence import secure_files, secure_transcript

__all__ = ["Evidence", "MediaFile", "gather_evidence"]

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}


@dataclass(frozen=True)
class MediaFile:
    """An attachment's file as the prospect sent it, named by message and position."""

    name: str
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class Evidence:
    conversation_id: str
    exported_at: datetime
    erased: bool
    conversation: dict[str, Any]
    transcript: list[dict[str, Any]]
    events: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    invites: list[dict[str, Any]]
    handoffs: list[dict[str, Any]]
    chain: dict[str, Any]
    media: list[MediaFile]
    # The built-in secure chat's messages (empty without one); their files are in media.
    secure_transcript: list[dict[str, Any]]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _transcript(s: Session, conv_id: str) -> list[dict[str, Any]]:
    vault = vault_of(s)
    # Rows into a dict by hand: a Result has keys(), so dict(result) would misread it.
    levels = {
        inbox_id: level
        for inbox_id, level in s.execute(
            select(MessageClassification.inbox_id, MessageClassification.level).where(
                MessageClassification.conversation_id == conv_id
            )
        )
    }
    media: dict[int, list[dict[str, Any]]] = {}
    for m in s.execute(select(MediaItem).where(MediaItem.conversation_id == conv_id)).scalars():
        media.setdefault(m.inbox_id, []).append(
            {
                "kind": m.kind,
                "content_type": m.content_type,
                "sha256": m.sha256,
                "size": m.size,
                "file": _media_name(m) if m.data is not None else None,
            }
        )
    lines: list[dict[str, Any]] = []
    for msg in s.execute(
        select(InboxMessage).where(InboxMessage.conversation_id == conv_id)
    ).scalars():
        lines.append(
            {
                "direction": "inbound",
                "at": _iso(msg.received_at),
                "provider_sid": msg.message_sid,
                "text": vault.read(s, conv_id, "body", msg.body),
                "level": levels.get(msg.id),
                "status": msg.status,
                "media": media.get(msg.id, []),
            }
        )
    for out in s.execute(
        select(OutboxMessage).where(OutboxMessage.conversation_id == conv_id)
    ).scalars():
        statuses = []
        if out.provider_sid:
            statuses = [
                {"status": e.status, "error_code": e.error_code, "at": _iso(e.received_at)}
                for e in s.execute(
                    select(StatusEvent)
                    .where(StatusEvent.provider_sid == out.provider_sid)
                    .order_by(StatusEvent.id)
                ).scalars()
            ]
        lines.append(
            {
                "direction": "outbound",
                "at": _iso(out.created_at),
                "provider_sid": out.provider_sid,
                "kind": out.kind,
                "text": vault.read(s, conv_id, "outbox_body", out.body),
                "status": out.status,
                "error_code": out.error_code,
                "delivery": statuses,
            }
        )
    return sorted(lines, key=lambda line: (line["at"], line["direction"] != "inbound"))


def _media_name(item: MediaItem) -> str:
    extension = _EXTENSIONS.get(item.content_type or "", "bin")
    return f"media/{item.inbox_id}-{item.idx}.{extension}"


def _media(s: Session, conv_id: str) -> list[MediaFile]:
    files = []
    for item in s.execute(
        select(MediaItem).where(MediaItem.conversation_id == conv_id).order_by(MediaItem.id)
    ).scalars():
        data = open_media(s, item)
        if data is not None:
            files.append(MediaFile(_media_name(item), item.content_type, data))
    return files


def _event(s: Session, payload_text: str, event: dict[str, Any]) -> dict[str, Any]:
    payload = json.loads(payload_text)
    event["payload"] = payload
    ref = payload.get("content") if isinstance(payload, dict) else None
    if isinstance(ref, dict) and "id" in ref:
        kept = audit_log.open_content(s, int(ref["id"]))
        event["content"] = kept.content
        event["content_matches_digest"] = kept.matches and kept.sha256 == ref.get("sha256")
    return event


def _events(s: Session, conv_id: str) -> list[dict[str, Any]]:
    """Every record about the conversation: the chained ones in the chain's order, then
    those still waiting to be chained, marked so (``"chained": False``, no sequence
    number or hash yet, whether their MAC holds).

    Waiting records are shown rather than chained here: gathering only reads, in
    whatever transaction its caller holds, and chaining in it would hold the chain's
    head for as long as the bundle takes to build. The command chains first; the
    console's download, gathered the moment after an action, may show that action's
    record waiting.
    """
    events = [
        _event(
            s,
            rec.payload,
            {
                "seq": rec.seq,
                "recorded_at": rec.recorded_at,
                "kind": rec.kind,
                "hash": rec.hash,
                "chained": True,
            },
        )
        for rec in s.execute(
            select(AuditLog).where(AuditLog.conversation_id == conv_id).order_by(AuditLog.seq)
        ).scalars()
    ]
    for entry in audit_log.waiting_records(s, conv_id):
        events.append(
            _event(
                s,
                entry.payload,
                {
                    "seq": None,
                    "recorded_at": entry.recorded_at,
                    "kind": entry.kind,
                    "hash": None,
                    "chained": False,
                    "intact": entry.intact,
                },
            )
        )
    return events


def _consents(s: Session, conv_id: str) -> list[dict[str, Any]]:
    vault = vault_of(s)
    out = []
    for c in s.execute(
        select(Consent).where(Consent.conversation_id == conv_id).order_by(Consent.id)
    ).scalars():
        text = vault.read(s, conv_id, "consent_text", c.shown_text)
        out.append(
            {
                "id": c.id,
                "terms_version": c.terms_version,
                "terms_url": c.terms_url,
                "language": c.language,
                "shown_text": text,
                "shown_sha256": c.shown_sha256,
                # Once erased, there is no text left to check: neither a match nor not.
                "text_matches_hash": None
                if text == ERASED
                else hashlib.sha256(text.encode()).hexdigest() == c.shown_sha256,
                "offered_at": _iso(c.offered_at),
                "decision": c.decision,
                "decided_at": _iso(c.decided_at),
                "decision_message_sid": c.decision_message_sid,
            }
        )
    return out


def gather_evidence(s: Session, conversation_id: str, now: datetime) -> Evidence:
    conv = s.get_one(Conversation, conversation_id)
    vault = vault_of(s)
    count, broken = audit_log.verify(s)
    waiting = audit_log.pending_records(s)
    chain = {
        "records_checked": count,
        "intact": broken is None,
        "first_break": None if broken is None else {"seq": broken.seq, "reason": broken.reason},
        "records_waiting": waiting.count,
        "waiting_altered": waiting.altered,
    }
    invites = [
        {
            "id": i.id,
            "provider": i.provider,
            "status": i.status,
            "issued_at": _iso(i.issued_at),
            "expires_at": _iso(i.expires_at),
            "used_at": _iso(i.used_at),
        }
        for i in s.execute(
            select(Invite).where(Invite.conversation_id == conversation_id).order_by(Invite.id)
        ).scalars()
    ]
    handoffs = [
        {
            "id": h.id,
            "reason": h.reason,
            "status": h.status,
            "queue": h.queue,
            "claimed_by": h.claimed_by,
            "created_at": _iso(h.created_at),
            "closed_at": _iso(h.closed_at),
        }
        for h in s.execute(
            select(Handoff).where(Handoff.conversation_id == conversation_id).order_by(Handoff.id)
        ).scalars()
    ]
    erased = conv.erased_at is not None
    return Evidence(
        conversation_id=conversation_id,
        exported_at=now,
        erased=erased,
        conversation={
            "id": conv.id,
            "number": vault.read(s, conv.id, "number", conv.number_sealed) if not erased else None,
            "profile_name": (
                vault.read(s, conv.id, "profile_name", conv.profile_name) if not erased else None
            ),
            "created_at": _iso(conv.created_at),
            "last_inbound_at": _iso(conv.last_inbound_at),
            "state": conv.state,
            "level": conv.level,
            "language": conv.language,
            "erased_at": _iso(conv.erased_at),
        },
        transcript=_transcript(s, conversation_id),
        events=_events(s, conversation_id),
        consents=_consents(s, conversation_id),
        invites=invites,
        handoffs=handoffs,
        chain=chain,
        media=_media(s, conversation_id)
        + [MediaFile(*file) for file in secure_files(s, conversation_id)],
        secure_transcript=secure_transcript(s, conversation_id),
    )

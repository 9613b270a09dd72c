"""A compliance user downloads the evidence bundle of a handoff's conversation.

The bundle is the whole record opened with the conversation's key, so each download
is itself evidence: it is appended to the audit log in the unit of work that reads
the bundle, naming who took it, of which conversation and handoff, and the SHA-256 of
the zip handed over and of its manifest.json (which holds every file's SHA-256) —
digests, never content. The bundle is returned only once that record is committed.

Who may: ``bot.domain.access.can_export_evidence``. Anyone else is refused before the
handoff is looked up, so a refusal says nothing about which handoffs exist.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.evidence_files import bundle_files, bundle_zip
from bot.domain.access import Actor, can_export_evidence
from bot.service_layer import handoffs
from bot.service_layer.evidence import gather_evidence
from bot.service_layer.handoffs import NotAllowed

__all__ = ["EVIDENCE_EXPORTED", "EvidenceDownload", "download_evidence"]

EVIDENCE_EXPORTED = "evidence_exported"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class EvidenceDownload:
    conversation_id: str
    handoff_id: int
    filename: str  # names the conversation and the moment, so two downloads never collide
    body: bytes  # the zip
    sha256: str  # of ``body``
    manifest_sha256: str  # of the manifest.json inside it


def _filename(conversation_id: str, now: datetime) -> str:
    # Conversation ids are gangway's own ("c-<hex>"); the guard keeps a header value
    # safe whatever an older or imported id holds.
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"evidence-{_UNSAFE.sub('_', conversation_id)}-{stamp}.zip"


def download_evidence(
    sessions: SessionFactory, actor: Actor, handoff_id: int, now: datetime
) -> EvidenceDownload:
    """The zipped evidence bundle of the handoff's conversation, its download recorded.

    ``NotAllowed`` for any role but compliance, ``NotFound`` for a handoff that does not
    exist.
    """
    if not can_export_evidence(actor):
        raise NotAllowed(f"your role ({actor.role}) cannot download evidence bundles")
    with sessions.begin() as session:
        return _recorded_download(session, actor, handoff_id, now)


def _recorded_download(
    session: Session, actor: Actor, handoff_id: int, now: datetime
) -> EvidenceDownload:
    handoff = handoffs.get_readable(session, actor, handoff_id)
    conversation_id = handoff.conversation_id
    evidence = gather_evidence(session, conversation_id, now)
    files = bundle_files(evidence)
    body = bundle_zip(evidence, files)
    download = EvidenceDownload(
        conversation_id=conversation_id,
        handoff_id=handoff.id,
        filename=_filename(conversation_id, now),
        body=body,
        sha256=hashlib.sha256(body).hexdigest(),
        manifest_sha256=hashlib.sha256(files["manifest.json"]).hexdigest(),
    )
    audit_log.append(
        session,
        kind=EVIDENCE_EXPORTED,
        conversation_id=conversation_id,
        payload={
            "conversation_id": conversation_id,
            "handoff_id": handoff.id,
            "user_id": actor.user_id,
            "zip_sha256": download.sha256,
            "manifest_sha256": download.manifest_sha256,
            "chain_intact": evidence.chain["intact"],
        },
        now=now,
    )
    return download

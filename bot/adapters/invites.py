"""Secure-channel invites from the built-in provider: issuing, redeeming and expiring them.

Each function works in the caller's transaction and writes its audit records there, so
an invite and the record of it commit or roll back together. The token itself lives only
in the link handed back by ``issue_invite``; the table keeps its SHA-256, and the audit
log only the first characters of that digest (enough to match a row, useless as a link).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.adapters import audit_log, timers
from bot.adapters.tables import Invite
from bot.domain.invite_tokens import check_token, mint_token, token_digest

__all__ = [
    "ACTIVATION_TIMER",
    "PROVIDER",
    "IssuedInvite",
    "Redemption",
    "RedemptionOutcome",
    "active_invite",
    "expire_invites",
    "find_invite",
    "issue_invite",
    "redeem_invite",
    "revoke_invites",
    "schedule_activation_backstop",
    "use_invite",
]

PROVIDER = "builtin"
_DIGEST_PREFIX = 12

RedemptionOutcome = Literal["activated", "expired", "used", "superseded", "unknown", "invalid"]


@dataclass(frozen=True)
class IssuedInvite:
    invite_id: int
    link: str
    expires_at: datetime


@dataclass(frozen=True)
class Redemption:
    """What happened to a presented link. ``conversation_id`` is known for every
    outcome but ``unknown`` and ``invalid``."""

    outcome: RedemptionOutcome
    conversation_id: str | None = None
    invite_id: int | None = None


def issue_invite(
    session: Session,
    *,
    conversation_id: str,
    consent_id: int | None,
    secret: bytes,
    base_url: str,
    ttl: timedelta,
    now: datetime,
) -> IssuedInvite:
    """A new one-time link for the conversation; its earlier active invites are superseded."""
    if ttl <= timedelta(0):
        raise ValueError("an invite's time to live must be positive")
    # The token carries whole seconds; the row must agree with it to the second.
    expires_at = (now + ttl).replace(microsecond=0)
    superseded = list(
        session.scalars(
            update(Invite)
            .where(Invite.conversation_id == conversation_id, Invite.status == "active")
            .values(status="superseded", link_sealed=None)
            .returning(Invite.id)
        )
    )
    # The token names the invite's id, which exists only once the row is inserted: a
    # random stand-in keeps the unique digest column satisfied until then.
    invite = Invite(
        conversation_id=conversation_id,
        consent_id=consent_id,
        provider=PROVIDER,
        token_sha256=secrets.token_hex(32),
        issued_at=now,
        expires_at=expires_at,
        status="active",
    )
    session.add(invite)
    session.flush()
    token = mint_token(secret, invite_ref=str(invite.id), expires_at=expires_at)
    invite.token_sha256 = token_digest(token)
    session.flush()
    audit_log.append(
        session,
        kind="invite_issued",
        conversation_id=conversation_id,
        payload={
            "invite_id": invite.id,
            "provider": PROVIDER,
            "consent_id": consent_id,
            "token_sha256_prefix": invite.token_sha256[:_DIGEST_PREFIX],
            "expires_at": expires_at.isoformat(),
            "superseded_invite_ids": sorted(superseded),
        },
        now=now,
    )
    return IssuedInvite(invite.id, f"{base_url.rstrip('/')}/secure/invite/{token}", expires_at)


def find_invite(session: Session, *, token: str, secret: bytes, now: datetime) -> Redemption:
    """What redeeming ``token`` now would do, without changing anything (for a GET).

    ``activated`` here means "would activate".
    """
    check = check_token(secret, token, now=now)
    if check.reason in ("malformed", "bad_signature"):
        return Redemption("invalid")
    invite = session.scalars(
        select(Invite).where(Invite.token_sha256 == token_digest(token))
    ).one_or_none()
    if invite is None or str(invite.id) != check.invite_ref:
        return Redemption("unknown")
    return Redemption(_standing(invite, now), invite.conversation_id, invite.id)


def redeem_invite(session: Session, *, token: str, secret: bytes, now: datetime) -> Redemption:
    """Use the link: the first valid redemption activates it, every later one is ``used``."""
    check = check_token(secret, token, now=now)
    if check.reason in ("malformed", "bad_signature"):
        return Redemption("invalid")
    # The row lock makes a concurrent redemption of the same link wait for this one and
    # then see it used (PostgreSQL); the status condition on the update below covers
    # SQLite, which has no row locks.
    invite = session.scalars(
        select(Invite).where(Invite.token_sha256 == token_digest(token)).with_for_update()
    ).one_or_none()
    if invite is None or str(invite.id) != check.invite_ref:
        return Redemption("unknown")
    standing = _standing(invite, now)
    if standing == "expired" and invite.status == "active":
        _mark_expired(session, invite, now)
    if standing != "activated":
        return Redemption(standing, invite.conversation_id, invite.id)
    if not use_invite(session, invite, now):
        return Redemption(_standing(invite, now), invite.conversation_id, invite.id)
    audit_log.append(
        session,
        kind="invite_activated",
        conversation_id=invite.conversation_id,
        payload={
            "invite_id": invite.id,
            "provider": invite.provider,
            "token_sha256_prefix": invite.token_sha256[:_DIGEST_PREFIX],
        },
        now=now,
    )
    schedule_activation_backstop(session, invite, now)
    return Redemption("activated", invite.conversation_id, invite.id)


ACTIVATION_TIMER = "invite_activated"
ACTIVATION_BACKSTOP = timedelta(seconds=30)


def use_invite(session: Session, invite: Invite, now: datetime) -> bool:
    """Mark an active invite used, its link forgotten; False when it was not active any
    more. The status condition makes two redemptions of one invite (a link opened twice,
    a provider's event delivered twice) use it once. ``invite`` is refreshed either way."""
    used = session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.status == "active")
        .values(status="used", used_at=now, link_sealed=None)
        .returning(Invite.id)
    ).first()
    session.refresh(invite)
    return used is not None


def schedule_activation_backstop(session: Session, invite: Invite, now: datetime) -> None:
    """A durable timer, in the transaction that marks the invite used, that hands the
    conversation off if the immediate hand-off after the commit did not happen (the
    process died, or the hook failed): the link is spent, so nothing else would retry."""
    timers.schedule(
        session,
        key=f"{ACTIVATION_TIMER}:{invite.id}",
        kind=ACTIVATION_TIMER,
        due_at=now + ACTIVATION_BACKSTOP,
        now=now,
        conversation_id=invite.conversation_id,
        payload={"invite_id": invite.id},
    )


def expire_invites(session: Session, *, conversation_id: str, now: datetime) -> int:
    """Mark the conversation's active invites that are past their expiry as expired."""
    due = session.scalars(
        select(Invite)
        .where(
            Invite.conversation_id == conversation_id,
            Invite.status == "active",
            Invite.expires_at <= now,
        )
        .order_by(Invite.id)
        .with_for_update()
    ).all()
    for invite in due:
        _mark_expired(session, invite, now)
    return len(due)


def active_invite(session: Session, conversation_id: str) -> Invite | None:
    """The conversation's invite still waiting to be used, if any (issuing supersedes
    the others, so there is at most one).

    Its expiry is not looked at: call ``expire_invites`` first for an up-to-date answer.
    """
    return session.scalars(
        select(Invite)
        .where(Invite.conversation_id == conversation_id, Invite.status == "active")
        .order_by(Invite.id.desc())
        .limit(1)
    ).first()


def _standing(invite: Invite, now: datetime) -> RedemptionOutcome:
    if invite.status == "used":
        return "used"
    if invite.status == "superseded":
        return "superseded"
    # A revoked link reads as expired to whoever opens it: it no longer works.
    if invite.status in ("expired", "revoked") or now >= invite.expires_at:
        return "expired"
    return "activated"


def revoke_invites(session: Session, *, conversation_id: str, now: datetime) -> list[int]:
    """Withdraw the conversation's open invites (the prospect opted out, or people took
    over by other means). Their ids; the caller records why."""
    return sorted(
        session.scalars(
            update(Invite)
            .where(
                Invite.conversation_id == conversation_id,
                Invite.status.in_(["active", "pending"]),
            )
            .values(status="revoked", link_sealed=None)
            .returning(Invite.id)
        )
    )


def _mark_expired(session: Session, invite: Invite, now: datetime) -> None:
    invite.status = "expired"
    invite.link_sealed = None
    session.flush()
    audit_log.append(
        session,
        kind="invite_expired",
        conversation_id=invite.conversation_id,
        payload={
            "invite_id": invite.id,
            "token_sha256_prefix": invite.token_sha256[:_DIGEST_PREFIX],
            "expires_at": invite.expires_at.isoformat(),
        },
        now=now,
    )

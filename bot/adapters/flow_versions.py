"""Flow versions in the database: installing, proposing, approving, rejecting.

Each content of a flow is one ``flow_versions`` row; at most one per flow is live, and
at most one is pending (a newer proposal withdraws the older one, and approving a
version withdraws any pending one older than it). Whether a proposal waits for approval
is decided by the LIVE version's ``governance`` setting, never by the proposal's own:
a change cannot switch governance off and so approve itself. Every step is an audit
record (``flow_installed``, ``flow_proposed``, ``flow_approved``, ``flow_rejected``,
``flow_withdrawn``) naming the flow, the sequence number, the SHA-256, who and why.
All functions work in the caller's transaction.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.flow_version_tables import FlowVersion

__all__ = [
    "FlowVersionError",
    "approve",
    "find",
    "governance_of",
    "history",
    "install",
    "live",
    "pending",
    "propose",
    "reject",
    "sha256_of",
]

INSTALLATION = "installation"
NO_GOVERNANCE = "governance: none"


class FlowVersionError(ValueError):
    """A request about versions that cannot be done; the message says why in plain words."""


def sha256_of(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def governance_of(content: str) -> str:
    """The ``governance`` setting of an already validated content (default required)."""
    data = yaml.safe_load(content) or {}
    return "none" if str(data.get("governance", "required")) == "none" else "required"


def live(s: Session, flow: str) -> FlowVersion | None:
    return s.execute(
        select(FlowVersion).where(FlowVersion.flow == flow, FlowVersion.status == "live")
    ).scalar_one_or_none()


def pending(s: Session) -> list[FlowVersion]:
    return list(
        s.execute(
            select(FlowVersion).where(FlowVersion.status == "pending").order_by(FlowVersion.id)
        ).scalars()
    )


def history(s: Session, flow: str | None = None) -> list[FlowVersion]:
    query = select(FlowVersion).order_by(FlowVersion.flow, FlowVersion.seq)
    if flow is not None:
        query = query.where(FlowVersion.flow == flow)
    return list(s.execute(query).scalars())


def find(s: Session, ref: str) -> FlowVersion:
    """The version ``ref`` names: its sequence number (``3``, when one flow has it) or
    ``flow:seq`` (``default:3``)."""
    flow, _, number = ref.rpartition(":")
    if not number.isdigit():
        raise FlowVersionError(
            f"{ref!r} names no version; write its number, such as 3 or default:3"
        )
    query = select(FlowVersion).where(FlowVersion.seq == int(number))
    if flow:
        query = query.where(FlowVersion.flow == flow)
    found = list(s.execute(query).scalars())
    if not found:
        raise FlowVersionError(f"there is no flow version {ref}")
    if len(found) > 1:
        names = ", ".join(f"{v.flow}:{v.seq}" for v in found)
        raise FlowVersionError(f"{ref} is ambiguous; write one of {names}")
    return found[0]


def _record(s: Session, kind: str, version: FlowVersion, who: str, now: datetime) -> None:
    audit_log.append(
        s,
        kind=f"flow_{kind}",
        conversation_id=None,
        payload={
            "flow": version.flow,
            "seq": version.seq,
            "sha256": version.sha256,
            "by": who,
            "comment": version.comment,
        },
        now=now,
    )


def _decide(
    s: Session, version: FlowVersion, status: str, who: str, comment: str | None, now: datetime
) -> None:
    version.status, version.decided_by, version.decided_at = status, who, now
    version.comment = comment
    s.flush()
    _record(s, {"live": "approved"}.get(status, status), version, who, now)


def _next_seq(s: Session, flow: str) -> int:
    top = s.execute(select(func.max(FlowVersion.seq)).where(FlowVersion.flow == flow)).scalar()
    return (top or 0) + 1


def install(s: Session, flow: str, content: str, source: str, now: datetime) -> FlowVersion | None:
    """Version 1 of ``flow``, live at once, when the database has no version of it yet
    (a fresh installation); None otherwise."""
    if _next_seq(s, flow) != 1:
        return None
    version = FlowVersion(
        flow=flow,
        seq=1,
        sha256=sha256_of(content),
        content=content,
        source=source,
        status="live",
        proposed_by=INSTALLATION,
        proposed_at=now,
        decided_by=INSTALLATION,
        decided_at=now,
    )
    s.add(version)
    s.flush()
    _record(s, "installed", version, INSTALLATION, now)
    return version


def _make_live(
    s: Session, version: FlowVersion, who: str, comment: str | None, now: datetime
) -> None:
    before = live(s, version.flow)
    if before is not None:
        before.status = "retired"
    _decide(s, version, "live", who, comment, now)
    older = select(FlowVersion).where(
        FlowVersion.flow == version.flow,
        FlowVersion.status == "pending",
        FlowVersion.seq < version.seq,
    )
    for stale in s.execute(older).scalars():
        _decide(s, stale, "withdrawn", who, f"older than the live version {version.seq}", now)


def propose(
    s: Session, flow: str, content: str, source: str, by: str, now: datetime
) -> tuple[FlowVersion, bool]:
    """Record ``content`` (already validated) as a new version of ``flow``; with the
    created flag False when it is the live or pending content already (nothing added).

    Under the live version's ``governance: none`` it goes live at once; otherwise it is
    pending, and withdraws any older pending version of the flow.
    """
    sha = sha256_of(content)
    same = s.execute(
        select(FlowVersion).where(
            FlowVersion.flow == flow,
            FlowVersion.sha256 == sha,
            FlowVersion.status.in_(("live", "pending")),
        )
    ).scalar_one_or_none()
    if same is not None:
        return same, False
    version = FlowVersion(
        flow=flow,
        seq=_next_seq(s, flow),
        sha256=sha,
        content=content,
        source=source,
        status="pending",
        proposed_by=by,
        proposed_at=now,
    )
    s.add(version)
    s.flush()
    _record(s, "proposed", version, by, now)
    superseded = select(FlowVersion).where(
        FlowVersion.flow == flow, FlowVersion.status == "pending", FlowVersion.id != version.id
    )
    for older in s.execute(superseded).scalars():
        _decide(s, older, "withdrawn", by, f"superseded by version {version.seq}", now)
    current = live(s, flow)
    if current is not None and governance_of(current.content) == "none":
        _make_live(s, version, NO_GOVERNANCE, None, now)
    return version, True


def _pending_one(s: Session, version: FlowVersion) -> FlowVersion:
    if version.status != "pending":
        raise FlowVersionError(
            f"version {version.flow}:{version.seq} is {version.status}, not pending"
        )
    current = live(s, version.flow)
    if current is not None and current.seq > version.seq:
        # Proposals and approvals withdraw older pending versions, so this is a race.
        raise FlowVersionError(
            f"version {version.flow}:{version.seq} is older than the live version {current.seq}"
        )
    return version


def approve(
    s: Session, version: FlowVersion, by: str, comment: str | None, now: datetime
) -> FlowVersion:
    """Make a pending version live; the live one is retired."""
    _make_live(s, _pending_one(s, version), by, comment, now)
    return version


def reject(s: Session, version: FlowVersion, by: str, comment: str, now: datetime) -> FlowVersion:
    """Refuse a pending version; the comment, saying why, is required."""
    if not comment.strip():
        raise FlowVersionError("a rejection needs a comment saying why")
    _decide(s, _pending_one(s, version), "rejected", by, comment.strip(), now)
    return version

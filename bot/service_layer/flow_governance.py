"""Governed flow changes: propose, list what waits, approve, reject (the use cases the
command line and the console share).

A proposal is validated first: a file with errors is never stored. Approving needs a
compliance user where a person signs in (the console checks the role; the command line
is run by an operator on the server, named with ``--by``). Every step is an audit record
(``bot.adapters.flow_versions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.adapters import flow_versions
from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import load_flow
from bot.adapters.flow_version_tables import FlowVersion
from bot.adapters.flow_versions import FlowVersionError
from bot.adapters.yaml_files import FlowFileError
from bot.domain.flow_diff import FlowDiff, diff_flows
from bot.domain.flows import Flow

__all__ = [
    "FlowFileError",
    "FlowVersionError",
    "PendingChange",
    "VersionRow",
    "approve",
    "live_flow",
    "pending_changes",
    "propose_file",
    "reject",
    "version_history",
]


@dataclass(frozen=True)
class VersionRow:
    """A flow version as people see it: never its whole content."""

    id: int
    flow: str
    seq: int
    sha256: str
    source: str
    status: str
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None

    @property
    def ref(self) -> str:
        return f"{self.flow}:{self.seq}"


@dataclass(frozen=True)
class PendingChange:
    version: VersionRow
    live: VersionRow | None
    diff: FlowDiff


def _row(v: FlowVersion) -> VersionRow:
    return VersionRow(
        v.id,
        v.flow,
        v.seq,
        v.sha256,
        v.source,
        v.status,
        v.proposed_by,
        v.proposed_at,
        v.decided_by,
        v.decided_at,
        v.comment,
    )


def _flow(version: FlowVersion, domain_path: Path | None) -> Flow:
    return load_flow(Path(version.source), domain_path, version.content.encode())


def live_flow(sessions: SessionFactory, path: Path, domain_path: Path | None = None) -> Flow:
    """The flow in force for the flow the file at ``path`` names: its live version, as
    the running service uses it; the file's own flow where no version of it is live yet
    (a database the service never started on). A file being edited may be broken for a
    while: the live version that came from a file of that name is then still in force.
    FlowFileError when neither can be used."""
    try:
        file_flow: Flow | None = load_flow(path, domain_path)
    except FlowFileError:
        file_flow = None
    with sessions() as s:
        if file_flow is not None:
            version = flow_versions.live(s, file_flow.name)
            return file_flow if version is None else _flow(version, domain_path)
        same_file = [v for v in flow_versions.history(s) if v.status == "live"]
        same_file = [v for v in same_file if v.source == path.name]
        if len(same_file) != 1:
            load_flow(path, domain_path)  # raises, saying what is wrong with the file
        return _flow(same_file[0], domain_path)


def propose_file(
    sessions: SessionFactory, path: Path, by: str, now: datetime, domain_path: Path | None = None
) -> tuple[VersionRow, bool]:
    """Validate ``path`` and record it as a new version of its flow (pending, or live
    under the live version's ``governance: none``); FlowFileError, with nothing stored,
    when it has errors. The flag is False when that content is already live or pending."""
    data = path.read_bytes()
    flow = load_flow(path, domain_path, data)
    with sessions.begin() as s:
        version, created = flow_versions.propose(s, flow.name, data.decode(), path.name, by, now)
        return _row(version), created


def pending_changes(
    sessions: SessionFactory, domain_path: Path | None = None
) -> list[PendingChange]:
    """Every pending version with what it changes against its flow's live version."""
    with sessions.begin() as s:
        changes = []
        for version in flow_versions.pending(s):
            live = flow_versions.live(s, version.flow)
            before = _flow(live, domain_path) if live is not None else None
            diff = diff_flows(before, _flow(version, domain_path))
            changes.append(
                PendingChange(_row(version), _row(live) if live is not None else None, diff)
            )
        return changes


def version_history(sessions: SessionFactory, flow: str | None = None) -> list[VersionRow]:
    with sessions.begin() as s:
        return [_row(v) for v in flow_versions.history(s, flow)]


def approve(
    sessions: SessionFactory, ref: str, by: str, comment: str | None, now: datetime
) -> VersionRow:
    """Make pending version ``ref`` (``3`` or ``default:3``) live; FlowVersionError
    when it names no pending version."""
    with sessions.begin() as s:
        version = flow_versions.find(s, ref)
        return _row(flow_versions.approve(s, version, by, (comment or "").strip() or None, now))


def reject(sessions: SessionFactory, ref: str, by: str, comment: str, now: datetime) -> VersionRow:
    """Refuse pending version ``ref``; the comment saying why is required."""
    with sessions.begin() as s:
        version = flow_versions.find(s, ref)
        return _row(flow_versions.reject(s, version, by, comment, now))

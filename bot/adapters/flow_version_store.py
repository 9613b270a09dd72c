"""The flow in force: the live flow version's content, not the file.

The service still watches its flow file: a changed file that is valid is proposed as a
new version (``bot.adapters.flow_versions``), which goes live at once only under the
live version's ``governance: none``; an invalid one is logged with its file:line errors
and never proposed. ``refresh`` does that and looks up the live version; the service
runs it every few seconds in a background job (GANGWAY_FLOW_POLL_SECONDS), so a version
approved anywhere (the console, the command line, another process) is in force
everywhere within seconds, without a restart. ``current`` itself never touches the
database: it is asked inside the callers' transactions, and a transaction of its own
there would wait on theirs.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from bot.adapters import flow_versions
from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import load_flow
from bot.adapters.yaml_files import FlowError, FlowFileError
from bot.domain.flow_variants import effective
from bot.domain.flows import Flow

__all__ = ["VersionedFlowStore"]

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class VersionedFlowStore:
    """A ``FlowSource`` over the ``flow_versions`` table, fed by the flow file.

    On a database with no version of the file's flow, the file is installed as version
    1, live. The file must be valid when the store starts (FlowFileError otherwise).
    """

    def __init__(
        self,
        sessions: SessionFactory,
        path: Path,
        domain_path: Path | None = None,
        *,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.path, self.domain_path = path, domain_path
        self._sessions, self._now = sessions, now
        self._lock = threading.Lock()
        self._loaded: dict[int, Flow] = {}
        self.errors: list[FlowError] = []
        data = path.read_bytes()
        file_flow = load_flow(path, domain_path, data)
        self.name = file_flow.name
        try:
            with sessions.begin() as s:
                flow_versions.install(s, self.name, data.decode(), path.name, self._now())
        except IntegrityError:  # another process installed it at the same moment
            log.info("flow %s: installed by another process", self.name)
        self._stamp = self._file_stamp()
        self._offer(data)
        self._flow = self._load_live()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _offer(self, data: bytes) -> None:
        """Propose the file's content when it is valid and new; log its errors if not."""
        try:
            name = load_flow(self.path, self.domain_path, data).name
        except FlowFileError as exc:
            self.errors = exc.errors
            log.error("flow %s not proposed; it has errors:\n%s", self.path, exc)
            return
        self.errors = []
        content = data.decode()
        try:
            self._propose(name, content)
        except IntegrityError:  # another process proposed it at the same moment
            log.info("flow %s: the file was proposed by another process", self.name)

    def _propose(self, name: str, content: str) -> None:
        """As a version of the flow the content names (a renamed flow is another flow)."""
        with self._sessions.begin() as s:
            seen = {(v.sha256, v.status) for v in flow_versions.history(s, name)}
            sha = flow_versions.sha256_of(content)
            if {(sha, "live"), (sha, "pending"), (sha, "rejected")} & seen:
                return  # once per content: a rejected one is proposed again only by hand
            version, _ = flow_versions.propose(
                s, name, content, self.path.name, f"file {self.path.name}", self._now()
            )
            log.info("flow %s: version %s is %s", name, version.seq, version.status)

    def _load_live(self) -> Flow:
        with self._sessions.begin() as s:
            version = flow_versions.live(s, self.name)
            if version is None:
                message = (
                    f"no version of the flow {self.name!r} is live; approve one "
                    "(gangway flows pending, gangway flows approve VERSION)"
                )
                raise FlowFileError([FlowError(str(self.path), None, message)])
            if version.id not in self._loaded:
                flow = load_flow(Path(version.source), self.domain_path, version.content.encode())
                self._loaded = {version.id: _versioned(flow, version.id)}
                log.info("flow %s: version %s is in force", self.name, version.seq)
            return self._loaded[version.id]

    def refresh(self) -> bool:
        """Propose the file if it changed, then take the live version; True when a
        different version came in force. Outside any transaction of the caller's."""
        with self._lock:
            stamp = self._file_stamp()
            if stamp != self._stamp and stamp is not None:
                self._stamp = stamp
                try:
                    self._offer(self.path.read_bytes())
                except OSError as exc:
                    log.error("flow %s cannot be read: %s", self.path, exc)
            before = self._flow.version_id
            try:
                self._flow = self._load_live()
            except FlowFileError as exc:  # a live content that no longer loads
                log.error("flow %s: keeping the flow in force:\n%s", self.name, exc)
            return self._flow.version_id != before

    def fire_due(self) -> int:
        """The background job's beat (``TimerScheduler``): ``refresh``."""
        return int(self.refresh())

    def current(self) -> Flow:
        """The live version's flow as last refreshed (the base flow, without a variant)."""
        return self._flow

    def for_conversation(self, conversation_id: str, variant: str | None) -> Flow:
        """The flow a conversation assigned ``variant`` runs now (see ``effective``)."""
        return effective(self.current(), variant)


def _versioned(flow: Flow, version_id: int) -> Flow:
    return dataclasses.replace(flow, version_id=version_id)

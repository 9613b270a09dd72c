"""The flow version `gangway simulate` shows: the live version when versions are kept."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_FLOW_PATH, load_flow
from bot.adapters.flow_version_tables import FlowVersion
from bot.entrypoints.flow_test_stack import flow_version

WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def version(flow: str, seq: int, status: str, sha256: str) -> FlowVersion:
    return FlowVersion(
        flow=flow, seq=seq, sha256=sha256, content="flow: x\n", source=f"{flow}.yml",
        status=status, proposed_by="marketing@example.com", proposed_at=WHEN,
    )  # fmt: skip


def test_without_versions_the_files_fingerprint_is_shown(sessions: SessionFactory) -> None:
    flow = load_flow(DEFAULT_FLOW_PATH)
    with sessions() as s:
        s.add(version("another", 1, "live", "b" * 64))
        s.commit()
        assert flow_version(s, flow) == f"file {flow.digest[:12]}"


def test_the_live_version_is_shown_not_a_pending_or_retired_one(
    sessions: SessionFactory,
) -> None:
    flow = load_flow(DEFAULT_FLOW_PATH)
    with sessions() as s:
        s.add_all(
            [
                version(flow.name, 1, "retired", "1" * 64),
                version(flow.name, 2, "live", "2" * 64),
                version(flow.name, 3, "pending", "3" * 64),
            ]
        )
        s.commit()
        assert flow_version(s, flow) == "v2 (222222222222)"

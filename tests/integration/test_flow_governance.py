"""Governed flow versions against a real database: what is live, what waits for
compliance, and the audit log of every step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH
from bot.adapters.flow_version_store import VersionedFlowStore
from bot.adapters.flow_version_tables import FlowVersion
from bot.service_layer import flow_governance
from bot.service_layer.flow_governance import FlowVersionError
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock

SHIPPED = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")
GREETING = "Hi! I'm the virtual assistant of Example Bank."


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def store(sessions: SessionFactory, path: Path, clock: FakeClock) -> VersionedFlowStore:
    """A process's view of the flow."""
    return VersionedFlowStore(sessions, path, DEFAULT_DOMAIN_PATH, now=clock.now)


def greeting(flows: VersionedFlowStore) -> str | None:
    """The English greeting in force once the process's background beat has run."""
    flows.fire_due()
    return flows.current().response("utter_greet", "en")


def versions(sessions: SessionFactory) -> list[tuple[int, str, str]]:
    with sessions.begin() as s:
        rows = s.scalars(select(FlowVersion).order_by(FlowVersion.seq))
        return [(v.seq, v.status, v.proposed_by) for v in rows]


def audit(sessions: SessionFactory) -> list[dict[str, Any]]:
    with chained(sessions).begin() as s:
        return [
            {"kind": r.kind, **json.loads(r.payload)}
            for r in audit_log.iter_records(s)
            if r.kind.startswith("flow_")
        ]


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    return write(tmp_path / "default.yml", SHIPPED)


def test_a_fresh_database_installs_the_file_as_version_1(
    sessions: SessionFactory, flow_file: Path, clock: FakeClock
) -> None:
    flows = store(sessions, flow_file, clock)
    assert versions(sessions) == [(1, "live", "installation")]
    assert flows.current().version_id is not None
    [installed] = audit(sessions)
    assert installed["kind"] == "flow_installed" and installed["seq"] == 1
    assert installed["sha256"] == flow_governance.flow_versions.sha256_of(SHIPPED)


def test_an_unapproved_change_is_not_live_and_an_approved_one_is_without_restart(
    sessions: SessionFactory, flow_file: Path, clock: FakeClock
) -> None:
    service, other_process = store(sessions, flow_file, clock), store(sessions, flow_file, clock)
    write(flow_file, SHIPPED.replace(GREETING, "Hello from Example Bank."))
    assert greeting(service) is not None and greeting(service).startswith(GREETING)  # type: ignore[union-attr]
    assert versions(sessions) == [(1, "live", "installation"), (2, "pending", "file default.yml")]
    assert greeting(other_process).startswith(GREETING)  # type: ignore[union-attr]

    flow_governance.approve(sessions, "2", "carla (compliance)", "fine", clock.now())

    assert greeting(service) == greeting(other_process)
    assert greeting(other_process).startswith("Hello from Example Bank.")  # type: ignore[union-attr]
    assert [v[1] for v in versions(sessions)] == ["retired", "live"]
    kinds = [(r["kind"], r["seq"], r["by"]) for r in audit(sessions)]
    assert kinds[1:] == [
        ("flow_proposed", 2, "file default.yml"),
        ("flow_approved", 2, "carla (compliance)"),
    ]


def test_the_same_content_is_proposed_once(
    sessions: SessionFactory, flow_file: Path, clock: FakeClock
) -> None:
    flows = store(sessions, flow_file, clock)
    write(flow_file, SHIPPED.replace(GREETING, "Hello."))
    flows.fire_due()
    write(flow_file, SHIPPED.replace(GREETING, "Hello."))  # saved again, same content
    flows.fire_due()
    store(sessions, flow_file, clock)  # a restart
    assert [v[1] for v in versions(sessions)] == ["live", "pending"]


def test_governance_none_goes_live_at_once_still_versioned_and_audited(
    sessions: SessionFactory, flow_file: Path, clock: FakeClock
) -> None:
    ungoverned = SHIPPED.replace("governance: required", "governance: none")
    flows = store(sessions, write(flow_file, ungoverned), clock)
    write(flow_file, ungoverned.replace(GREETING, "Hello from Example Bank."))
    assert greeting(flows).startswith("Hello from Example Bank.")  # type: ignore[union-attr]
    assert [v[1] for v in versions(sessions)] == ["retired", "live"]
    approved = audit(sessions)[-1]
    assert (approved["kind"], approved["by"]) == ("flow_approved", "governance: none")


def test_a_change_cannot_switch_governance_off_and_approve_itself(
    sessions: SessionFactory, flow_file: Path, clock: FakeClock
) -> None:
    flows = store(sessions, flow_file, clock)
    sneaky = SHIPPED.replace("governance: required", "governance: none")
    write(flow_file, sneaky.replace(GREETING, "Consent is optional."))
    assert greeting(flows).startswith(GREETING)  # type: ignore[union-attr]
    assert [v[1] for v in versions(sessions)] == ["live", "pending"]


def test_an_invalid_file_never_becomes_pending(
    sessions: SessionFactory, flow_file: Path, clock: FakeClock
) -> None:
    flows = store(sessions, flow_file, clock)
    write(flow_file, SHIPPED.replace("transition_at: identity", "transition_at: sometimes"))
    assert greeting(flows).startswith(GREETING)  # type: ignore[union-attr]
    assert versions(sessions) == [(1, "live", "installation")]
    [error] = flows.errors
    assert error.line == SHIPPED.splitlines().index("transition_at: identity") + 1


def test_a_newer_proposal_withdraws_the_older_and_reject_needs_a_comment(
    sessions: SessionFactory, flow_file: Path, clock: FakeClock, tmp_path: Path
) -> None:
    store(sessions, flow_file, clock)
    first = write(tmp_path / "a.yml", SHIPPED.replace(GREETING, "Hello A."))
    second = write(tmp_path / "b.yml", SHIPPED.replace(GREETING, "Hello B."))
    flow_governance.propose_file(sessions, first, "mo (marketing)", clock.now())
    flow_governance.propose_file(sessions, second, "mo (marketing)", clock.now())
    assert [v[1] for v in versions(sessions)] == ["live", "withdrawn", "pending"]
    with pytest.raises(FlowVersionError, match="not pending"):
        flow_governance.approve(sessions, "default:2", "carla", None, clock.now())
    with pytest.raises(FlowVersionError, match="needs a comment"):
        flow_governance.reject(sessions, "3", "carla", "  ", clock.now())
    flow_governance.reject(
        sessions, "3", "carla", "the consent wording is not approved", clock.now()
    )
    assert [v[1] for v in versions(sessions)] == ["live", "withdrawn", "rejected"]
    rejected = audit(sessions)[-1]
    assert rejected["kind"] == "flow_rejected"
    assert rejected["comment"] == "the consent wording is not approved"
    assert [r["kind"] for r in audit(sessions)].count("flow_withdrawn") == 1
    with pytest.raises(FlowVersionError, match="no flow version 9"):
        flow_governance.approve(sessions, "9", "carla", None, clock.now())


def test_commands_outside_the_service_use_the_live_version_not_the_edited_file(
    sessions: SessionFactory, flow_file: Path, clock: FakeClock
) -> None:
    """Retention and reports read the flow in force: an unapproved edit, or a file
    broken mid-edit, does not change what they apply."""
    store(sessions, flow_file, clock)
    write(flow_file, SHIPPED.replace(GREETING, "Hello."))
    live = flow_governance.live_flow(sessions, flow_file, DEFAULT_DOMAIN_PATH)
    assert live.response("utter_greet", "en").startswith(GREETING)  # type: ignore[union-attr]
    write(flow_file, SHIPPED.replace("transition_at: identity", "transition_at: sometimes"))
    live = flow_governance.live_flow(sessions, flow_file, DEFAULT_DOMAIN_PATH)
    assert live.response("utter_greet", "en").startswith(GREETING)  # type: ignore[union-attr]


def test_without_a_live_version_the_file_is_the_flow_and_a_broken_one_says_why(
    sessions: SessionFactory, flow_file: Path
) -> None:
    assert flow_governance.live_flow(sessions, flow_file).name == "default"
    write(flow_file, SHIPPED.replace("transition_at: identity", "transition_at: sometimes"))
    with pytest.raises(flow_governance.FlowFileError, match="sometimes"):
        flow_governance.live_flow(sessions, flow_file)

"""The console's "Flow changes" page: compliance reads the diff and approves or rejects
with the console's CSRF protection, marketing reads it, everyone else gets a 403."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH
from bot.adapters.flow_version_store import VersionedFlowStore
from bot.entrypoints.routes import console_flow_changes
from bot.service_layer import flow_governance
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.integration.test_console import (
    FakeContainer,
    add_user,
    hidden_csrf,
    make_app,
    make_container,
    signed_in,
)

SHIPPED = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")
GERMAN = "Danke! Eine Person aus unserem Team meldet sich hier so bald wie möglich bei Ihnen."


@pytest.fixture
def container(sessions: SessionFactory, clock: FakeClock) -> FakeContainer:
    return make_container(sessions, clock)


@pytest.fixture
def flows(container: FakeContainer, tmp_path: Path) -> VersionedFlowStore:
    """The service's flow: the shipped file live, and a change to it pending."""
    path = tmp_path / "default.yml"
    path.write_text(SHIPPED, encoding="utf-8")
    flows = VersionedFlowStore(
        container.sessions, path, DEFAULT_DOMAIN_PATH, now=container.clock.now
    )
    path.write_text(
        SHIPPED.replace(GERMAN, "Danke! Wir melden uns gleich.").replace(
            "invite_expiry: 24h", "invite_expiry: 48h"
        ),
        encoding="utf-8",
    )
    flows.fire_due()
    return flows


@pytest.fixture
def app(container: FakeContainer, flows: VersionedFlowStore) -> FastAPI:
    app = make_app(container)
    app.include_router(console_flow_changes.router)
    s, c = container.sessions, container.clock
    add_user(s, c, "clara@example.com", "compliance")
    add_user(s, c, "mark@example.com", "marketing")
    add_user(s, c, "anna@example.com", "advisor", "berlin")
    add_user(s, c, "ada@example.com", "admin")
    return app


@pytest.fixture
def clara(app: FastAPI) -> Iterator[TestClient]:
    with signed_in(app, "clara@example.com") as client:
        yield client


def statuses(container: FakeContainer) -> list[str]:
    return [v.status for v in flow_governance.version_history(container.sessions)]


def test_compliance_sees_the_diff_side_by_side(clara: TestClient) -> None:
    assert 'href="/console/flow-changes"' in clara.get("/console/").text
    page = clara.get("/console/flow-changes")
    assert page.status_code == 200
    assert 'data-testid="change-default-2"' in page.text
    assert "file default.yml" in page.text
    row = page.text.split('data-testid="diff-utter_human_requested-de"')[1].split("</tr>")[0]
    assert GERMAN in row and "Danke! Wir melden uns gleich." in row
    assert 'data-testid="diff-utter_human_requested-en"' not in page.text  # unchanged
    assert "timers.invite_expiry</code>: 1d &rarr; <strong>2d</strong>" in page.text
    assert 'data-testid="approve-default-2"' in page.text


def test_compliance_approves_and_the_flow_is_live_without_restart(
    container: FakeContainer, clara: TestClient, flows: VersionedFlowStore
) -> None:
    csrf = hidden_csrf(clara.get("/console/flow-changes").text)
    response = clara.post(
        "/console/flow-changes/default/2/approve",
        data={"csrf": csrf, "comment": "wording checked"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "Version default:2 is live." in clara.get(response.headers["location"]).text
    assert statuses(container) == ["retired", "live"]
    flows.fire_due()
    assert (
        flows.current().response("utter_human_requested", "de") == "Danke! Wir melden uns gleich."
    )
    with chained(container.sessions).begin() as s:
        [approved] = [r for r in audit_log.iter_records(s) if r.kind == "flow_approved"]
        payload = json.loads(approved.payload)
    assert "clara@example.com" in payload["by"]
    assert payload["comment"] == "wording checked" and payload["seq"] == 2


def test_a_rejection_needs_a_comment(container: FakeContainer, clara: TestClient) -> None:
    csrf = hidden_csrf(clara.get("/console/flow-changes").text)
    path = "/console/flow-changes/default/2/reject"
    refused = clara.post(path, data={"csrf": csrf, "comment": ""})
    assert refused.status_code == 409 and "needs a comment" in refused.text
    assert statuses(container) == ["live", "pending"]
    done = clara.post(path, data={"csrf": csrf, "comment": "not approved"}, follow_redirects=False)
    assert done.status_code == 303 and statuses(container) == ["live", "rejected"]
    assert 'data-testid="nothing-pending"' in clara.get("/console/flow-changes").text


def test_without_the_csrf_token_nothing_changes(
    container: FakeContainer, clara: TestClient
) -> None:
    response = clara.post("/console/flow-changes/default/2/approve", data={"csrf": "forged"})
    assert response.status_code == 403
    assert statuses(container) == ["live", "pending"]


def test_marketing_reads_but_cannot_decide(container: FakeContainer, app: FastAPI) -> None:
    with signed_in(app, "mark@example.com") as client:
        page = client.get("/console/flow-changes")
        assert page.status_code == 200 and 'data-testid="change-default-2"' in page.text
        assert 'data-testid="approve-default-2"' not in page.text
        response = client.post(
            "/console/flow-changes/default/2/approve", data={"csrf": hidden_csrf(page.text)}
        )
        assert response.status_code == 403
    assert statuses(container) == ["live", "pending"]


@pytest.mark.parametrize("email", ["anna@example.com", "ada@example.com"])
def test_other_roles_get_a_403(container: FakeContainer, app: FastAPI, email: str) -> None:
    with signed_in(app, email) as client:
        queue = client.get("/console/")
        assert "/console/flow-changes" not in queue.text
        assert client.get("/console/flow-changes").status_code == 403
        response = client.post(
            "/console/flow-changes/default/2/approve", data={"csrf": hidden_csrf(queue.text)}
        )
        assert response.status_code == 403
    assert statuses(container) == ["live", "pending"]

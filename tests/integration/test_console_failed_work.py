"""The console's "Failed work" page: admins see what failed and retry it with the
console's CSRF protection; nobody else sees the page, the link or the button."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.tables import CrmDelivery, OutboxMessage
from bot.entrypoints.routes import console_failed_work
from bot.service_layer import crm_outbox
from tests.fakes.clock import FakeClock
from tests.integration.test_console import (
    FakeContainer,
    add_user,
    hidden_csrf,
    make_app,
    make_container,
    signed_in,
)
from tests.integration.test_failed_work import failed_reply


@pytest.fixture
def container(sessions: SessionFactory, clock: FakeClock) -> FakeContainer:
    return make_container(sessions, clock)


@pytest.fixture
def app(container: FakeContainer) -> FastAPI:
    app = make_app(container)
    app.include_router(console_failed_work.router)
    s, c = container.sessions, container.clock
    add_user(s, c, "ada@example.com", "admin")
    add_user(s, c, "anna@example.com", "advisor", "berlin")
    add_user(s, c, "sara@example.com", "supervisor", "berlin")
    add_user(s, c, "clara@example.com", "compliance")
    add_user(s, c, "mark@example.com", "marketing")
    return app


@pytest.fixture
def ada(app: FastAPI) -> Iterator[TestClient]:
    with signed_in(app, "ada@example.com") as client:
        yield client


def status_of(container: FakeContainer, out_id: int) -> str:
    with container.sessions.begin() as s:
        return s.get_one(OutboxMessage, out_id).status


def test_admin_sees_a_failed_reply_without_its_text(
    container: FakeContainer, ada: TestClient
) -> None:
    conv, out_id, _proc, _sender = failed_reply(container.sessions, container.clock)
    assert 'href="/console/failed-work"' in ada.get("/console/").text
    page = ada.get("/console/failed-work")
    assert page.status_code == 200
    assert f'data-testid="failed-outbox-{out_id}"' in page.text
    assert conv in page.text and "21211" in page.text
    assert f'data-testid="retry-outbox-{out_id}"' in page.text
    assert "opening hours" not in page.text and "7700900123" not in page.text


def test_admin_retries_a_failed_reply(container: FakeContainer, ada: TestClient) -> None:
    _conv, out_id, _proc, sender = failed_reply(container.sessions, container.clock)
    page = ada.get("/console/failed-work")
    response = ada.post(
        f"/console/failed-work/outbox/{out_id}/retry",
        data={"csrf": hidden_csrf(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert status_of(container, out_id) == "pending"
    assert sender.sent == []
    after = ada.get(response.headers["location"])
    assert f"Outbox message {out_id} is due again" in after.text
    assert f'data-testid="failed-outbox-{out_id}"' not in after.text


def test_retry_without_the_csrf_token_changes_nothing(
    container: FakeContainer, ada: TestClient
) -> None:
    _conv, out_id, _proc, _sender = failed_reply(container.sessions, container.clock)
    response = ada.post(f"/console/failed-work/outbox/{out_id}/retry", data={"csrf": "forged"})
    assert response.status_code == 403
    assert status_of(container, out_id) == "failed"


def test_retrying_twice_says_why_the_second_is_refused(
    container: FakeContainer, ada: TestClient
) -> None:
    _conv, out_id, _proc, _sender = failed_reply(container.sessions, container.clock)
    csrf = hidden_csrf(ada.get("/console/failed-work").text)
    path = f"/console/failed-work/outbox/{out_id}/retry"
    assert ada.post(path, data={"csrf": csrf}, follow_redirects=False).status_code == 303
    again = ada.post(path, data={"csrf": csrf})
    assert again.status_code == 409
    assert "is pending, not failed" in again.text


def test_unknown_row_or_kind_is_a_404(ada: TestClient) -> None:
    csrf = hidden_csrf(ada.get("/console/failed-work").text)
    for path in ("/console/failed-work/outbox/99/retry", "/console/failed-work/mail/1/retry"):
        assert ada.post(path, data={"csrf": csrf}).status_code == 404


@pytest.mark.parametrize("email", ["anna@example.com", "sara@example.com", "clara@example.com"])
def test_other_roles_neither_see_nor_retry(
    container: FakeContainer, app: FastAPI, email: str
) -> None:
    _conv, out_id, _proc, _sender = failed_reply(container.sessions, container.clock)
    with signed_in(app, email) as client:
        queue = client.get("/console/")
        assert "/console/failed-work" not in queue.text
        assert client.get("/console/failed-work").status_code == 403
        response = client.post(
            f"/console/failed-work/outbox/{out_id}/retry",
            data={"csrf": hidden_csrf(queue.text)},
        )
        assert response.status_code == 403
    assert status_of(container, out_id) == "failed"


def test_signed_out_visitor_is_sent_to_sign_in(app: FastAPI) -> None:
    response = TestClient(app).get("/console/failed-work", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in")


def test_admin_retries_a_failed_crm_event(container: FakeContainer, ada: TestClient) -> None:
    with container.sessions.begin() as s:
        crm_outbox.enqueue(
            s, event="handoff.closed", handoff_id=None, data={}, now=container.clock.now()
        )
        s.flush()
        event = s.execute(select(CrmDelivery)).scalar_one()
        event.status, event.last_status = "failed", 410
        event_id = event.id
    page = ada.get("/console/failed-work")
    assert f'data-testid="failed-crm-{event_id}"' in page.text and "410" in page.text
    after = ada.post(
        f"/console/failed-work/crm/{event_id}/retry", data={"csrf": hidden_csrf(page.text)}
    )
    assert f"CRM event {event_id} is due again" in after.text
    with container.sessions.begin() as s:
        assert s.get_one(CrmDelivery, event_id).status == "pending"

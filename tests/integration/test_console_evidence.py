"""Compliance downloads a handoff's conversation as an evidence bundle, from the console
page and the JSON API; every other role is refused, and each download is audited."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.tables import InboxMessage
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.integration.test_console import (
    PASSPORT,
    FakeContainer,
    add_handoff,
    add_user,
    claim_as,
    make_app,
    make_container,
    signed_in,
)
from tests.integration.test_console_api import api_client

API = "/api/v1/console"
PASSPORT_MESSAGE = f"My passport number is {PASSPORT}"
BUNDLE = {
    "conversation.json",
    "transcript.json",
    "events.json",
    "consent.json",
    "invites.json",
    "handoffs.json",
    "secure_transcript.json",
    "transcript.html",
    "manifest.json",
}


@pytest.fixture
def container(sessions: SessionFactory, clock: FakeClock) -> FakeContainer:
    return make_container(sessions, clock)


@pytest.fixture
def app(container: FakeContainer) -> FastAPI:
    return make_app(container)


@pytest.fixture
def people(container: FakeContainer) -> dict[str, int]:
    s, c = container.sessions, container.clock
    return {
        "anna": add_user(s, c, "anna@example.com", "advisor", "berlin"),
        "sara": add_user(s, c, "sara@example.com", "supervisor", "berlin"),
        "clara": add_user(s, c, "clara@example.com", "compliance"),
        "ada": add_user(s, c, "ada@example.com", "admin"),
    }


@pytest.fixture
def clara(app: FastAPI, people: dict[str, int]) -> Iterator[TestClient]:
    with signed_in(app, "clara@example.com") as client:
        yield client


def annas_threshold_handoff(container: FakeContainer, people: dict[str, int]) -> int:
    """A conversation that reached identity (consent, invite), claimed by Anna: her
    supervisor Sara reads it too, so a refusal below is about the role, not reach."""
    messages = (("hi", "public"), (PASSPORT_MESSAGE, "identity"))
    hid = add_handoff(container, 1, messages=messages, level="identity", reason="threshold")
    claim_as(container, people["anna"], hid)
    return hid


def unzipped(response: Response) -> dict[str, bytes]:
    """The bundle's files by name, without the folder the zip puts them in."""
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        assert {name.split("/")[0] for name in names} == {"evidence-conv-1"}
        return {name.split("/", 1)[1]: archive.read(name) for name in names}


def exports(container: FakeContainer) -> list[dict[str, Any]]:
    with chained(container.sessions).begin() as s:
        return [
            {**json.loads(r.payload), "_conversation": r.conversation_id}
            for r in audit_log.iter_records(s)
            if r.kind == "evidence_exported"
        ]


def assert_a_saved_download(response: Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == (
        'attachment; filename="evidence-conv-1-20261122T090000Z.zip"'
    )
    assert response.headers["cache-control"] == "no-store"


# -- what compliance gets ---------------------------------------------------------------


def test_compliance_downloads_a_bundle_whose_manifest_vouches_for_every_file(
    clara: TestClient, container: FakeContainer, people: dict[str, int]
) -> None:
    """The handoff page links to the zip; its manifest lists every other file with the
    SHA-256 the file has, and the transcript holds the messages as the prospect wrote
    them, though the database keeps them sealed."""
    hid = annas_threshold_handoff(container, people)
    page = clara.get(f"/console/handoffs/{hid}")
    assert 'data-testid="evidence-download"' in page.text
    assert f'href="/console/handoffs/{hid}/evidence.zip"' in page.text
    assert "Download evidence (zip)" in page.text

    response = clara.get(f"/console/handoffs/{hid}/evidence.zip")
    assert_a_saved_download(response)
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        # Dated with the export's time (the clock's), not the server's local time.
        assert {i.date_time for i in archive.infolist()} == {(2026, 11, 22, 9, 0, 0)}
    files = unzipped(response)
    assert set(files) == BUNDLE
    manifest = json.loads(files["manifest.json"])
    assert manifest["conversation_id"] == "conv-1"
    assert manifest["chain"]["intact"] is True
    assert set(manifest["files"]) == BUNDLE - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name

    transcript = json.loads(files["transcript.json"])
    assert [(m["direction"], m["text"], m["level"]) for m in transcript] == [
        ("inbound", "hi", "public"),
        ("inbound", PASSPORT_MESSAGE, "identity"),
    ]
    with container.sessions.begin() as s:
        stored = s.execute(select(InboxMessage.body)).scalars().all()
    assert stored and not [body for body in stored if PASSPORT in body]
    consent = json.loads(files["consent.json"])
    assert [(c["decision"], c["text_matches_hash"]) for c in consent] == [("agreed", True)]
    assert [h["id"] for h in json.loads(files["handoffs.json"])] == [hid]


def test_the_api_gives_compliance_the_same_bundle(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """GET .../evidence with Clara's token: the zip, saved not cached, the passport
    message readable in its transcript."""
    hid = annas_threshold_handoff(container, people)
    response = api_client(app, container, "clara@example.com").get(f"{API}/handoffs/{hid}/evidence")
    assert_a_saved_download(response)
    files = unzipped(response)
    assert set(files) == BUNDLE
    texts = [m["text"] for m in json.loads(files["transcript.json"])]
    assert texts == ["hi", PASSPORT_MESSAGE]


def test_each_download_is_in_the_audit_log_with_digests_never_content(
    app: FastAPI, clara: TestClient, container: FakeContainer, people: dict[str, int]
) -> None:
    """One evidence_exported record per download: conversation, handoff, who, and the
    SHA-256 of the zip and of its manifest.json; the next bundle shows the earlier one."""
    hid = annas_threshold_handoff(container, people)
    first = clara.get(f"/console/handoffs/{hid}/evidence.zip")
    container.clock.advance(60)
    second = api_client(app, container, "clara@example.com").get(f"{API}/handoffs/{hid}/evidence")
    records = exports(container)
    assert len(records) == 2
    for record, response in zip(records, (first, second), strict=True):
        manifest = unzipped(response)["manifest.json"]
        assert record == {
            "_conversation": "conv-1",
            "conversation_id": "conv-1",
            "handoff_id": hid,
            "user_id": people["clara"],
            "zip_sha256": hashlib.sha256(response.content).hexdigest(),
            "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
            "chain_intact": True,
        }
    assert PASSPORT not in json.dumps(records)
    kinds = [e["kind"] for e in json.loads(unzipped(second)["events.json"])]
    assert kinds.count("evidence_exported") == 1


# -- who may not ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "role"),
    [
        ("anna@example.com", "advisor"),
        ("sara@example.com", "supervisor"),
        ("ada@example.com", "admin"),
    ],
)
def test_every_other_role_is_refused_with_403_and_nothing_is_recorded(
    app: FastAPI, container: FakeContainer, people: dict[str, int], email: str, role: str
) -> None:
    """The advisor who has the handoff, her supervisor and an admin: no link, 403 on the
    page and in the API, no bundle, no export in the audit log."""
    hid = annas_threshold_handoff(container, people)
    with signed_in(app, email) as client:
        page = client.get(f"/console/handoffs/{hid}")
        assert "evidence.zip" not in page.text
        refused = client.get(f"/console/handoffs/{hid}/evidence.zip")
        assert refused.status_code == 403
        assert "cannot download evidence bundles" in refused.text
        assert PASSPORT not in refused.text
    api = api_client(app, container, email).get(f"{API}/handoffs/{hid}/evidence")
    assert api.status_code == 403
    assert api.json() == {"detail": f"your role ({role}) cannot download evidence bundles"}
    assert exports(container) == []


def test_signed_out_is_sent_to_sign_in_and_the_api_wants_a_token(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """No session: the page redirects to sign-in; no token: 401. Nothing is recorded."""
    hid = annas_threshold_handoff(container, people)
    client = TestClient(app)
    page = client.get(f"/console/handoffs/{hid}/evidence.zip", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/sign-in"
    api = client.get(f"{API}/handoffs/{hid}/evidence")
    assert api.status_code == 401
    assert api.headers["www-authenticate"] == "Bearer"
    assert exports(container) == []


def test_an_unknown_handoff_is_404(
    app: FastAPI, clara: TestClient, container: FakeContainer, people: dict[str, int]
) -> None:
    """Compliance asking for a handoff that does not exist gets 404 on both, no record."""
    page = clara.get("/console/handoffs/999/evidence.zip")
    assert page.status_code == 404
    assert "there is no handoff 999" in page.text
    api = api_client(app, container, "clara@example.com").get(f"{API}/handoffs/999/evidence")
    assert (api.status_code, api.json()) == (404, {"detail": "there is no handoff 999"})
    assert exports(container) == []


def test_the_openapi_document_describes_the_download(app: FastAPI) -> None:
    """A bearer-authenticated GET answering application/zip, with its 401, 403 and 404."""
    operation = app.openapi()["paths"][f"{API}/handoffs/{{handoff_id}}/evidence"]["get"]
    assert operation["security"] == [{"HTTPBearer": []}]
    assert operation["tags"] == ["console"]
    assert set(operation["responses"]["200"]["content"]) == {"application/zip"}
    assert "manifest.json" in operation["responses"]["200"]["description"]
    assert {"401", "403", "404"} <= set(operation["responses"])

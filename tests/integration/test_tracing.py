"""Optional OpenTelemetry traces: spans for the requests the service answers, its queries
and its outside calls, without what the logs may not hold either."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bot.bootstrap import Container, build
from bot.config import Settings, load_settings
from bot.entrypoints.app import create_app
from bot.entrypoints.tracing import start_tracing
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding

PROSPECT = "whatsapp:+12025550123"
NO_DATABASE = "sqlite://"  # for the tests that never open one


def settings_for(database_url: str, tmp_path: Path, **extra: str) -> Settings:
    return load_settings(
        {
            "DATABASE_URL": database_url,
            "GANGWAY_PUBLIC_URL": "https://gangway.example.com",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "test-auth-token-0123456789abcdef",
            "GANGWAY_STATE_DIR": str(tmp_path),
            **extra,
        }
    )


def test_requests_and_their_queries_are_traced(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """GET /readyz makes a server span and query spans under it; the background loops'
    queries make none of their own, nor do /metrics and the secure channel's pages."""
    settings = settings_for(database_url, tmp_path)
    exported = InMemorySpanExporter()
    tracing = start_tracing(settings, exporter=exported)
    assert tracing is not None

    def container() -> Container:
        return build(
            settings,
            clock=clock,
            dialogue=FakeDialogue(),
            understanding=FakeUnderstanding(),
            model=FakeModel(),
            sender=FakeSender(clock.now),
        )

    with TestClient(create_app(container, tracing=tracing)) as client:
        exported.clear()  # what the start-up did
        assert client.get("/readyz").status_code == 200
        client.get("/metrics")
        client.get("/secure/an-invite-token-0123456789")
        spans = exported.get_finished_spans()

    server = [s for s in spans if s.name == "GET /readyz"]
    assert len(server) == 1
    queries = [
        s for s in spans if s.attributes and {"db.statement", "db.query.text"} & set(s.attributes)
    ]
    assert queries, [s.name for s in spans]
    assert all(q.context.trace_id == server[0].context.trace_id for q in queries)
    names = " ".join(s.name for s in spans)
    assert "/metrics" not in names and "/secure" not in names
    assert not any("an-invite-token" in str(s.attributes) for s in spans)


def test_an_outside_call_is_traced_without_its_query(tmp_path: Path) -> None:
    """A Twilio look-up carries the prospect's number in its query: the span keeps the
    URL without it."""
    exported = InMemorySpanExporter()
    tracing = start_tracing(settings_for(NO_DATABASE, tmp_path), exporter=exported)
    assert tracing is not None
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    tracing.instrument_http(http)
    try:
        http.get("https://api.twilio.example/2010-04-01/Messages.json", params={"To": PROSPECT})
    finally:
        http.close()
        tracing.close()
    (span,) = exported.get_finished_spans()
    assert span.attributes is not None
    urls = [v for k, v in span.attributes.items() if k in ("url.full", "http.url")]
    assert urls == ["https://api.twilio.example/2010-04-01/Messages.json"] * len(urls) != []
    assert "12025550123" not in str(span.attributes)


def test_no_tracing_without_an_endpoint(tmp_path: Path) -> None:
    assert start_tracing(settings_for(NO_DATABASE, tmp_path)) is None


def test_an_endpoint_without_the_extra_installed_warns_and_runs_untraced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(
        NO_DATABASE, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318"
    )
    # As if the `otel` extra were not installed: importing its SDK fails.
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with caplog.at_level(logging.WARNING, logger="bot.entrypoints.tracing"):
        assert start_tracing(settings) is None
    assert [r.getMessage() for r in caplog.records] == [
        "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
        "(pip install 'gangway[otel]'): running without traces"
    ]

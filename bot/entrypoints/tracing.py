"""Optional OpenTelemetry traces: each request the service answers (FastAPI), each call
it makes (httpx: Twilio, Rasa, the CRM, the secure messenger) and each query
(SQLAlchemy), sent over OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT``.

Off unless that variable is set, and then only with the ``otel`` extra installed
(``pip install 'gangway[otel]'``): without it the service says so once and runs
untraced. Traces carry no more than the logs may: an outgoing call's URL loses its
query (a Twilio look-up puts the prospect's number there), queries go without their
parameters, and the secure channel's pages (whose paths hold invite tokens) and
``/metrics`` are not traced at all.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from bot.config import Settings

if TYPE_CHECKING:
    import httpx
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span
    from sqlalchemy import Engine

    from bot.bootstrap import Container

__all__ = ["Tracing", "start_tracing"]

log = logging.getLogger(__name__)

SERVICE_NAME = "gangway"
# Regular expressions of paths left untraced: invite links carry their token in the path.
UNTRACED = "/secure/.*,/metrics"


class Tracing:
    """A tracer provider and what it instruments; ``close`` flushes and undoes it.

    Queries have a provider of their own, sending to the same place, that records a
    query only within a traced request or call: the service's background loops poll
    the database several times a second, and a trace of each poll would drown the rest.
    """

    def __init__(self, provider: TracerProvider, queries: TracerProvider) -> None:
        self.provider = provider
        self._queries = queries
        self._engine_instrumented = False

    def instrument_app(self, app: FastAPI) -> None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, excluded_urls=UNTRACED
        )

    def instrument_container(self, container: Container) -> None:
        """Its queries and its calls to the outside."""
        self.instrument_engine(container.engine)
        for client in container.http_clients:
            self.instrument_http(client)

    def instrument_engine(self, engine: Engine) -> None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # Its declared range stops before SQLAlchemy 2.1, whose engine events it uses
        # unchanged: the test of traced queries checks that it still works.
        SQLAlchemyInstrumentor().instrument(
            engine=engine, tracer_provider=self._queries, skip_dep_check=True
        )
        self._engine_instrumented = True

    def instrument_http(self, client: httpx.Client) -> None:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(
            client, tracer_provider=self.provider, request_hook=_without_query
        )

    def close(self) -> None:
        if self._engine_instrumented:
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

            SQLAlchemyInstrumentor().uninstrument()
            self._engine_instrumented = False
        self.provider.shutdown()


def _without_query(span: Span, request: Any) -> None:
    """The call's URL without its query, in both the old and the new attribute."""
    url = request[1]  # (method, url, headers, stream, extensions)
    bare = str(url.copy_with(query=None, fragment=None))
    for name in ("url.full", "http.url"):
        span.set_attribute(name, bare)


def start_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing | None:
    """Tracing when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (or an ``exporter`` is given,
    as a test does), else None. Spans go out in batches, off the request's thread."""
    endpoint = settings.otel_exporter_otlp_endpoint
    if exporter is None and not endpoint:
        return None
    try:
        import opentelemetry.instrumentation.fastapi
        import opentelemetry.instrumentation.httpx
        import opentelemetry.instrumentation.sqlalchemy  # noqa: F401
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SimpleSpanProcessor,
            SpanProcessor,
        )
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
            "(pip install 'gangway[otel]'): running without traces"
        )
        return None
    processor: SpanProcessor
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert endpoint is not None
        url = endpoint.rstrip("/") + "/v1/traces"
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=url))
        log.info("tracing to %s", url)
    resource = Resource.create({"service.name": SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    queries = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_OFF))
    queries.add_span_processor(processor)
    return Tracing(provider, queries)

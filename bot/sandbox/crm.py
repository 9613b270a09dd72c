"""A stand-in for the firm's CRM: it receives gangway's signed webhooks on loopback.

It does what a real receiver should (see integrations.crm_webhook): checks the
Standard Webhooks signature and timestamp with the ``standardwebhooks`` library's
signer against any of its secrets (401 otherwise), checks the body is a JSON object
whose ``id`` is the ``webhook-id`` (400), and stores each id once -- an id it
already has is answered 200 without being stored again, only counted in
``deliveries``.

Routes (under ``prefix``, default ``/crm``):

- ``POST /crm/events``: the webhook; point ``GANGWAY_CRM_URL`` here.
- ``GET /crm/events``: ``{"events": [...]}`` in order of arrival, each with its
  ``idempotency_key`` (the ``webhook-id``), ``event``, ``timestamp``, ``received_at``,
  ``deliveries`` (how many signed requests carried the id) and ``payload`` (the
  parsed body).
  ``DELETE`` forgets them.
- ``POST /crm/faults`` ``{"status": 503, "count": 3, "delay_seconds": 0}``: the
  next ``count`` webhooks are answered ``status`` after ``delay_seconds``. A
  non-2xx fault answers without looking at the request (the CRM is down); a
  2xx fault handles the request normally and only then waits, which with a
  delay past gangway's timeout plays an answer lost after the CRM stored the
  event. ``GET`` lists the faults queued, ``DELETE`` drops them.

All state lives in one `CrmStandIn` object; nothing is global.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from integrations.standard_webhooks import (
    DEFAULT_TOLERANCE_SECONDS,
    ID_HEADER,
    TIMESTAMP_HEADER,
    WebhookRefused,
    check,
)

__all__ = ["CrmFault", "CrmStandIn", "build_router", "create_app"]


@dataclass
class CrmFault:
    """The next ``count`` webhooks are answered ``status`` after ``delay_seconds``."""

    status: int
    count: int = 1
    delay_seconds: float = 0.0

    @property
    def accepts(self) -> bool:
        return 200 <= self.status < 300

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "count": self.count, "delay_seconds": self.delay_seconds}


@dataclass
class _Received:
    idempotency_key: str
    event: str
    timestamp: int
    received_at: datetime
    payload: dict[str, Any]
    deliveries: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "event": self.event,
            "timestamp": self.timestamp,
            "received_at": self.received_at.isoformat(),
            "deliveries": self.deliveries,
            "payload": self.payload,
        }


class CrmStandIn:
    """The CRM's memory: events by idempotency key, and the faults to play.

    ``secrets``: the keys whose signature it accepts (any one will do, as a receiver
    does while the shared secret changes). ``now`` is the receiver's clock in Unix
    seconds (a test whose gangway runs on a fake clock passes that clock here, or
    every timestamp looks stale).
    """

    def __init__(
        self,
        secrets: Sequence[bytes],
        *,
        now: Callable[[], float] = time.time,
        tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    ) -> None:
        if isinstance(secrets, bytes | str) or not secrets or not all(secrets):
            raise ValueError("the CRM stand-in needs one or more non-empty secrets")
        self._secrets = tuple(secrets)
        self._now = now
        self._tolerance = tolerance
        self._events: dict[str, _Received] = {}
        self._faults: deque[CrmFault] = deque()
        self._lock = threading.Lock()

    def receive(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        """Handle one webhook (``headers``: a case-insensitive mapping); (status, answer)."""
        now = self._now()
        try:
            key = check(self._secrets, headers, body, now=now, tolerance=self._tolerance)
        except WebhookRefused as refused:
            return 401, {"error": refused.detail}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        if not isinstance(payload, dict):
            return 400, {"error": "the body is not a JSON object"}
        if payload.get("id") != key:
            return 400, {"error": f"the body's id does not match {ID_HEADER}"}
        event = payload.get("event")
        if not isinstance(event, str) or not event:
            return 400, {"error": "the body has no event"}
        with self._lock:
            known = self._events.get(key)
            if known is not None:
                known.deliveries += 1
                return 200, {"stored": False, "duplicate": True}
            self._events[key] = _Received(
                key,
                event,
                int(headers[TIMESTAMP_HEADER]),
                datetime.fromtimestamp(now, UTC),
                payload,
            )
        return 200, {"stored": True, "duplicate": False}

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e.as_dict() for e in self._events.values()]

    def clear_events(self) -> None:
        with self._lock:
            self._events.clear()

    def add_fault(self, fault: CrmFault) -> None:
        if fault.count < 1:
            raise ValueError("a fault's count must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self) -> CrmFault | None:
        """The fault to play on this request, if any (each plays ``count`` times)."""
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.count -= 1
            if fault.count <= 0:
                self._faults.popleft()
            return CrmFault(fault.status, 1, fault.delay_seconds)


class _FaultIn(BaseModel):
    status: int = Field(ge=200, le=599)
    count: int = Field(default=1, ge=1)
    delay_seconds: float = Field(default=0.0, ge=0, le=300)


def build_router(crm: CrmStandIn, prefix: str = "/crm") -> APIRouter:
    router = APIRouter(prefix=prefix)

    @router.post("/events")
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        fault = crm.take_fault()
        if fault is not None and not fault.accepts:
            await asyncio.sleep(fault.delay_seconds)
            return JSONResponse({"error": "injected fault"}, status_code=fault.status)
        status, answer = crm.receive(request.headers, body)
        if fault is not None:
            await asyncio.sleep(fault.delay_seconds)
        return JSONResponse(answer, status_code=status)

    @router.get("/events")
    def list_events() -> dict[str, Any]:
        return {"events": crm.events()}

    @router.delete("/events", status_code=204)
    def clear_events() -> None:
        crm.clear_events()

    @router.post("/faults", status_code=201)
    def add_fault(fault: _FaultIn) -> dict[str, Any]:
        crm.add_fault(CrmFault(fault.status, fault.count, fault.delay_seconds))
        return {"faults": crm.faults()}

    @router.get("/faults")
    def list_faults() -> dict[str, Any]:
        return {"faults": crm.faults()}

    @router.delete("/faults", status_code=204)
    def clear_faults() -> None:
        crm.clear_faults()

    return router


def create_app(crm: CrmStandIn) -> FastAPI:
    """The stand-in on its own (the sandbox app can include `build_router` instead)."""
    app = FastAPI(title="gangway CRM stand-in", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.crm = crm
    app.include_router(build_router(crm))
    return app

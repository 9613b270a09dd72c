"""A small HTTP/1.1 load client on asyncio streams.

The load generator shares the machine's two cores with everything it measures, so it
must cost little per request: requests are built (and signed) before the clock
starts, connections are kept alive, and a response is read by its Content-Length
without a general-purpose client's machinery. It speaks exactly what gangway, the
bare endpoint, Rasa and the Twilio stand-in answer: status line, headers,
Content-Length or chunked body.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

__all__ = ["Connection", "FloodResult", "Target", "flood", "form_post", "get", "json_post"]


@dataclass(frozen=True)
class Target:
    host: str
    port: int


def _request(method: str, target: str, host: str, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def form_post(
    host: str, path: str, params: Mapping[str, str], headers: Mapping[str, str] | None = None
) -> bytes:
    """The bytes of a form-encoded POST (what Twilio sends)."""
    body = urlencode(params).encode()
    all_headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    return _request("POST", path, host, all_headers, body)


def json_post(host: str, path: str, payload: Any) -> bytes:
    body = json.dumps(payload).encode()
    return _request("POST", path, host, {"Content-Type": "application/json"}, body)


def get(host: str, path: str) -> bytes:
    return _request("GET", path, host, {}, b"")


class Connection:
    """One kept-alive connection; reopened transparently when the server closed it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(
            self.target.host, self.target.port
        )

    async def send(self, raw: bytes, timeout: float = 60.0) -> tuple[int, bytes]:
        """Send one request and read its response: (status, body)."""
        for attempt in (1, 2):
            if self._writer is None:
                await self._open()
            assert self._reader is not None and self._writer is not None
            try:
                self._writer.write(raw)
                return await asyncio.wait_for(_read_response(self._reader), timeout)
            except (ConnectionError, asyncio.IncompleteReadError):
                # A kept-alive connection the server had closed: one fresh try.
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, b"".join(chunks)
            chunks.append(chunk[:-2])
    return status, b""


@dataclass
class FloodResult:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: int = 0
    elapsed: float = 0.0

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


async def flood(
    targets: Sequence[Target], requests: Sequence[bytes], concurrency: int
) -> FloodResult:
    """Send ``requests`` over ``concurrency`` connections as fast as they are answered.

    With several targets, requests go to them in turn, as a round-robin load balancer
    would spread them; each worker keeps one connection per target.
    """
    result = FloodResult()
    pending = iter(requests)
    turn = itertools.count()

    async def worker() -> None:
        conns = [Connection(t) for t in targets]
        try:
            for raw in pending:
                conn = conns[next(turn) % len(conns)]
                t0 = time.perf_counter()
                try:
                    status, _ = await conn.send(raw)
                except (TimeoutError, OSError, asyncio.IncompleteReadError):
                    result.errors += 1
                    await conn.close()
                    continue
                if 200 <= status < 300:
                    result.latencies.append(time.perf_counter() - t0)
                else:
                    result.errors += 1
        finally:
            for conn in conns:
                await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result

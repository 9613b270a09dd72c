"""A lean Twilio stand-in for the benchmark: the Messages API gangway sends through,
signed status callbacks back, and a record of when each message arrived.

The project's sandbox (`gangway sandbox`) is the faithful stand-in, but not a cheap
one under load: it keeps WhatsApp's 24-hour window, which a prospect who never wrote
through it has not opened (so every reply the benchmark provokes "fails" with 63016),
scans its whole store for each message, runs a thread per delivery, and its message
list is re-sorted on every poll. Here a created message costs a dict entry and two
callbacks, so the figures are gangway's, not the stand-in's.

What it answers:

- ``POST /2010-04-01/Accounts/{sid}/Messages.json``: 201 with the Message resource
  (HTTP Basic auth checked); then "sent" and "delivered" are POSTed, signed as Twilio
  signs them, to the message's StatusCallback, on the next of the ``--upstream``
  addresses in turn (the load balancer in front of several service processes);
- ``GET .../Messages.json`` (an empty page) and ``GET .../Messages/{sid}.json``;
- ``GET /arrivals?after=N``: ``{"next": M, "items": [[to, epoch seconds], ...]}``, each
  message created since the N-th, for the benchmark to time replies by.

Run with ``python -m bench.twilio_standin --port ... --account-sid ... --auth-token ...``
from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator

from bench.http_load import Connection, Target, form_post

__all__ = ["StandIn", "main"]

API_VERSION = "2010-04-01"
STATUS_STEPS = ("sent", "delivered")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class StandIn:
    """The ASGI application; all state in memory, gone when the process ends."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        upstreams: list[Target],
        status_delay: float = 0.05,
    ) -> None:
        self.account_sid = account_sid
        self._validator = RequestValidator(auth_token)
        self._basic = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._prefix = f"/{API_VERSION}/Accounts/{account_sid}/Messages"
        self._upstreams = upstreams
        self._turn = itertools.count()
        self._idle: dict[Target, list[Connection]] = {t: [] for t in upstreams}
        self._status_delay = status_delay
        self.arrivals: list[tuple[str, float]] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            event = await receive()
            body += event.get("body", b"")
            more = event.get("more_body", False)
        status, payload = self._handle(scope, body)
        data = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def _handle(self, scope: Scope, body: bytes) -> tuple[int, Any]:
        path, method = scope["path"], scope["method"]
        if path == "/arrivals":
            query = dict(parse_qsl(scope.get("query_string", b"").decode()))
            after = int(query.get("after", "0"))
            return 200, {"next": len(self.arrivals), "items": self.arrivals[after:]}
        if path == "/healthz":
            return 200, {"ok": True}
        if not path.startswith(self._prefix):
            return 404, {"code": 20404, "message": "not found", "status": 404}
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        if auth != self._basic:
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        if method == "POST" and path == self._prefix + ".json":
            return 201, self._create(dict(parse_qsl(body.decode())))
        if method == "GET" and path == self._prefix + ".json":
            return 200, _empty_page(path)
        sid = path[len(self._prefix) + 1 :].removesuffix(".json")
        if method == "GET" and sid in self.messages:
            return 200, self.messages[sid]
        return 404, {"code": 20404, "message": f"{path} was not found", "status": 404}

    def _create(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        to = form.get("To", "")
        self.arrivals.append((to, time.time()))
        now = formatdate(usegmt=True)
        resource: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From", ""),
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {},
            "to": to,
            "uri": f"{self._prefix}/{sid}.json",
        }
        self.messages[sid] = resource
        callback = form.get("StatusCallback")
        if callback and self._upstreams:
            task = asyncio.get_running_loop().create_task(self._deliver(resource, callback))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return resource

    async def _deliver(self, resource: dict[str, Any], url: str) -> None:
        for status in STATUS_STEPS:
            await asyncio.sleep(self._status_delay)
            resource["status"] = status
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "ChannelPrefix": "whatsapp",
                "From": resource["from"],
                "MessageSid": resource["sid"],
                "MessageStatus": status,
                "SmsSid": resource["sid"],
                "SmsStatus": status,
                "To": resource["to"],
            }
            signature = self._validator.compute_signature(url, params)
            target = self._upstreams[next(self._turn) % len(self._upstreams)]
            parts = urlsplit(url)
            raw = form_post(
                parts.netloc,
                parts.path,
                params,
                {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"},
            )
            idle = self._idle[target]
            conn = idle.pop() if idle else Connection(target)
            try:
                await conn.send(raw, timeout=30)
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                await conn.close()  # Twilio gives up on a callback too; gangway reconciles
                continue
            idle.append(conn)


def _empty_page(path: str) -> dict[str, Any]:
    return {
        "end": 0,
        "first_page_uri": path,
        "messages": [],
        "next_page_uri": None,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": None,
        "start": 0,
        "uri": path,
    }


def _target(value: str) -> Target:
    host, _, port = value.rpartition(":")
    return Target(host or "127.0.0.1", int(port))


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--account-sid", required=True)
    ap.add_argument("--auth-token", required=True)
    ap.add_argument(
        "--upstream", action="append", type=_target, default=[], help="HOST:PORT, repeatable"
    )
    args = ap.parse_args()
    app = StandIn(args.account_sid, args.auth_token, args.upstream)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

"""Talking to a Rasa Open Source 3.6 server over HTTP.

Shapes relied on, read from the rasa 3.6.21 source:

- ``POST /webhooks/rest/webhook`` (core/channels/rest.py) takes ``{"sender", "message",
  "metadata"}`` and answers 200 with ``CollectingOutputChannel.messages``: a list of
  ``{"recipient_id", "text"?, "image"?, "buttons"?, "attachment"?, "custom"?}`` with
  None values left out. Text is split on blank lines into several messages. It answers
  200 even when an action failed, and ``[]`` when no model is loaded (the agent logs
  "Ignoring message as there is no agent to handle it"): ask `status` to tell these
  apart. The channel does not check ``?token=``; sending it is harmless.
- The ``--enable-api`` routes (server.py) check the token first (401
  NotAuthenticated), then ``ensure_loaded_agent`` (409 Conflict "No agent loaded..."),
  and answer errors as ``{"version", "status": "failure", "message", "reason",
  "details", "help", "code"}``. Without ``--enable-api`` they do not exist (404).
- Sanic 21.12 matches ``/conversations/<conversation_id:path>/tracker`` on the raw path
  and does not percent-decode it, so a sender id goes into the path as it is.

Errors: connection failures, timeouts, 408/409/429 and 5xx are `TransientError` (with
the ``Retry-After`` of a 429 or 503, e.g. from a proxy in front of Rasa); other 4xx and
answers of the wrong shape are `PermanentError` (``code`` is Rasa's ``reason``).
A timed-out ``send_message`` may still have run the turn in Rasa.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any

import httpx

from bot.service_layer.errors import PermanentError, TransientError
from bot.service_layer.ports import BotReply, Metrics, NoMetrics
from integrations.retrying import RETRY_AFTER_STATUSES, retry_after_seconds

__all__ = ["RasaClient"]

log = logging.getLogger(__name__)

PROVIDER = "rasa"
_TRANSIENT_STATUSES = {408, 409, 429}
# RFC 3986 path characters that need no percent-encoding (Rasa would not decode them).
_PATH_SAFE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]+")


def _shape(got: object) -> str:
    """What ``got`` is, without its values: a reply holds the bot's text, a tracker the
    prospect's messages, and errors end up in logs and stored error texts."""
    if isinstance(got, dict):
        return f"an object with keys {sorted(map(str, got))[:20]}"
    if isinstance(got, list):
        return f"a list of {len(got)}"
    return type(got).__name__


def _shape_error(what: str, got: object) -> PermanentError:
    return PermanentError(PROVIDER, f"Rasa answered {what} with an unexpected shape: {_shape(got)}")


def _reply(item: object, what: str) -> BotReply | None:
    if not isinstance(item, dict):
        raise _shape_error(what, item)
    text, image, custom = item.get("text"), item.get("image"), item.get("custom")
    raw_buttons = item.get("buttons") or []
    if not (
        isinstance(text, str | None)
        and isinstance(image, str | None)
        and isinstance(custom, dict | None)
        and isinstance(raw_buttons, list)
    ):
        raise _shape_error(what, item)
    buttons = []
    for button in raw_buttons:
        title = button.get("title") if isinstance(button, dict) else None
        payload = button.get("payload") if isinstance(button, dict) else None
        if not (isinstance(title, str) and isinstance(payload, str)):
            raise _shape_error(what, item)
        buttons.append((title, payload))
    if text is None and image is None and custom is None and not buttons:
        # e.g. {"recipient_id", "attachment"}: nothing a WhatsApp reply here can carry.
        log.warning(
            "dropping a Rasa message with none of text/image/buttons/custom: %s", _shape(item)
        )
        return None
    return BotReply(text=text, buttons=tuple(buttons), image=image, custom=custom)


def _replica_order(urls: tuple[str, ...], key: str | None) -> tuple[str, ...]:
    """``urls`` starting at the one ``key`` (a sender id) hashes to, then the others in
    turn; the given order without a key. The hash is stable across processes (unlike
    ``hash()``), so every service process sends a conversation to the same replica."""
    if key is None or len(urls) == 1:
        return urls
    start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % len(urls)
    return urls[start:] + urls[:start]


class RasaClient:
    """A Rasa server at ``base_url`` (e.g. ``http://127.0.0.1:5005``), or several
    replicas of it as comma-separated URLs.

    Replicas share their trackers (a SQL tracker store and a lock store), so any of
    them can answer any conversation: each conversation goes to the replica its sender
    id hashes to, and to the next one when that refuses the connection. Only then:
    after a timeout or an error answer the turn may have run, and running it again
    elsewhere could answer the prospect twice.

    ``token`` is Rasa's ``--auth-token``; ``http`` is the httpx client to use (tests
    pass one with a ``MockTransport``); ``timeout`` bounds one request, and has to cover
    a whole dialogue turn including custom actions.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics or NoMetrics()
        self.base_urls = tuple(u.strip().rstrip("/") for u in base_url.split(",") if u.strip())
        if not self.base_urls:
            raise ValueError("RasaClient needs at least one URL")
        self.base_url = self.base_urls[0]
        self._token = token
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client()
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))

    def send_message(
        self, sender: str, text: str, metadata: dict[str, Any] | None = None
    ) -> list[BotReply]:
        """Run one dialogue turn and return the bot's messages, in order."""
        what = "POST /webhooks/rest/webhook"
        body = {"sender": sender, "message": text, "metadata": metadata}
        answer = self._call(
            "POST", "/webhooks/rest/webhook", json=body, key=sender, timed="dialogue"
        )
        if not isinstance(answer, list):
            raise _shape_error(what, answer)
        return [r for r in (_reply(item, what) for item in answer) if r is not None]

    def parse(self, text: str) -> dict[str, Any]:
        """NLU only: ``{"text", "intent": {"name", "confidence"}, "entities", ...}``."""
        answer = self._call("POST", "/model/parse", json={"text": text}, timed="nlu")
        if not (isinstance(answer, dict) and isinstance(answer.get("entities"), list)):
            raise _shape_error("POST /model/parse", answer)
        if not isinstance(answer.get("intent"), dict):
            raise _shape_error("POST /model/parse", answer)
        return answer

    def status(self) -> dict[str, Any]:
        """``{"model_file", "model_id", "num_active_training_jobs"}`` of the loaded model.

        Rasa answers 409 Conflict when no model is loaded. It loads the model before it
        starts listening, so at that point it will not get one by waiting: that is a
        `PermanentError` here (the other calls keep 409 transient).
        """
        try:
            answer = self._call("GET", "/status")
        except TransientError as exc:
            if exc.status == 409:
                raise PermanentError(
                    PROVIDER,
                    "Rasa has no model loaded: train one (rasa train) and restart Rasa with it",
                    status=409,
                    code=exc.code,
                ) from exc
            raise
        if not (isinstance(answer, dict) and "model_id" in answer):
            raise _shape_error("GET /status", answer)
        return answer

    def tracker(self, sender: str) -> dict[str, Any]:
        """The conversation's tracker state (Rasa creates an empty one if unknown)."""
        if not _PATH_SAFE.fullmatch(sender):
            # It would have to be percent-encoded, and Rasa would not decode it.
            raise PermanentError(PROVIDER, f"sender id {sender!r} cannot be put in a URL path")
        what = f"/conversations/{sender}/tracker"
        answer = self._call("GET", what, key=sender)
        if not (isinstance(answer, dict) and "sender_id" in answer):
            raise _shape_error(f"GET {what}", answer)
        return answer

    def version(self) -> dict[str, Any]:
        """``{"version", "minimum_compatible_version"}``; works without a model."""
        answer = self._call("GET", "/version")
        if not (isinstance(answer, dict) and isinstance(answer.get("version"), str)):
            raise _shape_error("GET /version", answer)
        return answer

    def close(self) -> None:
        """Close the httpx client if this object created it."""
        if self._owns_http:
            self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        key: str | None = None,
        timed: str | None = None,
    ) -> Any:
        """The answer to one request, from the sender's replica or the next; ``timed``
        names the call in the request-time figures (failed requests are timed too)."""
        if timed is None:
            return self._call_replicas(method, path, json, key)
        start = time.perf_counter()
        try:
            return self._call_replicas(method, path, json, key)
        finally:
            self._metrics.rasa_request(timed, time.perf_counter() - start)

    def _call_replicas(self, method: str, path: str, json: object, key: str | None) -> Any:
        what = f"{method} {path}"  # never the full URL: it carries the token
        urls = _replica_order(self.base_urls, key)
        try:
            for url in urls[:-1]:
                try:
                    return self._answer(self._send(method, url + path, json), what, path)
                except httpx.ConnectError:
                    log.warning("Rasa at %s refused %s; trying the next replica", url, what)
            answer = self._send(method, urls[-1] + path, json)
        except httpx.TransportError as exc:
            raise TransientError(
                PROVIDER, f"no answer from Rasa to {what}: {type(exc).__name__} {exc}".strip()
            ) from exc
        return self._answer(answer, what, path)

    def _send(self, method: str, url: str, json: object) -> httpx.Response:
        params = {"token": self._token} if self._token else None
        return self._http.request(method, url, params=params, json=json, timeout=self._timeout)

    def _answer(self, answer: httpx.Response, what: str, path: str) -> Any:
        if answer.status_code >= 400:
            raise self._status_error(answer, what, path)
        try:
            return answer.json()
        except ValueError:
            shown = answer.text if len(answer.text) <= 200 else answer.text[:200] + "..."
            raise PermanentError(
                PROVIDER,
                f"Rasa answered {what} with a body that is not JSON "
                f"({answer.headers.get('content-type')}): {shown!r}",
                status=answer.status_code,
            ) from None

    @staticmethod
    def _status_error(answer: httpx.Response, what: str, path: str) -> Exception:
        status = answer.status_code
        try:
            details = answer.json()
            reason, said = details.get("reason"), details.get("message")
        except (ValueError, AttributeError):
            reason, said = None, answer.text[:200]
        message = f"Rasa answered {status} to {what}: {said}"
        if status in (401, 403):
            message += " (check the Rasa auth token)"
        elif status == 404 and not path.startswith("/webhooks/"):
            message += " (is Rasa started with --enable-api?)"
        if status >= 500 or status in _TRANSIENT_STATUSES:
            asked = retry_after_seconds(answer.headers) if status in RETRY_AFTER_STATUSES else None
            return TransientError(PROVIDER, message, status=status, code=reason, retry_after=asked)
        return PermanentError(PROVIDER, message, status=status, code=reason)

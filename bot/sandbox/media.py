"""Media the prospect sends from the chat page, served the way Twilio serves it.

Each item gets a Twilio-shaped URL,
``{sandbox}/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}``,
which needs the account's Basic auth (Twilio with "HTTP auth for media" on) and
answers 307 to a "CDN" URL, ``{cdn}/sandbox/cdn/{token}``, that serves the bytes with
no auth at all, like Twilio's redirect to its storage. Like a presigned storage URL,
the CDN refuses requests that carry an Authorization header, so a client that leaks
the account's credentials to it fails loudly instead of silently.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from bot.sandbox.answers import authenticate, twilio_error
from bot.sandbox.delivery import API_VERSION

if TYPE_CHECKING:
    from bot.sandbox.app import SandboxState

__all__ = ["MAX_MEDIA_BYTES", "MediaStore", "StoredMedia", "build_router", "media_path"]

MAX_MEDIA_BYTES = 16 * 1024 * 1024


def new_media_sid() -> str:
    return "ME" + secrets.token_hex(16)


def media_path(account_sid: str, message_sid: str, media_sid: str) -> str:
    """The path of a media item's Twilio-shaped URL."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"


@dataclass(frozen=True)
class StoredMedia:
    sid: str
    account_sid: str
    message_sid: str
    content_type: str
    content: bytes
    filename: str | None
    cdn_token: str

    @property
    def cdn_path(self) -> str:
        return f"/sandbox/cdn/{self.cdn_token}"


class MediaStore:
    """Thread-safe media items, by media sid and by CDN token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_sid: dict[str, StoredMedia] = {}
        self._by_token: dict[str, str] = {}

    def add(
        self,
        *,
        account_sid: str,
        message_sid: str,
        content_type: str,
        content: bytes,
        filename: str | None = None,
    ) -> StoredMedia:
        item = StoredMedia(
            sid=new_media_sid(),
            account_sid=account_sid,
            message_sid=message_sid,
            content_type=content_type,
            content=content,
            filename=filename,
            cdn_token=secrets.token_urlsafe(24),
        )
        with self._lock:
            self._by_sid[item.sid] = item
            self._by_token[item.cdn_token] = item.sid
        return item

    def get(self, sid: str) -> StoredMedia | None:
        with self._lock:
            return self._by_sid.get(sid)

    def by_token(self, token: str) -> StoredMedia | None:
        with self._lock:
            sid = self._by_token.get(token)
            return None if sid is None else self._by_sid.get(sid)

    def for_message(self, message_sid: str) -> list[StoredMedia]:
        with self._lock:
            return [m for m in self._by_sid.values() if m.message_sid == message_sid]

    def clear(self) -> None:
        with self._lock:
            self._by_sid.clear()
            self._by_token.clear()


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    @router.get(
        f"/{API_VERSION}/Accounts/{{account_sid}}/Messages/{{message_sid}}/Media/{{media_sid}}",
        response_model=None,
    )
    async def media(
        account_sid: str, message_sid: str, media_sid: str, request: Request
    ) -> Response:
        denied = authenticate(state, request, account_sid)
        if denied is not None:
            return denied
        item = state.media.get(media_sid)
        if item is None or (item.account_sid, item.message_sid) != (account_sid, message_sid):
            return twilio_error(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
        cdn = state.config.media_cdn_url or str(request.base_url).rstrip("/")
        return Response(status_code=307, headers={"Location": cdn + item.cdn_path})

    @router.get("/sandbox/cdn/{token}", response_model=None)
    async def cdn(token: str, request: Request) -> Response:
        if "authorization" in request.headers:
            return JSONResponse(
                {"error": "credentials sent to the media CDN; they must not leave Twilio"},
                status_code=400,
            )
        item = state.media.by_token(token)
        if item is None:
            return JSONResponse({"error": "no such media"}, status_code=404)
        headers = {"Cache-Control": "private, max-age=300"}
        if item.filename:
            headers["Content-Disposition"] = f'inline; filename="{item.filename}"'
        return Response(item.content, media_type=item.content_type, headers=headers)

    return router

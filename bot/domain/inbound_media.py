"""What kind of media an inbound WhatsApp message carries, read from its webhook.

Twilio's webhook names each item as ``MediaUrl{N}`` / ``MediaContentType{N}``
(``NumMedia`` of them) and a shared location as ``Latitude`` / ``Longitude``. A flow
sets a sensitivity level per kind, so the kind is decided here, before anything is
downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["AnnouncedMedia", "media_items", "media_kind"]

_CONTACT_TYPES = frozenset({"text/vcard", "text/x-vcard", "text/directory"})


@dataclass(frozen=True)
class AnnouncedMedia:
    """One item announced by a webhook: where it is, its type, and its kind."""

    url: str
    content_type: str | None
    kind: str


def media_kind(content_type: str | None, params: Mapping[str, str]) -> str:
    """image | document | audio | video | location | contact.

    A MIME type decides first (parameters such as ``; codecs=opus`` ignored):
    image/*, audio/* (voice notes are audio/ogg), video/*, vCards are contacts,
    anything else is a document (PDF, office files, archives...). Without one, a
    message with Latitude and Longitude is a location; otherwise "document", the
    safe guess for an unknown file.
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime:
        major = mime.split("/", 1)[0]
        if major in ("image", "audio", "video"):
            return major
        if mime in _CONTACT_TYPES:
            return "contact"
        return "document"
    if params.get("Latitude") and params.get("Longitude"):
        return "location"
    return "document"


def media_items(params: Mapping[str, str]) -> list[AnnouncedMedia]:
    """The media a webhook announces (``NumMedia``, ``MediaUrl{N}``, ``MediaContentType{N}``),
    plus one URL-less "location" item when it carries Latitude/Longitude."""
    try:
        count = int(params.get("NumMedia") or 0)
    except ValueError:
        count = 0
    items = []
    for index in range(max(count, 0)):
        url = params.get(f"MediaUrl{index}")
        if url:
            content_type = params.get(f"MediaContentType{index}") or None
            items.append(AnnouncedMedia(url, content_type, media_kind(content_type, {})))
    if params.get("Latitude") and params.get("Longitude"):
        items.append(AnnouncedMedia("", None, "location"))
    return items

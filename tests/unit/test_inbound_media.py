"""Naming the kind of each media item an inbound webhook announces."""

from __future__ import annotations

import pytest

from bot.domain.inbound_media import AnnouncedMedia, media_items, media_kind

MEDIA_URL = "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages/MM1/Media/ME1"


@pytest.mark.parametrize(
    ("content_type", "params", "kind"),
    [
        ("image/jpeg", {}, "image"),
        ("IMAGE/PNG", {}, "image"),
        ("application/pdf", {}, "document"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            {},
            "document",
        ),
        ("audio/ogg; codecs=opus", {}, "audio"),
        ("video/mp4", {}, "video"),
        ("text/vcard", {}, "contact"),
        ("text/x-vcard", {}, "contact"),
        (None, {"Latitude": "48.8584", "Longitude": "2.2945"}, "location"),
        (None, {}, "document"),
    ],
)
def test_media_kind_follows_the_mime_type_or_the_location(
    content_type: str | None, params: dict[str, str], kind: str
) -> None:
    """Each MIME type (or a location's coordinates) maps to the kind a flow can set a level for."""
    assert media_kind(content_type, params) == kind


def test_media_items_lists_every_announced_item_and_a_location() -> None:
    """NumMedia items come back in order with their kinds; coordinates add a location."""
    params = {
        "NumMedia": "2",
        "MediaUrl0": MEDIA_URL,
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": MEDIA_URL + "b",
        "MediaContentType1": "text/vcard",
    }
    assert media_items(params) == [
        AnnouncedMedia(MEDIA_URL, "image/jpeg", "image"),
        AnnouncedMedia(MEDIA_URL + "b", "text/vcard", "contact"),
    ]
    assert media_items({"NumMedia": "0", "Latitude": "1.5", "Longitude": "2.5"}) == [
        AnnouncedMedia("", None, "location")
    ]
    assert media_items({"NumMedia": "junk"}) == []

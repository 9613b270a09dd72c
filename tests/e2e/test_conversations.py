"""The transition protocol, scripted (tests/e2e/conversations/*.yml), against the real
Rasa server and the sandbox, through signed webhooks; see tests/e2e/scripted.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.adapters.tables import MediaItem, MessageClassification
from bot.service_layer.media_files import open_media
from tests.e2e.conftest import Rasa
from tests.e2e.scripted import LiveStack, live_stack, load_scripts, run_script
from tests.log_scan import json_lines, leaks, number_forms, text_fragments

pytestmark = pytest.mark.e2e

SCRIPTS = load_scripts()


@pytest.fixture
def live(rasa: Rasa, database_url: str, tmp_path: Path) -> Iterator[LiveStack]:
    yield from live_stack(rasa, database_url, tmp_path)


@pytest.mark.parametrize("script", SCRIPTS, ids=[s["file"] for s in SCRIPTS])
def test_scripted_conversation(live: LiveStack, script: dict[str, Any]) -> None:
    run_script(live, script)
    logged_without_content(live, script)


def logged_without_content(live: LiveStack, script: dict[str, Any]) -> None:
    """gangway's log of the script: JSON lines with a request id, the conversation's
    lines naming it, and neither the number (in any form) nor anything said."""
    number = script["number"]
    conv = live.conversation(number)
    assert conv is not None
    lines = json_lines(live.log_path.read_text(encoding="utf-8"))
    about = [line for line in lines if line.get("conversation_id") == conv.id]
    assert about and all(line["request_id"] for line in about), lines
    sids = {w for line in about for w in line["message"].split() if w.startswith("SM")}
    naming = [line for line in lines if any(sid in line["message"] for sid in sids)]
    assert all(line.get("conversation_id") == conv.id for line in naming), naming
    said = [step["say"] for step in script["steps"] if "say" in step]
    replies = [m["body"] for m in live.outbound(number)]
    assert leaks(lines, number_forms(number) + text_fragments([*said, *replies])) == []


def test_the_scripts_cover_every_level_and_language() -> None:
    steps = [step for script in SCRIPTS for step in script["steps"]]
    assert {s["level"] for s in steps if "level" in s} >= {
        "identity",
        "financial",
        "advice",
        "order",
    }
    assert {script["language"] for script in SCRIPTS} == {"en", "de", "fr", "es"}


def test_a_passport_number_never_reaches_rasas_tracker(live: LiveStack, rasa: Rasa) -> None:
    number = "whatsapp:+12025550149"
    run_script(
        live,
        {
            "name": "passport",
            "number": number,
            "steps": [
                {"say": "hello", "replies": [{"bot": "any"}, {"question": "product"}]},
                {"say": "my passport number is C01X00T47", "replies": [{"text": "consent"}]},
                # The number again, alone: the model knows it for what it is and the
                # prospect is reminded not to share it here.
                {"say": "C01X00T47", "replies": [{"text": "redirect_notice"}]},
            ],
        },
    )
    conv = live.conversation(number)
    assert conv is not None
    tracker = httpx.get(
        f"{rasa.url}/conversations/{conv.id}/tracker", params={"token": rasa.token}, timeout=30
    )
    tracker.raise_for_status()
    texts = [e.get("text") or "" for e in tracker.json()["events"] if e.get("event") == "user"]
    assert texts == ["hello"]  # the conversation is there, and only the public message
    assert "C01X00T47" not in tracker.text


def test_an_image_is_fetched_with_the_account_credentials_and_kept(live: LiveStack) -> None:
    number = "whatsapp:+12025550150"
    run_script(
        live,
        {
            "name": "image",
            "number": number,
            "steps": [{"media": "image/png", "replies": [{"text": "consent"}]}],
        },
    )
    with live.sessions() as s:
        [item] = s.execute(select(MediaItem)).scalars()
        [classification] = s.execute(select(MessageClassification)).scalars()
        kept = open_media(s, item)
    assert (item.kind, item.status) == ("image", "stored"), item.last_error
    assert kept is not None and kept.startswith(b"\x89PNG")
    assert item.data is not None and b"PNG" not in item.data  # sealed at rest
    assert classification.level == "identity" and not classification.forwarded

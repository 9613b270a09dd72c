"""The figures page, marketing's home in the console: the funnel per flow version and per
variant for a chosen period, the flow versions live and pending, the latest flow-test
run; never a transcript, a phone number or a message's text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi import FastAPI

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.flow_version_tables import FlowVersion
from bot.config import load_settings
from tests.fakes.clock import FakeClock
from tests.integration.funnel_journeys import Prospect, funnel_stack, take
from tests.integration.test_console import FakeContainer, add_user, make_app, signed_in
from tests.integration.test_protocol import PASSPORT

RESULTS = {
    "ran_at": "2026-11-22T08:30:00Z",
    "flow": "default",
    "flow_sha256": "ab" * 32,
    "passed": 1,
    "failed": 1,
    "tests": [
        {"file": "flows/tests/consent.yml", "line": 4, "name": "a passport offers the terms",
         "variant": None, "language": "en", "passed": True, "failure": None},
        {"file": "flows/tests/consent.yml", "line": 19, "name": "German yes agrees",
         "variant": "b", "language": "de", "passed": False,
         "failure": "line 23: the reply does not contain 'Danke'"},
    ],
}  # fmt: skip
FIRST_WORDS = "Do you have a savings account for my daughter Matilda?"


@pytest.fixture
def results_file(tmp_path: Path) -> Path:
    return tmp_path / "flow-tests" / "results.json"


@pytest.fixture
def app(sessions: SessionFactory, clock: FakeClock, results_file: Path) -> FastAPI:
    settings = load_settings(
        {"GANGWAY_PUBLIC_URL": "http://testserver", "GANGWAY_FLOW_TEST_RESULTS": str(results_file)}
    )
    container = FakeContainer(
        sessions, clock, settings, FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    )
    add_user(sessions, clock, "mark@example.com", "marketing")
    add_user(sessions, clock, "anna@example.com", "advisor", "berlin")
    with sessions.begin() as s:
        for seq, status, who in ((1, "live", "mia@example.com"), (2, "pending", "tom@example.com")):
            s.add(
                FlowVersion(
                    id=seq, flow="default", seq=seq, sha256=f"{seq:02d}" * 32, content="flow: x\n",
                    source="default.yml", status=status, proposed_by=who,
                    proposed_at=clock.now(),
                )
            )  # fmt: skip
    stack = funnel_stack(sessions, clock)
    for n, outcome, variant in (
        (11, "claimed", None),
        (12, "declined", "b"),
        (13, "invited", "b"),
        (14, "chat", None),
    ):
        take(stack, Prospect(n, outcome, variant, 1, first_words=FIRST_WORDS))
    return make_app(container)


def cells(html: str, testid: str, stage: str) -> list[str]:
    table = html.split(f'data-testid="{testid}"', 1)[1].split("</table>", 1)[0]
    row = table.split(f'data-stage="{stage}"', 1)[1].split("</tr>", 1)[0]
    return re.findall(r'<td data-group="[^"]+">(\d+)</td>', row)


def test_marketing_sees_the_funnel_per_variant_and_flow_version(app: FastAPI) -> None:
    with signed_in(app, "mark@example.com") as mark:
        page = mark.get("/console/figures")
        assert page.status_code == 200
        html = page.text
        # all, b, base
        assert cells(html, "funnel-variant", "started") == ["4", "2", "2"]
        assert cells(html, "funnel-variant", "declined") == ["1", "1", "0"]
        assert cells(html, "funnel-variant", "claimed") == ["1", "0", "1"]
        assert cells(html, "funnel-flow-version", "invite_sent") == ["2", "2"]  # all, default v1
        chart = re.search(r'src="(/console/figures/funnel\.png\?[^"]+by=variant)"', html)
        assert chart is not None
        png = mark.get(chart.group(1).replace("&amp;", "&"))
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG") and len(png.content) > 10_000


def test_the_period_chooser_narrows_the_funnel_and_refuses_a_bad_date(app: FastAPI) -> None:
    with signed_in(app, "mark@example.com") as mark:
        html = mark.get("/console/figures?since=2026-11-23").text
        assert cells(html, "funnel-variant", "started") == ["0"]
        assert "since 2026-11-23 00:00 UTC" in html
        everything = mark.get("/console/figures?since=").text
        assert cells(everything, "funnel-variant", "started") == ["4", "2", "2"]
        bad = mark.get("/console/figures?since=yesterday")
        assert bad.status_code == 400 and "not an ISO 8601 date" in bad.text
        assert mark.get("/console/figures/funnel.png?by=country").status_code == 400


def test_the_page_lists_live_and_pending_versions_and_the_flow_tests(
    app: FastAPI, results_file: Path
) -> None:
    with signed_in(app, "mark@example.com") as mark:
        html = mark.get("/console/figures").text
        assert "No run yet" in html
        versions = html.split('data-testid="flow-versions"', 1)[1].split("</table>", 1)[0]
        assert "v1" in versions and "live" in versions and "mia@example.com" in versions
        assert '<a href="/console/flow-changes">pending</a>' in versions
        assert "tom@example.com" in versions and "020202020202" in versions
        results_file.parent.mkdir(parents=True)
        results_file.write_text(json.dumps(RESULTS))
        html = mark.get("/console/figures").text
        assert "1 passed</strong>, <strong>1 failed" in html
        assert "flows/tests/consent.yml:19" in html
        assert "line 23: the reply does not contain" in html
        results_file.write_text("{not json")
        html = mark.get("/console/figures").text
        assert "cannot be read" in html


def test_marketing_never_sees_a_transcript_a_number_or_a_message(app: FastAPI) -> None:
    with signed_in(app, "mark@example.com") as mark:
        html = mark.get("/console/figures?since=").text
    assert cells(html, "funnel-variant", "started")  # the page did show the conversations
    for secret in ("Matilda", "C01X00T47", PASSPORT, "7700900", "+44", "/console/conversations"):
        assert secret not in html, secret


def test_an_advisor_gets_403(app: FastAPI) -> None:
    with signed_in(app, "anna@example.com") as anna:
        assert anna.get("/console/figures").status_code == 403
        assert anna.get("/console/figures/funnel.png").status_code == 403

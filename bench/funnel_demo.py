"""The funnel for a few hundred simulated conversations over two variants.

Takes N prospects through the real service layer (the protocol's test stack: a real
database and the default flow, with the NLU, Rasa's dialogue and Twilio replaced by the
test fakes), half on the base flow and half on variant "b", each to an outcome drawn
with the variant's own odds (variant b is written to agree and open the link more
often), then runs `gangway report funnel --by variant` as a table and as a PNG, and,
with --screenshot, photographs the console's figures page as a marketing user sees it
(headless Chromium, the console served by uvicorn on a loopback port).

    .venv/bin/python bench/funnel_demo.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/gw_funnel_demo \\
        --out-dir var/funnel-demo --screenshot

The database must be empty (or not exist yet, for SQLite): the script migrates it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn

from bot.adapters.db import SessionFactory, make_engine, make_session_factory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.flow_version_tables import FlowVersion
from bot.adapters.migrate import upgrade
from bot.config import load_settings
from bot.records_setup import open_records
from tests.e2e.processes import free_port
from tests.fakes.clock import FakeClock
from tests.fakes.keys import fake_vault, keys_env
from tests.integration.funnel_journeys import OUTCOMES, Prospect, funnel_stack, take
from tests.integration.test_console import PASSWORD, FakeContainer, add_user, make_app

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
# Odds of each outcome (OUTCOMES' order: chat, offered, declined, invited, handed_off,
# claimed, person) per variant.
ODDS = {
    None: (30, 8, 14, 10, 6, 22, 10),
    "b": (30, 6, 8, 8, 6, 34, 8),
}


def versions(sessions: SessionFactory, clock: FakeClock) -> None:
    """The story the figures page tells: v1 replaced by v2 (live), v3 waiting for approval.
    Recorded here directly, as the governance commands would have."""
    content = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")
    with sessions.begin() as s:
        for seq, status, who, decider in (
            (1, "retired", "mia@example.com", "clara@example.com"),
            (2, "live", "mia@example.com", "clara@example.com"),
            (3, "pending", "tom@example.com", None),
        ):
            text = content + f"# revision {seq}\n"
            s.add(
                FlowVersion(
                    id=seq,
                    flow="default",
                    seq=seq,
                    sha256=hashlib.sha256(text.encode()).hexdigest(),
                    content=text,
                    source="default.yml",
                    status=status,
                    proposed_by=who,
                    proposed_at=clock.now() - timedelta(days=10 - 3 * seq),
                    decided_by=decider,
                    decided_at=clock.now() - timedelta(days=9 - 3 * seq) if decider else None,
                )
            )


def simulate(database_url: str, n: int, seed: int) -> dict[str, str]:
    """N conversations in a fresh database; the environment a command needs to read it."""
    engine = make_engine(database_url)
    upgrade(engine)
    vault = fake_vault()
    sessions = make_session_factory(engine, vault)
    clock = FakeClock(START)
    versions(sessions, clock)
    stack = funnel_stack(sessions, clock)
    rng = random.Random(seed)
    for i in range(n):
        variant = "b" if i % 2 else None
        version = 1 if i < n * 0.4 else 2  # the flow changed after the first 40%
        [outcome] = rng.choices(OUTCOMES, weights=ODDS[variant])
        take(
            stack,
            Prospect(
                i,
                outcome,
                variant,
                version,
                answer_after=rng.uniform(0.2, 8),
                open_after=rng.lognormvariate(2.5, 1.0),
                claim_after=rng.lognormvariate(1.8, 0.8),
            ),
        )
        clock.advance(rng.uniform(60, 900))
    add_user(sessions, clock, "mark@example.com", "marketing")
    engine.dispose()
    return {"DATABASE_URL": database_url, **keys_env(vault.keyring)}


def gangway(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", *args],
        env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def screenshot(env: dict[str, str], out: Path) -> None:
    """The figures page as mark@example.com (marketing) sees it, for all time."""
    from playwright.sync_api import sync_playwright  # the dev extra's; only for this

    engine, sessions = open_records(load_settings(env), START)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    container = FakeContainer(
        sessions,
        FakeClock(START),
        load_settings({**env, "GANGWAY_PUBLIC_URL": url}),
        FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH),
    )
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(container), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/console/sign-in")
            page.get_by_label("Email").fill("mark@example.com")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_test_id("sign-in-submit").click()
            page.wait_for_url("**/console/figures")
            page.goto(url + "/console/figures?since=")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--conversations", type=int, default=240)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--out-dir", type=Path, default=Path("var/funnel-demo"))
    parser.add_argument("--screenshot", action="store_true", help="Also the figures page.")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    env = simulate(args.database_url, args.conversations, args.seed)
    print(f"simulated {args.conversations} conversations in {time.monotonic() - started:.0f} s")
    table = gangway(env, "report", "funnel", "--by", "variant")
    (args.out_dir / "funnel-table.txt").write_text(table, encoding="utf-8")
    print(table)
    png = args.out_dir / "funnel.png"
    gangway(env, "report", "funnel", "--by", "variant", "--format", "png", "--out", str(png))
    print(f"wrote {png}")
    if args.screenshot:
        page = args.out_dir / "marketing-page.png"
        screenshot(env, page)
        print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

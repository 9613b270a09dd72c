"""Service CPU per answered message in the worker alone.

Stores N inbound messages from M prospects (as the webhook would), then starts the
worker of a real container, with Rasa and Twilio replaced by the test fakes, and
measures the process's CPU time until every message is answered and every reply
sent. No HTTP, no Rasa: what is left is gangway's own work per message (claiming,
screening, recording, sending, auditing).

    .venv/bin/python bench/worker_cpu.py --database-url sqlite:///var/bench/worker.db
    .venv/bin/python bench/worker_cpu.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/gw_bench

The database must be empty (or not exist yet, for SQLite): the script migrates it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.adapters.tables import InboxMessage, OutboxMessage
from bot.bootstrap import build
from bot.config import load_settings
from bot.domain.delivery import UNSENT_STATUSES
from bot.domain.inbound import parse_inbound
from bot.service_layer.receiving import record_inbound
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding

BODIES = ["hello", "how do I open an account?", "what are your fees?", "thanks", "bye"]


def _now() -> datetime:
    return datetime.now(UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()

    state = tempfile.mkdtemp(prefix="gangway-bench-")
    settings = load_settings(
        {
            "DATABASE_URL": args.database_url,
            "GANGWAY_PUBLIC_URL": "https://gangway.example.com",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "bench-auth-token-0123456789abcdef",
            "GANGWAY_SERVICE_TOKEN": "bench-service-token",
            "GANGWAY_STATE_DIR": state,
            "GANGWAY_WORKERS": str(args.workers),
        }
    )
    sender = FakeSender(_now)
    container = build(
        settings,
        dialogue=FakeDialogue(),
        understanding=FakeUnderstanding(),
        model=FakeModel(),
        sender=sender,
    )
    sessions = container.sessions
    for i in range(args.messages):
        number = f"whatsapp:+1202555{i % args.conversations:04d}"
        fields = {"MessageSid": f"SM{i:032d}", "From": number, "Body": BODIES[i % len(BODIES)]}
        with sessions.begin() as s:
            record_inbound(s, parse_inbound(fields), _now())

    wall, cpu = time.perf_counter(), time.process_time()
    container.worker.start()
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            with sessions() as s:
                pending = s.scalar(select(func.count()).where(InboxMessage.status == "pending"))
                unsent = s.scalar(
                    select(func.count()).where(OutboxMessage.status.in_(UNSENT_STATUSES))
                )
            if not pending and not unsent:
                break
        else:
            print("timed out", file=sys.stderr)
            return 1
    finally:
        container.worker.stop()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    backend = settings.database_url.split(":", 1)[0]
    print(
        f"{backend}: {args.messages} messages, {args.conversations} conversations, "
        f"{len(sender.sent)} sent; CPU {cpu:.2f} s = {1000 * cpu / args.messages:.1f} ms/message; "
        f"wall {wall:.1f} s"
    )
    container.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

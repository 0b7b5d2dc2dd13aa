"""Benchmark a chat's message budget (a script, not a test): ``python -m bot`` against the fake
Bot API (``tests/fake_telegram.py``) with python-telegram-bot's real ``AIORateLimiter`` at
Telegram's default limits, the tiny model, before (``[telegram] status = "always"``: a status
photo per request, every edit) and after (``status = "budget"``, the default).

Two chats: a quiet group (5 requests, 12 s apart: each alone in the chat) and a busy group
(30 members at once). For each: calls into the group per delivered picture, and the median
wait from request to picture ÷ its floor — the same run's painting times pushed through a
second default ``AIORateLimiter`` with one message per picture (``tests/test_busy_group.py``).

Usage::

    python bench/bench_busy.py [--quick]      # --quick: the busy group only

It prints a table and, as its LAST line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_busy_group import GROUP, run_group, waits  # noqa: E402

CHATS = {"quiet group": dict(members=5, spacing_s=12.0),
         "busy group": dict(members=30, spacing_s=1 / 30)}


def measure(chat: str, policy: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        run = run_group(Path(folder), telegram={"status": policy}, **CHATS[chat])
    ours, floor = waits(run)
    calls = [c for c in run["fake"].calls if str(c.params.get("chat_id")) == str(GROUP)]
    return {"chat": chat, "policy": policy, "pictures": len(run["shown"]),
            "calls_per_picture": len(calls) / max(len(run["shown"]), 1),
            "methods": dict(Counter(c.method for c in calls)),
            "median_wait_s": statistics.median(ours), "floor_s": statistics.median(floor),
            "over_floor": statistics.median(ours) / statistics.median(floor)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the busy group only")
    args = parser.parse_args()
    chats = ["busy group"] if args.quick else list(CHATS)
    rows = [measure(chat, policy) for chat in chats for policy in ("always", "budget")]
    print(f"{'chat':12} {'status':7} {'pictures':>8} {'calls/picture':>13} "
          f"{'median wait':>11} {'floor':>6} {'÷ floor':>7}")
    for r in rows:
        print(f"{r['chat']:12} {r['policy']:7} {r['pictures']:8d} "
              f"{r['calls_per_picture']:13.2f} {r['median_wait_s']:10.1f}s "
              f"{r['floor_s']:5.1f}s {r['over_floor']:7.2f}")
    print(json.dumps({f"{r['chat'].replace(' ', '_')}_{r['policy']}": {
        k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()
        if k not in ("chat", "policy")} for r in rows}))


if __name__ == "__main__":
    main()

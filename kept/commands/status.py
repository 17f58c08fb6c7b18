"""``kept status``: counts, last scan and per-account health."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from kept.clock import parse_now
from kept.commands.common import open_store, print_json
from kept.commands.promises import promise_state
from kept.config import load_settings
from kept.storage.base import scan_problems
from kept.storage.meta import LAST_SCAN_KEY, account_health, meta_moment
from kept.storage.serialize import to_json
from kept.terminal import terminal_line

#: `kept status` lists this many of the newest skipped messages; --json lists them all.
SHOWN_PROBLEMS = 10


#: The fields of the object ``kept status --json`` prints (as `--help` lists them).
STATUS_JSON_FIELDS = (
    "database", "last_scan", "messages", "threads", "promises", "waiting_on_me", "waiting_on_them",
    "stale_waiting_on_me", "stale_waiting_on_them", "accounts", "skipped_messages", "service", "writing_now",
)


def _local_minute(value: object, zone: ZoneInfo) -> str:
    """A stored ISO time as the user reads it: their zone, to the minute."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


def cmd_status(args: argparse.Namespace) -> int:
    """Counts, last scan and per-account health.

    Waiting counts are the digest's own candidates (`digest_candidates`):
    conversations, split into news and what is older than the history cutoff.
    """
    from kept.digest.build import digest_candidates
    from kept.storage.instance_lock import SERVICE, WRITER, current_holder

    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    store = open_store(settings)
    try:
        with store.transaction():
            counts = store.count_messages()
            promises = list(store.promises())
            last = meta_moment(store, LAST_SCAN_KEY)
            last_scan = last.isoformat() if last else None
            health = {a.name: account_health(store, a.name) or None for a in settings.accounts}
            found = digest_candidates(store, now, settings)
            # The candidates hold every thread, read in this transaction:
            # decoding them all a second time just to count them took about 3 s
            # and held two copies in memory at 200k messages.
            thread_count = len(found.threads)
            skipped = scan_problems(store)
    finally:
        store.close()
    # Who holds the locks, as their notes say (read without waiting: a reader never waits).
    holders = {kind: current_holder(settings.database, kind) for kind in (SERVICE, WRITER)}
    running = {kind: h.describe() if h is not None and h.alive() else None for kind, h in holders.items()}
    open_promises = [p for p in promises if p.is_open]
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    overdue = [p for p in open_promises if promise_state(p, today) == "overdue"]
    on_me = len(found.sections["waiting_on_me"])
    on_them = len(found.sections["waiting_on_them"])
    status: dict[str, Any] = {
        "database": str(settings.database),
        "last_scan": last_scan,
        "messages": counts,
        "threads": thread_count,
        "promises": {
            "open": len(open_promises),
            "overdue": len(overdue),
            "kept": sum(1 for p in promises if p.status == "kept"),
            "done": sum(1 for p in promises if p.status == "done"),
            "dismissed": sum(1 for p in promises if p.status == "dismissed"),
            "stale": len(found.stale_promises),
        },
        "waiting_on_me": on_me,
        "waiting_on_them": on_them,
        "stale_waiting_on_me": len(found.stale_waiting_on_me),
        "stale_waiting_on_them": len(found.stale_waiting_on_them),
        "accounts": health,
        "skipped_messages": [to_json(problem) for problem in skipped],
        "service": running[SERVICE],
        "writing_now": running[WRITER],
    }
    if args.json:
        print_json(status)
        return 0
    zone = ZoneInfo(settings.timezone)
    print(f"database      {status['database']}")
    print(f"last scan     {_local_minute(last_scan, zone) if last_scan else 'never'}")
    if running[SERVICE]:
        print(f"service       {_plain(running[SERVICE])}")
    if running[WRITER]:
        print(f"writing now   {_plain(running[WRITER])}")
    print(f"messages      {counts.get('sent', 0)} sent, {counts.get('received', 0)} received, "
          f"{thread_count} threads")
    p = status["promises"]
    print(f"promises      {p['open']} open ({p['overdue']} overdue, {p['stale']} older: kept promises --stale), "
          f"{p['kept']} kept, {p['done']} done, {p['dismissed']} dismissed")
    print(f"waiting       {on_me} conversations waiting on you, {on_them} waiting on others")
    stale_threads = len(found.stale_waiting_on_me) + len(found.stale_waiting_on_them)
    if stale_threads:
        print(f"              and {stale_threads} older ones: kept threads --stale")
    for name, h in health.items():
        if not h:
            state = "never scanned"
        elif h.get("ok"):
            state = f"ok, last scan {_local_minute(h.get('last_ok'), zone)}"
        else:
            state = f"FAILING since {_local_minute(h.get('failing_since'), zone)}: {_plain(h.get('error'))}"
        print(f"account {name:<8}{state}")
    if skipped:
        print(f"skipped       {len(skipped)} messages a scan could not read (kept went on without them):")
        for problem in skipped[-SHOWN_PROBLEMS:]:
            where = " ".join(_plain(part) for part in (problem.account, problem.folder, problem.uid))
            print(f"  {problem.at:%Y-%m-%d %H:%M} {where} {_plain(problem.message_id) or '(no Message-ID)'}: "
                  f"{_plain(problem.step)} failed: {_plain(problem.reason)}")
        if len(skipped) > SHOWN_PROBLEMS:
            print(f"  and {len(skipped) - SHOWN_PROBLEMS} older ones: kept status --json")
    return 0


def _plain(text: object) -> str:
    """`text` (from mail or a mail server) as one line a terminal only displays (`kept.terminal`)."""
    return terminal_line(" ".join(str(text).split())[:300])

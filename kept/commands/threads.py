"""``kept threads``: conversations waiting on the user or on others; done, snooze, mute."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from kept.clock import parse_day, parse_now
from kept.commands.common import console, hours, open_store, print_json
from kept.config import load_settings
from kept.errors import UserError
from kept.settings import Settings


def _thread_action(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from kept.daemon import feedback

    if not args.id:
        what = "an e-mail address" if args.action == "mute" else "a thread id"
        raise UserError(f"`kept threads {args.action}` needs {what}", "see `kept threads`")
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    store = open_store(settings)
    try:
        if args.action == "done":
            thread = feedback.mark_thread_done(store, args.id, now)
            print(f"Thread {thread.key} marked done; a new message reopens it.")
        elif args.action == "snooze":
            if not args.until:
                raise UserError("`kept threads snooze` needs --until DATE", "e.g. --until friday")
            thread = feedback.snooze_thread(store, args.id, parse_day(args.until, today))
            print(f"Thread {thread.key} snoozed until {thread.snoozed_until}.")
        else:
            address = feedback.mute_contact(store, args.id)
            print(f"Muted {address}: their mail no longer shows as waiting.")
    finally:
        store.close()
    return 0


def cmd_threads(args: argparse.Namespace) -> int:
    """Threads waiting on the user, or on others; or act on one: done, snooze, mute.

    Lists exactly what the digest would (the same rules and the same muted
    contacts), all of it rather than the digest's top few; ``--stale``
    lists what the digest leaves out as history instead.
    """
    from kept.digest.build import digest_candidates

    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    if args.action:
        return _thread_action(args, settings, now)
    store = open_store(settings)
    try:
        found = digest_candidates(store, now, settings)
    finally:
        store.close()
    rows: list[dict[str, Any]] = []
    if args.waiting_on_them:
        for follow_up in found.stale_waiting_on_them if args.stale else found.sections["waiting_on_them"]:
            rows.append({
                "thread": follow_up.thread_key,
                "account": follow_up.account,
                "subject": follow_up.subject,
                "who": list(follow_up.to),
                "since": follow_up.asked_at.isoformat(),
                "waiting_hours": round(follow_up.waited_hours, 1),
                "usual_hours": None,
                "message_id": follow_up.message_id,
            })
    else:
        for waiting in found.stale_waiting_on_me if args.stale else found.sections["waiting_on_me"]:
            rows.append({
                "thread": waiting.thread_key,
                "account": waiting.account,
                "subject": waiting.subject,
                "who": [waiting.contact_name],
                "emails": [waiting.contact],
                "since": waiting.since.isoformat(),
                "waiting_hours": round(waiting.waited_hours, 1),
                "usual_hours": waiting.usual_hours,
                "message_id": waiting.message_id,
            })
    rows.sort(key=lambda r: r["since"])
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        if args.stale:
            print("Nothing older is waiting.")
        else:
            print("Nobody is waiting on you." if not args.waiting_on_them else "You are not waiting on anyone.")
        return 0
    from rich.table import Table

    title = "Waiting on others" if args.waiting_on_them else "People waiting on you"
    if args.stale:
        title += " (older than your first scan's lookback)"
    table = Table(title=title)
    for column in ("#", "who", "subject", "waiting", "usual", "thread"):
        table.add_column(column)
    for n, row in enumerate(rows, 1):
        table.add_row(
            str(n), ", ".join(row["who"]), row["subject"][:60], hours(row["waiting_hours"]),
            hours(row["usual_hours"]), row["thread"],
        )
    console().print(table)
    return 0

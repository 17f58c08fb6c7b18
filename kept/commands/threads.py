"""``kept threads``: conversations waiting on the user or on others; done, snooze, mute."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kept.clock import parse_now
from kept.commands.common import console, correcting, hours, local_today, print_json, reading
from kept.commands.numbers import DigestNumbers, is_number, numbers_caption, todays_numbers
from kept.config import load_settings
from kept.errors import UserError
from kept.settings import Settings
from kept.terminal import add_row, terminal_line

if TYPE_CHECKING:
    from kept.digest.build import Candidates
    from kept.storage.base import Store


#: The fields of each object ``kept threads --json`` prints (as `--help` lists them).
THREAD_JSON_FIELDS = (
    "number", "thread", "account", "subject", "question", "who", "emails", "since", "waiting_hours", "usual_hours",
    "message_id",
)


def _thread_key(store: Store, numbers: DigestNumbers, ref: str, command: str) -> str:
    """The key of the thread `ref` names: today's digest number, or a key or its prefix."""
    from kept.daemon import feedback

    if is_number(ref):
        return numbers.resolve(ref, ("thread",), command)
    return feedback.resolve_thread(store, ref).key


def _waiting_rows(found: Candidates, stale: bool, waiting_on_them: bool) -> list[dict[str, Any]]:
    """The rows of one list: waiting on the user (or on others), news (or history)."""
    rows: list[dict[str, Any]] = []
    if waiting_on_them:
        for follow_up in found.stale_waiting_on_them if stale else found.sections["waiting_on_them"]:
            rows.append({
                "thread": follow_up.thread_key,
                "account": follow_up.account,
                "subject": follow_up.subject,
                "question": follow_up.question,
                "who": list(follow_up.to),
                "emails": list(follow_up.parties),
                "since": follow_up.asked_at.isoformat(),
                "waiting_hours": round(follow_up.waited_hours, 1),
                "usual_hours": None,
                "message_id": follow_up.message_id,
            })
    else:
        for waiting in found.stale_waiting_on_me if stale else found.sections["waiting_on_me"]:
            rows.append({
                "thread": waiting.thread_key,
                "account": waiting.account,
                "subject": waiting.subject,
                "question": waiting.question,
                "who": [waiting.contact_name],
                "emails": [waiting.contact],
                "since": waiting.since.isoformat(),
                "waiting_hours": round(waiting.waited_hours, 1),
                "usual_hours": waiting.usual_hours,
                "message_id": waiting.message_id,
            })
    return rows


def _mute(store: Store, settings: Settings, now: datetime, numbers: DigestNumbers, ref: str) -> list[str]:
    """Mute an address, or the people a listed thread (number or id) is waiting on or for."""
    from kept.daemon import feedback
    from kept.digest.build import digest_candidates

    if "@" in ref:
        return [feedback.mute_contact(store, ref)]
    key = _thread_key(store, numbers, ref, "kept threads mute")
    found = digest_candidates(store, now, settings)
    for stale in (False, True):
        for waiting_on_them in (False, True):
            for row in _waiting_rows(found, stale, waiting_on_them):
                if row["thread"] == key:
                    return [feedback.mute_contact(store, address) for address in row["emails"]]
    raise UserError(
        f"thread {key} is not waiting on you or on anyone, so there is nobody to mute",
        "give the address to mute, e.g. kept threads mute anna@example.com",
    )


def _thread_action(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from kept.daemon import feedback

    what = "an e-mail address, or a thread's number or id" if args.action == "mute" else "a thread's number or id"
    with correcting(args, settings, now, "kept threads", what) as act:
        store, numbers, command = act.store, act.numbers, act.command
        if args.action == "done":
            thread = feedback.mark_thread_done(store, _thread_key(store, numbers, args.id, command), now)
            print(terminal_line(
                f"Thread {thread.key} ({thread.subject or 'no subject'}) marked done; a new message reopens it."
            ))
        elif args.action == "snooze":
            until = act.until()
            thread = feedback.snooze_thread(store, _thread_key(store, numbers, args.id, command), until)
            print(terminal_line(
                f"Thread {thread.key} ({thread.subject or 'no subject'}) snoozed until {thread.snoozed_until}."
            ))
        else:
            muted = _mute(store, settings, now, numbers, args.id)
            print(terminal_line(f"Muted {', '.join(muted)}: their mail no longer shows as waiting."))
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
    with reading(settings) as store:
        found = digest_candidates(store, now, settings)
        numbers = todays_numbers(store, local_today(settings, now))
    rows = _waiting_rows(found, args.stale, args.waiting_on_them)
    for row in rows:
        row["number"] = numbers.number_of("thread", row["thread"])
    rows.sort(key=lambda r: r["since"])
    if args.json:
        print_json([{name: row[name] for name in THREAD_JSON_FIELDS} for row in rows])
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
    table = Table(title=title, caption=numbers_caption(numbers, rows))
    # "#": the item's number in today's digest, for `kept threads done 3`.
    numbered = any(row["number"] for row in rows)
    for column in ("#",) * numbered + ("who", "subject", "waiting", "usual", "id"):
        table.add_column(column)
    for row in rows:
        # The question after the subject (a cell is one line): "Re:" alone says nothing of what is waited for.
        about = row["subject"][:60] + (f" \u201c{row['question'][:100]}\u201d" if row["question"] else "")
        cells = [", ".join(row["who"]), about, hours(row["waiting_hours"]),
                 hours(row["usual_hours"]), row["thread"]]
        add_row(table, *([row["number"] or ""] if numbered else []), *cells)
    console().print(table)
    return 0

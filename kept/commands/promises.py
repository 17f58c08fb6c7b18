"""``kept promises``: list the user's promises; done, snooze, dismiss one or many."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kept.clock import parse_day, parse_now
from kept.commands.common import (
    console, correcting, feedback_lock, local_today, no_extra_words, open_store, print_json, reading,
)
from kept.commands.numbers import DigestNumbers, numbers_caption, todays_numbers
from kept.config import load_settings
from kept.errors import UserError
from kept.models import Promise
from kept.settings import Settings
from kept.terminal import add_row, terminal_line

if TYPE_CHECKING:
    from kept.storage.base import Store


def promise_state(promise: Promise, today: date) -> str:
    """What a promise is today: ``overdue``, ``open``, ``snoozed`` or its closed status.

    A snooze that has run out makes the promise open (or overdue) again.
    """
    if promise.status == "snoozed" and promise.snoozed_until and promise.snoozed_until > today:
        return "snoozed"
    if promise.is_open:
        return "overdue" if promise.due and promise.due < today else "open"
    return promise.status


#: The fields of each object ``kept promises --json`` prints (as `--help` lists them).
PROMISE_JSON_FIELDS = (
    "number", "id", "status", "sentence", "action", "kind", "to", "made_at", "due", "due_is_default",
    "confidence", "evidence", "closed_at", "message_id", "account", "rule",
)


def _promise_row(p: Promise, today: date, numbers: DigestNumbers) -> dict[str, Any]:
    return {
        "number": numbers.number_of("promise", p.id),
        "id": p.id,
        "status": promise_state(p, today),
        "sentence": p.sentence,
        "action": p.action,
        "kind": p.kind,
        "to": list(p.counterparties),
        "made_at": p.made_at.isoformat(),
        "due": p.due.isoformat() if p.due else None,
        "due_is_default": p.due_is_default,
        "confidence": p.confidence,
        "evidence": p.evidence,
        "closed_at": p.closed_at.isoformat() if p.closed_at else None,
        "message_id": p.message_id,
        "account": p.account,
        "rule": p.rule_id,
    }


def _stale_or_before(
    store: Store, promises: list[Promise], args: argparse.Namespace, today: date, zone: ZoneInfo
) -> list[Promise]:
    """The open promises `--stale` and/or `--before DATE` select."""
    from kept.storage.base import history_cutoff

    chosen = [p for p in promises if p.is_open]
    if getattr(args, "stale", False):
        cutoffs = {name: history_cutoff(store, name) for name in {p.account for p in chosen}}
        chosen = [p for p in chosen if (cut := cutoffs[p.account]) is not None and _utc(p.made_at) < cut]
    if getattr(args, "before", None):
        before = parse_day(args.before, today)
        chosen = [p for p in chosen if _utc(p.made_at).astimezone(zone).date() < before]
    return chosen


def _people_labels(store: Store, settings: Settings) -> Callable[[str], str]:
    """The name kept knows for an address (`kept.extractors.people`), else the address."""
    from kept.digest.people import people_from_store

    return people_from_store(store, settings.addresses).label


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _bulk_promise_action(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    """``kept promises done|dismiss --stale | --before DATE``: close many at once."""
    from kept.daemon import feedback

    if args.action == "snooze":
        raise UserError("`kept promises snooze` takes one promise id", "e.g. kept promises snooze 3f9a friday")
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    store = open_store(settings)
    try:
        with store.transaction():
            chosen = _stale_or_before(store, list(store.promises()), args, today, ZoneInfo(settings.timezone))
            closed = feedback.close_promises(store, [p.id for p in chosen], args.action, now)
    finally:
        store.close()
    verb = "marked done" if args.action == "done" else "dismissed"
    print(f"{closed} open {'promise' if closed == 1 else 'promises'} {verb}.")
    return 0


def _promise_action(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from kept.daemon import feedback

    if not args.id and (args.stale or args.before):
        no_extra_words(args.when, f"kept promises {args.action}")
        with feedback_lock(settings, f"kept promises {args.action}"):
            return _bulk_promise_action(args, settings, now)
    if args.id and (args.stale or args.before):
        raise UserError("give a promise id or --stale/--before, not both", "see `kept promises --help`")
    with correcting(args, settings, now, "kept promises", "a promise's number or id") as act:
        ref = act.ref(("promise",))
        if args.action == "done":
            promise = feedback.mark_promise_done(act.store, ref, now)
            print(terminal_line(f"Promise {promise.id} is {promise.status}: {promise.sentence}"))
        elif args.action == "snooze":
            promise = feedback.snooze_promise(act.store, ref, act.until())
            print(terminal_line(f"Promise {promise.id} snoozed until {promise.snoozed_until}: {promise.sentence}"))
        else:
            promise = feedback.dismiss_promise(act.store, ref, now)
            print(f"Promise {promise.id} dismissed; this sentence will not be raised again.")
    return 0


def cmd_promises(args: argparse.Namespace) -> int:
    """List promises (open by default), or act on one: done, snooze, dismiss."""
    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    if args.action:
        return _promise_action(args, settings, now)
    today = local_today(settings, now)
    with reading(settings) as store:
        promises = list(store.promises())
        selected = (
            _stale_or_before(store, promises, args, today, ZoneInfo(settings.timezone))
            if args.stale or args.before else None
        )
        numbers = todays_numbers(store, today)
        # The table names people as the digest does ("Rosa Lindner"); JSON keeps addresses.
        label = _people_labels(store, settings) if not args.json else str
    if selected is not None:
        chosen = selected
    elif args.kept:
        chosen = [p for p in promises if p.status == "kept"]
    elif args.overdue:
        chosen = [p for p in promises if promise_state(p, today) == "overdue"]
    elif args.all:
        chosen = promises
    else:
        chosen = [p for p in promises if p.is_open]
    chosen.sort(key=lambda p: (p.due or date.max, p.made_at))
    rows = [_promise_row(p, today, numbers) for p in chosen]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("No promises to show.")
        return 0
    from rich.table import Table

    if args.kept:
        # What kept each promise, and when: a wrong "kept" hides a debt.
        kept_table = Table(title=f"Kept promises ({len(rows)})")
        for column in ("id", "kept on", "to", "promise", "evidence"):
            kept_table.add_column(column, overflow="fold")
        for row in rows:
            add_row(kept_table, row["id"], (row["closed_at"] or "–")[:16].replace("T", " "),
                    ", ".join(map(label, row["to"][:2])), row["sentence"][:120], row["evidence"] or "–")
        console().print(kept_table)
        return 0
    table = Table(title=f"Promises ({len(rows)})", caption=numbers_caption(numbers, rows))
    # "#": the promise's number in today's digest, for `kept promises done 3`.
    numbered = any(row["number"] for row in rows)
    for column in ("#",) * numbered + ("id", "due", "to", "promise", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        due = row["due"] or "–"
        if row["due_is_default"]:
            due += " (no date)"
        cells = [row["id"], due, ", ".join(map(label, row["to"][:2])), row["sentence"][:120], row["status"]]
        add_row(table, *([row["number"] or ""] if numbered else []), *cells)
    console().print(table)
    return 0

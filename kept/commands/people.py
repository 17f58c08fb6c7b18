"""``kept contacts`` and ``kept nudges``: the relationship commands."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kept.clock import parse_now
from kept.commands.common import console, correcting, hours, local_today, print_json, reading
from kept.commands.numbers import numbers_caption, todays_numbers
from kept.config import load_settings
from kept.settings import Settings
from kept.storage.meta import meta_strings
from kept.terminal import add_row, terminal_line

if TYPE_CHECKING:
    from kept.storage.base import Store

__all__ = ["CONTACT_JSON_FIELDS", "NUDGE_JSON_FIELDS", "cmd_contacts", "cmd_nudges"]


def _days(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} days" if value >= 1.5 else f"{value * 24:.0f} h"


#: The fields of each object ``kept contacts --json`` prints (as `--help` lists them).
CONTACT_JSON_FIELDS = (
    "email", "name", "aliases", "last_exchange", "last_from_me", "sent", "received", "two_way_exchanges",
    "rhythm_days", "my_median_reply_hours", "their_median_reply_hours", "open_promises", "waiting_on_me",
    "waiting_on_them",
)


def cmd_contacts(args: argparse.Namespace) -> int:
    """List every two-way contact: last exchange, rhythm, reply times, open promises and threads."""
    from kept.extractors.contacts import contact_summaries
    from kept.extractors.waiting import my_names
    from kept.digest.people import people_from_store

    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    with reading(settings) as store:
        threads = list(store.threads())
        people = people_from_store(store, settings.addresses)
        rows = contact_summaries(
            threads, store.promises(), settings.addresses, settings.threads, now, people,
            my_names(settings.name, settings.addresses),
        )
    if args.json:
        print_json([
            {
                "email": row.email,
                "name": row.name,
                "aliases": list(row.aliases),
                "last_exchange": row.last_exchange.isoformat(),
                "last_from_me": row.last_from_me,
                "sent": row.messages_sent,
                "received": row.messages_received,
                "two_way_exchanges": row.two_way_exchanges,
                "rhythm_days": None if row.rhythm_days is None else round(row.rhythm_days, 1),
                "my_median_reply_hours": None if row.my_reply_hours is None else round(row.my_reply_hours, 1),
                "their_median_reply_hours": None if row.their_reply_hours is None else round(row.their_reply_hours, 1),
                "open_promises": list(row.open_promises),
                "waiting_on_me": list(row.waiting_on_me),
                "waiting_on_them": list(row.waiting_on_them),
            }
            for row in rows
        ])
        return 0
    if not rows:
        print("No two-way contacts yet: nobody you wrote to has written back.")
        return 0
    from rich.table import Table
    from rich.text import Text

    zone = ZoneInfo(settings.timezone)
    table = Table(title=f"Contacts ({len(rows)})")
    # Wrapped, not cut: a name, an address and a person's other addresses.
    table.add_column("contact", overflow="fold", min_width=24)
    for column in ("last exchange", "rhythm", "my reply", "their reply", "open promises", "open threads"):
        table.add_column(column, overflow="fold")
    for row in rows:
        last = row.last_exchange.astimezone(zone)
        direction = "you" if row.last_from_me else "them"
        # Two lines, each shown as data (`kept.terminal`).
        who = terminal_line(f"{row.name} <{row.email}>" if row.name else row.email)
        if row.aliases:
            who += "\n" + terminal_line(f"(also {', '.join(row.aliases)})")
        add_row(
            table, Text(who), f"{last:%Y-%m-%d} ({direction})", _days(row.rhythm_days), hours(row.my_reply_hours),
            hours(row.their_reply_hours), len(row.open_promises) or "–", row.open_threads or "–",
        )
    console().print(table)
    return 0


#: The fields of each object ``kept nudges --json`` prints (as `--help` lists them); a
#: field that does not apply to a nudge's kind is null.
NUDGE_JSON_FIELDS = (
    "number", "kind", "id", "text", "account", "message_id", "pending", "stage", "giver", "sentence",
    "silent_days", "exchanges",
)
#: The kinds of digest items that are nudges (`kept.digest.nudges`).
_NUDGE_KINDS = ("intro", "lead", "contact")


def _nudge_rows(store: Store, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Every nudge due today, as the digest would list it (without its item limit)."""
    from kept.digest.text import user_timezone
    from kept.digest.nudges import build_nudge_sections

    zone = user_timezone(settings.timezone)
    today = now.astimezone(zone).date()
    muted = frozenset(a.lower() for a in meta_strings(store, "muted_contacts"))
    unlimited = settings.nudges
    if unlimited.keep_in_touch.max_items:
        import dataclasses

        unlimited = dataclasses.replace(
            unlimited, keep_in_touch=dataclasses.replace(unlimited.keep_in_touch, max_items=10_000)
        )
        settings = dataclasses.replace(settings, nudges=unlimited)
    sections = build_nudge_sections(store, list(store.threads()), settings, now, today, zone, muted, lambda k, i: 0)
    numbers = todays_numbers(store, today)
    rows: list[dict[str, Any]] = []
    for intro in sections.introductions:
        text = f"You introduced {intro.who} on {intro.made_at:%Y-%m-%d}: ask each how it went"
        if intro.no_recent_contact:
            text += f" (you had not written to {' or '.join(intro.no_recent_contact)} in the {intro.no_recent_days} days before)"
        rows.append({"kind": "introduction", "id": intro.intro_id, "text": text,
                     "pending": list(intro.pending), "message_id": intro.message_id, "account": intro.account,
                     "number": numbers.number_of("intro", intro.intro_id)})
    for lead in sections.leads:
        about = f" {'to' if lead.stage == 'thank' else 'with'} {lead.about}" if lead.about else ""
        text = (f"Thank {lead.giver} for the lead{about} ({lead.received_at:%Y-%m-%d})" if lead.stage == "thank"
                else f"Tell {lead.giver} how it went{about}")
        rows.append({"kind": "lead", "id": lead.lead_id, "stage": lead.stage, "text": text,
                     "giver": lead.giver_email, "sentence": lead.sentence,
                     "message_id": lead.message_id, "account": lead.account,
                     "number": numbers.number_of("lead", lead.lead_id)})
    for contact in sections.keep_in_touch:
        usual = (f"usually every {_days(contact.rhythm_days)}" if contact.rhythm_days is not None
                 else f"cadence {contact.allowed_days:.0f} days ({contact.cadence_from})")
        rows.append({"kind": "keep-in-touch", "id": contact.email,
                     "text": f"{contact.name}: silent {contact.silent_days} days, {usual}",
                     "silent_days": contact.silent_days, "exchanges": contact.exchanges,
                     "number": numbers.number_of("contact", contact.email)})
    return [{name: row.get(name) for name in NUDGE_JSON_FIELDS} for row in rows]


def _nudge_action(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    """``kept nudges done|snooze|dismiss REF``."""
    from kept.daemon import nudge_feedback

    with correcting(args, settings, now, "kept nudges", "a number, an id or an address") as act:
        ref = act.ref(_NUDGE_KINDS)
        if args.action == "done":
            print(terminal_line(nudge_feedback.nudge_done(act.store, settings, ref, now)))
        elif args.action == "snooze":
            print(terminal_line(nudge_feedback.nudge_snooze(act.store, ref, act.until())))
        else:
            print(terminal_line(nudge_feedback.nudge_dismiss(act.store, ref, now)))
    return 0


def cmd_nudges(args: argparse.Namespace) -> int:
    """List introductions, leads and keep-in-touch nudges, or act on one: done, snooze, dismiss."""
    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    if args.action:
        return _nudge_action(args, settings, now)
    with reading(settings) as store:
        rows = _nudge_rows(store, settings, now)
        numbers = todays_numbers(store, local_today(settings, now))
    if args.json:
        print_json(rows)
        return 0
    if not settings.nudges.enabled:
        print("Nudges are switched off ([nudges] enabled = false).")
        return 0
    if not rows:
        print("No nudges today.")
        return 0
    from rich.table import Table

    table = Table(title=f"Nudges ({len(rows)})", caption=numbers_caption(numbers, rows))
    # "#": the nudge's number in today's digest, for `kept nudges done 3`.
    numbered = any(row["number"] for row in rows)
    for column in ("#",) * numbered + ("kind", "id", "nudge"):
        table.add_column(column, overflow="fold")
    for row in rows:
        add_row(table, *([row["number"] or ""] if numbered else []), row["kind"], row["id"], row["text"])
    console().print(table)
    return 0

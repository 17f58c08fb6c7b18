"""Today's digest numbers on the command line.

The digest numbers its items ([1], [2], ...), and a reply "done 3" acts on
item 3 of the digest it answers (`kept.daemon.feedback`). The command line
goes by the same numbers: the lists (``kept threads``, ``kept promises``,
``kept nudges``) show each item's number in the digest sent today in their
``#`` column, and ``kept threads done 3`` acts on the item a reply "done 3"
to that digest would.

The numbers are those of a digest that was sent (meta ``sent_digests``,
written when it goes out), not of one built anew: they are the numbers in
the user's inbox, and they stay put while items are closed. Until today's
digest is sent, lists show ids only and a number is refused with a pointer
to the id. The ids the lists show are accepted everywhere, as are unique
prefixes of at least `kept.daemon.feedback.MIN_PREFIX` characters, which is
why a ref of fewer digits is always read as a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from kept.errors import UserError

if TYPE_CHECKING:
    from kept.storage.base import Store

__all__ = ["DigestNumbers", "is_number", "todays_numbers"]

# "3" and "#3" are digest numbers; ids need four characters or more.
_NUMBER = re.compile(r"#\d+|\d{1,3}")

# What each kind of digest item is called, and the command that acts on it.
_KIND_NOUNS = {
    "promise": ("a promise", "kept promises"),
    "thread": ("a conversation", "kept threads"),
    "intro": ("an introduction", "kept nudges"),
    "lead": ("a lead", "kept nudges"),
    "contact": ("a keep-in-touch nudge", "kept nudges"),
}


def is_number(ref: str) -> bool:
    """True when `ref` is a digest number ("3", "#3") rather than an id."""
    return _NUMBER.fullmatch(ref.strip()) is not None


@dataclass(frozen=True, slots=True)
class DigestNumbers:
    """The item numbers of the digests sent on `day`.

    :ivar day: the day, in the user's time zone.
    :ivar items: number -> the ``(kind, id)`` items it stands for: one,
        except with ``[digest] per_account``, where each account's digest
        counts from 1.
    :ivar sent: whether a digest was sent on `day` at all.
    """

    day: date
    items: dict[int, tuple[tuple[str, str], ...]]
    sent: bool

    def number_of(self, kind: str, ref_id: str) -> int | None:
        """The number of item (`kind`, `ref_id`) in the day's digest, or None when it is not in it."""
        for number, items in self.items.items():
            if (kind, ref_id) in items:
                return number
        return None

    def resolve(self, ref: str, kinds: Iterable[str], command: str) -> str:
        """The id of the item numbered `ref` ("3" or "#3"), which must be of one of `kinds`.

        `command` is the one being run (``kept threads done``), for the
        messages.

        :raises UserError: no digest was sent today, it has no such number,
            the number stands for different items in different accounts'
            digests, or for an item of another kind.
        """
        number = int(ref.strip().lstrip("#"))
        kinds = tuple(kinds)
        family = " ".join(command.split()[:2])
        if not self.sent:
            raise UserError(
                f"#{number}: no digest was sent today ({self.day:%Y-%m-%d}), so there is no number to go by",
                f"give the id `{family}` shows",
            )
        items = self.items.get(number, ())
        if not items:
            raise UserError(
                f"today's digest has no #{number} (it numbers 1 to {max(self.items, default=0)})",
                f"give a number from the digest, or the id `{family}` shows",
            )
        if len(set(items)) > 1:
            raise UserError(
                f"#{number} stands for different items in today's digests (one per account)",
                f"give the id `{family}` shows",
            )
        kind, ref_id = items[0]
        if kind not in kinds:
            noun, other = _KIND_NOUNS.get(kind, (kind, "kept"))
            action = command.split()[-1]
            raise UserError(
                f"#{number} of today's digest is {noun}, not something `{family}` acts on",
                f"use `{other} {action} {number}`",
            )
        return ref_id


def todays_numbers(store: Store, day: date) -> DigestNumbers:
    """The numbers of the digests sent on `day` (the latest of each account's, when resent).

    Reads meta ``sent_digests``; changes nothing.
    """
    # Read as a reply's numbers are read (`kept.daemon.feedback`): malformed rows are left out.
    from kept.daemon.feedback import digest_index
    from kept.storage.meta import meta_records

    latest: dict[str, dict[str, Any]] = {}
    for record in meta_records(store, "sent_digests").values():
        if record.get("date") != day.isoformat():
            continue
        account = str(record.get("account") or "")
        if account not in latest or str(record.get("sent_at", "")) >= str(latest[account].get("sent_at", "")):
            latest[account] = record
    items: dict[int, list[tuple[str, str]]] = {}
    for record in latest.values():
        for number, (kind, ref_id) in digest_index(record).items():
            items.setdefault(number, []).append((kind, ref_id))
    return DigestNumbers(day, {n: tuple(found) for n, found in sorted(items.items())}, bool(latest))


def numbers_caption(numbers: DigestNumbers, rows: Iterable[dict[str, Any]]) -> str:
    """The line under a list saying what its ``#`` column is (or why it has none)."""
    if not numbers.sent:
        return "No digest was sent today yet: act on an item by its id (or its first 4 characters)."
    if any(row.get("number") for row in rows):
        return "#: the item's number in today's digest (as in a reply: done 3)."
    return "None of these is in today's digest: act on an item by its id."

"""Ranking the digest's candidates and cutting them to the caps.

`kept.digest.build` gathers what the digest could list (`Candidates`); this
module decides what of it is listed and in which order, and numbers it:

section
    One of `SECTIONS`, in display order; items in a section are ranked by
    what matters to the user (reach, urgency, how fast they usually answer).
tier
    Which items give way first when the sections together hold more than
    ``[digest] max_items``: what is due now and questions people wait on
    come first, nudges last.
copy
    Items with the same people and subject within `COPY_WINDOW` (copies of
    one message, a question asked twice the same day) are one item.

Items are the records of `kept.digest.build` and `kept.digest.nudges`; this
module reads only their fields and their ``ref``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from kept.extractors.waiting import LagStats
from kept.models import Thread
from kept.settings import Settings

__all__ = ["COPY_WINDOW", "SECTIONS", "Numbering", "one_per_copy", "rank_sections", "split_items"]


#: The numbered sections in display order: key, title, where the rest is listed.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("due", "Promises due", "kept promises"),
    ("undated", "Promises without a date", "kept promises"),
    ("waiting_on_me", "Waiting on you", "kept threads"),
    ("waiting_on_them", "Waiting on others", "kept threads --waiting-on-them"),
    ("introductions", "Introductions", "kept nudges"),
    ("leads", "Thank and report back", "kept nudges"),
    ("keep_in_touch", "Keep in touch", "kept nudges"),
)


class Numbering:
    """Hands out consecutive item numbers and records what each refers to."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, str, str]] = []

    def next(self, kind: str, ref_id: str) -> int:
        number = len(self.entries) + 1
        self.entries.append((number, kind, ref_id))
        return number

    def zero(self, kind: str, ref_id: str) -> int:
        """A placeholder number for an item that is ranked before it is numbered."""
        return 0


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


#: Items with the same people and subject this close together are one item.
COPY_WINDOW = timedelta(days=1)


def one_per_copy(items: Sequence[Any], key: Any, when: Any) -> tuple[Any, ...]:
    """`items` without those that repeat an earlier item's `key` within `COPY_WINDOW`."""
    last_seen: dict[Any, datetime] = {}
    kept: list[Any] = []
    for item in sorted(items, key=when):
        identity = key(item)
        previous = last_seen.get(identity)
        last_seen[identity] = when(item)
        if previous is not None and when(item) - previous <= COPY_WINDOW:
            continue
        kept.append(item)
    return tuple(kept)


def split_items(
    items: Sequence[Any], cutoffs: dict[str, datetime | None], when: Any
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(items that are news, items that are history); `when(item)` gives (account, date)."""
    news: list[Any] = []
    old: list[Any] = []
    for item in items:
        account_name, moment = when(item)
        cutoff = cutoffs.get(account_name)
        (old if cutoff is not None and _aware(moment) < cutoff else news).append(item)
    return tuple(news), tuple(old)


def _written_to(threads: Iterable[Thread], me: frozenset[str]) -> dict[str, int]:
    """How many messages the user sent to each address (To and Cc)."""
    counts: dict[str, int] = {}
    for thread in threads:
        for item in thread.messages:
            if item.role == "sent":  # only mail in a sent folder is the user's (see waiting._is_mine)
                for address in {*item.to, *item.cc} - me:
                    counts[address] = counts.get(address, 0) + 1
    return counts


#: A promise the extractor was less sure of than this is never a numbered
#: digest item: it is counted in its section's "and N more" line and listed
#: by ``kept promises``. On the labelled promises of the development digests
#: (102 items, 2026-12-05) 6 of the 8 below it were not promises (whereabouts,
#: "I will wait to hear from you", "Sounds good, I will abide"), against 10
#: of the 94 above it: the digest is read only if it is true.
LISTING_CONFIDENCE = 0.70

#: A promise that names no time and that the extractor was less sure of than
#: this is no digest item at all, not even in "and N more"; ``kept promises``
#: lists it. On the labelled promises of all development digests and the five
#: scored held-out sets (286 items, 2026-12-07), 23 of the 44 undated ones
#: below it were promises, against 101 of the 107 above it; on the held-out
#: writers alone, 11 of 29 below it. Every user's mail is unseen writing, and
#: there the model's unsure guesses without a day are mostly wrong.
UNDATED_LISTING_CONFIDENCE = 0.80

# Tiers decide which sections give way when the digest is over max_items:
# what is due now and questions people wait on come first.
_TIER_URGENT_PROMISE, _TIER_QUESTION, _TIER_DUE_SOON, _TIER_WAITING = 0, 1, 2, 3
_TIER_FOLLOW_UP, _TIER_UNDATED, _TIER_NUDGE, _TIER_KEEP_IN_TOUCH = 4, 5, 6, 7


def _listable(item: Any) -> bool:
    """False for a promise item below `LISTING_CONFIDENCE`; other items carry no confidence."""
    return bool(getattr(item, "confidence", 1.0) >= LISTING_CONFIDENCE)


def rank_sections(
    sections: dict[str, tuple[Any, ...]],
    threads: Sequence[Thread],
    me: frozenset[str],
    lags: dict[str, LagStats],
    today: date,
    settings: Settings,
) -> tuple[dict[str, tuple[Any, ...]], tuple[tuple[str, int], ...], tuple[tuple[int, str, str], ...]]:
    """Rank each section, cut it to the caps and number what is left in display order.

    Within a section: promises due today or overdue to people the user
    writes to often come first; then questions from people the user usually
    answers fast; follow-ups to frequent correspondents; nudges keep their
    own order. Each section keeps at most ``max_per_section`` items, the
    digest at most ``max_items``: when the sections together hold more, the
    lower tiers give way first (see the ``_TIER_*`` constants).

    :returns: (listed items by section, ``(section, left out)`` pairs,
        the index of numbers).
    """
    written = _written_to(threads, me)
    # Only the candidates' messages are looked up: a set and a dict of all
    # 200,000 messages cost 0.3 s at 200k. Of a Message-ID found in two
    # threads, the later thread's copy counts, as before.
    waiting_ids = {item.message_id for item in sections["waiting_on_me"]}
    follow_up_ids = {item.message_id for item in sections["waiting_on_them"]}
    asking = {
        item.message_id
        for thread in threads
        for item in thread.messages
        if item.asks and item.message_id in waiting_ids
    }
    recipients = {
        item.message_id: (*item.to, *item.cc)
        for thread in threads
        for item in thread.messages
        if item.message_id in follow_up_ids
    }

    def reach(addresses: Iterable[str]) -> int:
        return max((written.get(address, 0) for address in addresses), default=0)

    def usual(contact: str) -> float:
        stats = lags.get(contact)
        median = stats.my_median if stats else None
        return median if median is not None else float("inf")

    def days_left(item: Any) -> int:
        return item.days_left if item.days_left is not None else 0

    ranked: dict[str, list[tuple[int, Any]]] = {}
    # Most overdue first, as before the ranking; reach decides first.
    ranked["due"] = [
        (_TIER_URGENT_PROMISE if days_left(item) <= 0 else _TIER_DUE_SOON, item)
        for item in sorted(
            sections["due"],
            key=lambda i: (days_left(i) > 0, -reach(i.parties), days_left(i), i.made_at),
        )
    ]
    ranked["undated"] = [
        (_TIER_UNDATED, item)
        for item in sorted(sections["undated"], key=lambda i: (-reach(i.parties), i.made_at))
    ]
    ranked["waiting_on_me"] = [
        (_TIER_QUESTION if item.message_id in asking else _TIER_WAITING, item)
        for item in sorted(
            sections["waiting_on_me"],
            key=lambda i: (i.message_id not in asking, usual(i.contact), -reach((i.contact,)), i.since),
        )
    ]
    ranked["waiting_on_them"] = [
        (_TIER_FOLLOW_UP, item)
        for item in sorted(
            sections["waiting_on_them"],
            key=lambda i: (-reach(recipients.get(i.message_id, ())), i.asked_at),
        )
    ]
    for key in ("introductions", "leads"):
        ranked[key] = [(_TIER_NUDGE, item) for item in sections[key]]
    ranked["keep_in_touch"] = [(_TIER_KEEP_IN_TOUCH, item) for item in sections["keep_in_touch"]]

    per_section = settings.digest.max_per_section
    candidates = [
        (tier, position, order, key, item)
        for order, (key, _title, _hint) in enumerate(SECTIONS)
        for position, (tier, item) in enumerate(
            [entry for entry in ranked[key] if _listable(entry[1])][:per_section]
        )
    ]
    # Lower tier first; within a tier, each section's best before any
    # section's second best, so no section crowds the others out.
    candidates.sort(key=lambda entry: (entry[0], entry[1], entry[2]))
    chosen = {id(entry[4]) for entry in candidates[: settings.digest.max_items]}

    numbering = Numbering()
    listed: dict[str, tuple[Any, ...]] = {}
    more: list[tuple[str, int]] = []
    for key, _title, _hint in SECTIONS:
        items = []
        for _tier, item in ranked[key]:
            if id(item) in chosen:
                kind, ref_id = item.ref
                items.append(replace(item, number=numbering.next(kind, ref_id)))
        listed[key] = tuple(items)
        if len(sections[key]) > len(items):
            more.append((key, len(sections[key]) - len(items)))
    return listed, tuple(more), tuple(numbering.entries)

"""The user's corrections: done, snooze, dismiss and mute, and the grammar of a reply to the digest.

Two ways in lead here:

* the command line (``kept promises done ID``, ``kept threads mute CONTACT``,
  ...) calls the store functions below with an id or a unique prefix of one;
* a reply to the daily digest ("done 3", "snooze 2 friday") is read by
  `parse_commands`; `kept.daemon.replies` checks it answers a digest kept
  sent and carries it out through these functions.

Store meta used here:

``dismissed_sentences``
    fingerprints (`sentence_fingerprint`) of sentences the
    user said are not promises; the scanner never raises them again.
``muted_contacts``
    lower-cased addresses whose threads the digest leaves out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Iterable
from typing import Any
from dataclasses import dataclass
from datetime import date, datetime

from kept.clock import read_day
from kept.errors import UserError
from kept.models import Promise, Thread
from kept.storage.base import Store
from kept.storage.meta import meta_strings

__all__ = [
    "Command",
    "close_promises",
    "digest_index",
    "dismiss_promise",
    "mark_promise_done",
    "mark_thread_done",
    "mute_contact",
    "parse_commands",
    "resolve_prefix",
    "resolve_promise",
    "resolve_thread",
    "sentence_fingerprint",
    "snooze_promise",
    "snooze_thread",
]

logger = logging.getLogger(__name__)

# Shorter prefixes than this match too much by accident ("done a").
MIN_PREFIX = 4


def sentence_fingerprint(sentence: str) -> str:
    """Key under which a dismissed ("not a promise") sentence is remembered."""
    normal = " ".join(sentence.lower().split())
    return hashlib.sha1(normal.encode("utf-8", "replace")).hexdigest()[:16]


# -- looking things up ----------------------------------------------------


def resolve_prefix(ref: str, keys: Iterable[str], noun: str, listing: str) -> str:
    """The one key equal to `ref` or starting with it; UserError otherwise.

    Shared by every id the user types: promises and threads here, nudges in
    `kept.daemon.nudge_feedback` (which builds on this module, never the
    other way round).
    """
    wanted = ref.strip().lower()
    if not wanted:
        raise UserError(f"no {noun} given", f"pass an id as shown by `{listing}`")
    matches = []
    for key in keys:
        if key.lower() == wanted:
            return key
        if key.lower().startswith(wanted):
            matches.append(key)
    if len(matches) == 1 and len(wanted) >= MIN_PREFIX:
        return matches[0]
    if not matches:
        raise UserError(f"no {noun} with id {ref!r}", f"list them with `{listing}` and copy the id")
    if len(matches) == 1:
        raise UserError(
            f"{noun} id {ref!r} is too short to be safe",
            f"give at least {MIN_PREFIX} characters, e.g. {matches[0][:MIN_PREFIX]}",
        )
    shown = ", ".join(sorted(matches)[:5])
    raise UserError(f"{noun} id {ref!r} is ambiguous: it starts {shown}", "give more characters of the id")


def resolve_promise(store: Store, ref: str) -> Promise:
    """The promise whose id is `ref` or uniquely starts with it.

    :raises UserError: when none or several match.
    """
    with store.transaction():
        exact = store.get_promise(ref.strip())
        if exact is not None:
            return exact
        key = resolve_prefix(ref, (p.id for p in store.promises()), "promise", "kept promises --all")
        promise = store.get_promise(key)
    assert promise is not None
    return promise


def resolve_thread(store: Store, ref: str) -> Thread:
    """The thread whose key is `ref` or uniquely starts with it.

    :raises UserError: when none or several match.
    """
    with store.transaction():
        exact = store.get_thread(ref.strip())
        if exact is not None:
            return exact
        key = resolve_prefix(ref, (t.key for t in store.threads()), "thread", "kept threads")
        thread = store.get_thread(key)
    assert thread is not None
    return thread


# -- corrections ----------------------------------------------------------


def mark_promise_done(store: Store, promise_id: str, now: datetime) -> Promise:
    """Close a promise the user has kept; return it as stored.

    A promise already kept, done or dismissed is left as it is.
    """
    with store.transaction():
        promise = resolve_promise(store, promise_id)
        if promise.is_open:
            promise = dataclasses.replace(promise, status="done", closed_at=now, snoozed_until=None)
            store.put_promise(promise)
    return promise


def snooze_promise(store: Store, promise_id: str, until: date) -> Promise:
    """Hide an open promise from the digest until `until`; return it as stored.

    :raises UserError: when the promise is no longer open.
    """
    with store.transaction():
        promise = resolve_promise(store, promise_id)
        if not promise.is_open:
            raise UserError(
                f"promise {promise.id} is {promise.status}, there is nothing to snooze",
                "list open promises with `kept promises`",
            )
        promise = dataclasses.replace(promise, status="snoozed", snoozed_until=until)
        store.put_promise(promise)
    return promise


def dismiss_promise(store: Store, promise_id: str, now: datetime) -> Promise:
    """Mark a promise "not a promise" and never raise its sentence again."""
    with store.transaction():
        promise = resolve_promise(store, promise_id)
        promise = dataclasses.replace(promise, status="dismissed", closed_at=now, snoozed_until=None)
        store.put_promise(promise)
        fingerprints = meta_strings(store, "dismissed_sentences")
        fingerprint = sentence_fingerprint(promise.sentence)
        if fingerprint not in fingerprints:
            fingerprints.append(fingerprint)
            store.set_meta("dismissed_sentences", fingerprints)
    return promise


def close_promises(store: Store, promise_ids: list[str], action: str, now: datetime) -> int:
    """Mark many promises ``done`` or ``dismissed`` in one transaction; return how many changed.

    For ``kept promises done|dismiss --stale`` and ``--before DATE``: ids
    are exact, and promises no longer open are left as they are.
    Dismissed sentences are remembered as with `dismiss_promise`.
    """
    if action not in ("done", "dismiss"):
        raise ValueError(f"unknown bulk action {action!r}")
    changed = 0
    with store.transaction():
        fingerprints = meta_strings(store, "dismissed_sentences")
        known = set(fingerprints)
        for promise_id in promise_ids:
            promise = store.get_promise(promise_id)
            if promise is None or not promise.is_open:
                continue
            status = "done" if action == "done" else "dismissed"
            store.put_promise(dataclasses.replace(promise, status=status, closed_at=now, snoozed_until=None))
            changed += 1
            fingerprint = sentence_fingerprint(promise.sentence)
            if action == "dismiss" and fingerprint not in known:
                known.add(fingerprint)
                fingerprints.append(fingerprint)
        if action == "dismiss":
            store.set_meta("dismissed_sentences", fingerprints)
    return changed


def mark_thread_done(store: Store, key: str, now: datetime) -> Thread:
    """Close a conversation; a later message reopens it. Return it as stored."""
    with store.transaction():
        thread = resolve_thread(store, key)
        thread = dataclasses.replace(thread, status="done", done_at=now, snoozed_until=None)
        store.put_thread(thread)
    return thread


def snooze_thread(store: Store, key: str, until: date) -> Thread:
    """Hide a conversation from the digest until `until`. Return it as stored."""
    with store.transaction():
        thread = resolve_thread(store, key)
        thread = dataclasses.replace(thread, status="snoozed", snoozed_until=until)
        store.put_thread(thread)
    return thread


def mute_contact(store: Store, email: str) -> str:
    """Leave this address's threads out of the digest from now on; return it lower-cased.

    :raises UserError: when `email` is not an address.
    """
    address = email.strip().strip("<>").lower()
    if "@" not in address or any(c.isspace() for c in address):
        raise UserError(f"{email!r} is not an e-mail address", "write it like anna@example.com")
    with store.transaction():
        muted = meta_strings(store, "muted_contacts")
        if address not in muted:
            muted.append(address)
            store.set_meta("muted_contacts", sorted(muted))
    return address


# -- reading a reply ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """One instruction read from a reply to the digest.

    :ivar action: ``"done"``, ``"snooze"``, ``"dismiss"`` or ``"mute"``.
    :ivar numbers: the digest item numbers it applies to.
    :ivar until: for ``snooze``, the day the items come back.
    :ivar line: the line as the user wrote it (for confirmations).
    """

    action: str
    numbers: tuple[int, ...]
    until: date | None = None
    line: str = ""


_ACTIONS = {
    "done": "done",
    "did": "done",
    "finished": "done",
    "snooze": "snooze",
    "later": "snooze",
    "dismiss": "dismiss",
    "not a promise": "dismiss",
    "not promise": "dismiss",
    "mute": "mute",
}
_COMMAND = re.compile(
    r"^(?P<action>not\s+a\s+promise|not\s+promise|done|did|finished|snooze|later|dismiss|mute)\b"
    r"\s*:?\s*(?P<numbers>#?\d+(?:\s*(?:,|and|&|\s)\s*#?\d+)*)"
    r"(?P<rest>.*)$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^(?:[-*•]\s+|\d+[.)]\s+(?=[a-z]))", re.IGNORECASE)

# Where the user's own words end: the quoted original and signatures.
_END_OF_REPLY = re.compile(
    r"^(?:--\s*$|-{2,}\s*original message\s*-{2,}|_{10,}\s*$|on\s.{0,200}\swrote:\s*$|"
    r"from:\s|sent from my\s|le\s.{0,200}\sa écrit\s?:\s*$|am\s.{0,200}\sschrieb\s.{0,80}:\s*$)",
    re.IGNORECASE,
)
# What may stand between the last item number and the date ("snooze 2, friday").
_SEPARATOR = re.compile(r"^\s*(?:,|&|and\b)?\s*")
_NUMBER_TOKEN = re.compile(r"#?(\d+)")


def _snooze_items_and_day(line: str, numbers: re.Match[str], today: date) -> tuple[tuple[int, ...], date] | None:
    """Split "snooze 2 12 dec" into the items (2,) and the day (12 December); None if no split gives a day.

    The day is read by `kept.clock.read_day`, as the command line reads the
    day of ``kept promises snooze ID DAY``. The number pattern also takes
    the digits of a date ("2 12", "1 2026"), so each split is tried, fewest
    items first: a number right before a date's words belongs to the date.
    """
    tokens = list(_NUMBER_TOKEN.finditer(line, numbers.start("numbers"), numbers.end("numbers")))
    for count in range(1, len(tokens) + 1):
        rest = _SEPARATOR.sub("", line[tokens[count - 1].end():], count=1)
        until = read_day(rest, today, towards="ahead")
        if until is not None and until > today:
            return tuple(dict.fromkeys(int(token.group(1)) for token in tokens[:count])), until
    return None


def parse_commands(text: str, today: date) -> tuple[list[Command], list[str]]:
    """Read the instructions in a reply to the digest.

    One instruction per line: ``done 3``, ``done 3 5`` (or ``3, 5``),
    ``snooze 2 friday``, ``snooze 2 until 2026-12-01``, ``snooze 2 12 dec``,
    ``snooze 4 for 3 days``, ``not a promise 4`` or ``dismiss 4``,
    ``mute 7``. A snooze's day is any form `kept.clock.read_day` takes
    (docs/commands.md, "Dates"), the same as on the command line. Case, a leading bullet, ``#`` before numbers and trailing
    punctuation do not matter.

    After ``snooze``, a number that starts the date is part of the date:
    ``snooze 2 12 dec`` is item 2 until 12 December, ``snooze 1 2026-12-01``
    item 1 until that day, while ``snooze 4 6 next week`` is items 4 and 6.
    Everything after the items must name the day, or the line is reported
    back unparsed.

    Quoted lines (``> ...``) are skipped; reading stops at the quoted
    original ("On ... wrote:", "-----Original Message-----", an Outlook
    "From:" block) or a signature ("-- "). A snooze needs a day after
    `today` (the day the reply was written).

    :returns: the commands, and every other non-empty line (unparsed, to be
        reported back to the user).
    """
    commands: list[Command] = []
    unparsed: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        if line.startswith(">"):
            continue
        if _END_OF_REPLY.match(line):
            break
        cleaned = _BULLET.sub("", line).rstrip(" .!;")
        match = _COMMAND.match(cleaned)
        if match is None:
            unparsed.append(line)
            continue
        action = _ACTIONS[" ".join(match.group("action").lower().split())]
        numbers = tuple(dict.fromkeys(int(n) for n in re.findall(r"\d+", match.group("numbers"))))
        rest = match.group("rest").strip()
        until = None
        if action == "snooze":
            split = _snooze_items_and_day(cleaned, match, today)
            if split is None:
                unparsed.append(line)
                continue
            numbers, until = split
        elif rest:
            # "done 3 thanks" is probably fine, but "done 3 4pm" is not a list
            # of items: only obey lines that say exactly what they mean.
            unparsed.append(line)
            continue
        commands.append(Command(action, numbers, until, line))
    return commands, unparsed


def digest_index(record: dict[str, Any]) -> dict[int, tuple[str, str]]:
    """Item number -> (kind, id) of one ``sent_digests`` record; malformed rows are left out."""
    rows = record.get("index")
    index = {}
    for row in rows if isinstance(rows, list) else ():
        if (
            isinstance(row, list) and len(row) == 3 and isinstance(row[0], int) and not isinstance(row[0], bool)
            and isinstance(row[1], str) and isinstance(row[2], str)
        ):
            index[row[0]] = (row[1], row[2])
    return index

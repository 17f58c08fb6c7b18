"""The user's corrections: done, snooze, dismiss and mute.

Two ways in lead here:

* the command line (``kept promises done ID``, ``kept threads mute CONTACT``,
  ...) calls the store functions below with an id or a unique prefix of one;
* a reply to the daily digest ("done 3", "snooze 2 friday") is read by
  `parse_commands` and carried out by `apply_digest_reply`, which resolves
  the numbers through the index of the digest being answered.

A reply is only obeyed when it answers a digest kept really sent (its
Message-ID is in meta ``sent_digests``) and comes from one of the user's own
addresses. Anything else changes nothing and leaves a note for the next
digest, so a forged reply cannot silently close the user's promises.

Store meta used here:

``dismissed_sentences``
    fingerprints (`sentence_fingerprint`) of sentences the
    user said are not promises; the scanner never raises them again.
``muted_contacts``
    lower-cased addresses whose threads the digest leaves out.
``sent_digests``
    ``{message_id: {"date": "YYYY-MM-DD", "sent_at": ISO, "account": NAME or "",
    "index": [[n, kind, id], ...]}}``,
    written by the daemon *before* a digest goes out (`kept.daemon.run`),
    so a reply to a digest whose sending was interrupted is still obeyed.
``pending_notes``
    lines to confirm in the next digest; cleared once it is sent.
``applied_replies``
    Message-IDs of digest replies already carried out (the same reply may
    turn up in the sent folder and the inbox, or in two accounts).
``unchecked_replies``
    how many replies to digests older than kept's records were read since
    the last digest (one note counts them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kept.errors import UserError
from kept.extractors.dates import resolve_due
from kept.models import MailMessage, Promise, Thread
from kept.settings import Settings
from kept.storage.base import Store
from kept.storage.meta import meta_records, meta_strings, meta_table

__all__ = [
    "Command",
    "DIGEST_ID_MARKER",
    "add_pending_notes",
    "apply_digest_reply",
    "carry_out_digest_reply",
    "dismiss_promise",
    "mark_promise_done",
    "mark_thread_done",
    "mute_contact",
    "new_digest_message_id",
    "parse_commands",
    "references_a_digest",
    "resolve_promise",
    "resolve_thread",
    "sentence_fingerprint",
    "snooze_date",
    "snooze_promise",
    "snooze_thread",
]

logger = logging.getLogger(__name__)

# Every digest's Message-ID carries this (`kept.digest.render.digest_message_id`
# uses the same prefix), so a reply to a digest kept has no record of (a
# forgery, or a database restored from backup) can be told apart from
# ordinary mail and reported rather than silently ignored.
DIGEST_ID_MARKER = "kept-digest-"

# The day in a digest's Message-ID.
_DIGEST_DAY = re.compile(re.escape(DIGEST_ID_MARKER) + r"(\d{8})-")

# Shorter prefixes than this match too much by accident ("done a").
MIN_PREFIX = 4

# How many digest-reply Message-IDs are remembered as carried out.
APPLIED_REPLIES_KEPT = 500

# Meta ``unchecked_replies``: the count of replies to digests kept has no record of.
UNCHECKED_FIELDS: dict[str, type | tuple[type, ...]] = {"count": int, "first": str, "last": str, "note": (str, type(None))}

# Lines of a quoted sentence shown back in notes.
SNIPPET_CHARS = 70


def sentence_fingerprint(sentence: str) -> str:
    """Key under which a dismissed ("not a promise") sentence is remembered."""
    normal = " ".join(sentence.lower().split())
    return hashlib.sha1(normal.encode("utf-8", "replace")).hexdigest()[:16]


# -- looking things up ----------------------------------------------------


def _resolve(ref: str, keys: Iterable[str], noun: str, listing: str) -> str:
    """The one key equal to `ref` or starting with it; UserError otherwise."""
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
        key = _resolve(ref, (p.id for p in store.promises()), "promise", "kept promises --all")
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
        key = _resolve(ref, (t.key for t in store.threads()), "thread", "kept threads")
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
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_FOR_SPAN = re.compile(r"^(?:for\s+)?(?P<count>\d+|a|one|two|three|four|five|six|seven)\s+(?P<unit>days?|weeks?)$")
_SPAN_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}

# Where the user's own words end: the quoted original and signatures.
_END_OF_REPLY = re.compile(
    r"^(?:--\s*$|-{2,}\s*original message\s*-{2,}|_{10,}\s*$|on\s.{0,200}\swrote:\s*$|"
    r"from:\s|sent from my\s|le\s.{0,200}\sa écrit\s?:\s*$|am\s.{0,200}\sschrieb\s.{0,80}:\s*$)",
    re.IGNORECASE,
)


_MONTH_WORDS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9,
    "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}
_DAY_MONTH = re.compile(
    r"(?:the\s+)?(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month>[a-z]+)\.?(?:,?\s+(?P<year>\d{4}))?"
)
_MONTH_DAY = re.compile(r"(?P<month>[a-z]+)\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<year>\d{4}))?")
_WEEKDAY_ABBREVIATIONS = {
    "mon": "monday", "tue": "tuesday", "tues": "tuesday", "wed": "wednesday", "thu": "thursday",
    "thur": "thursday", "thurs": "thursday", "fri": "friday", "sat": "saturday", "sun": "sunday",
}
_WEEKDAY_ABBREVIATION = re.compile(r"\b(" + "|".join(_WEEKDAY_ABBREVIATIONS) + r")\b\.?")
_LEADING_PREPOSITION = re.compile(r"^(?:until|till|til|to|on)\s+")
# What may stand between the last item number and the date ("snooze 2, friday").
_SEPARATOR = re.compile(r"^\s*(?:,|&|and\b)?\s*")
_NUMBER_TOKEN = re.compile(r"#?(\d+)")


def _day_of_month(text: str, today: date) -> date | None:
    """The day in "12 dec", "12th of December", "dec 12", "Dec 12, 2026"; the next one after `today` without a year."""
    found = _DAY_MONTH.fullmatch(text) or _MONTH_DAY.fullmatch(text)
    if found is None or found.group("month") not in _MONTH_WORDS:
        return None
    month, day = _MONTH_WORDS[found.group("month")], int(found.group("day"))
    year = int(found.group("year")) if found.group("year") else today.year
    try:
        when = date(year, month, day)
        if found.group("year") is None and when <= today:
            when = date(year + 1, month, day)
    except ValueError:
        return None
    return when


def snooze_date(text: str, today: date) -> date | None:
    """The day a snooze ends, read as a reply to the digest reads it: "friday", "until 2026-12-01", "12 dec".

    The command line (``kept promises snooze ID friday``) reads its day with
    it too, so the two take the same words.
    """
    return _snooze_date(text, today)


def _snooze_date(text: str, today: date) -> date | None:
    """The day a snooze ends, when all of `text` names one: "friday", "until 2026-12-01", "12 dec", "for 3 days".

    Strict on purpose: `parse_commands` tries where the item numbers end and
    the date begins, so "2 friday" must not read as friday (that would
    swallow item 2).
    """
    text = " ".join(text.strip().strip(".!").lower().split())
    text = _LEADING_PREPOSITION.sub("", text)
    if not text:
        return None
    iso = _ISO_DATE.fullmatch(text)
    if iso:
        try:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        except ValueError:
            return None
    span = _FOR_SPAN.match(text)
    if span:
        count = _SPAN_WORDS.get(span.group("count")) or int(span.group("count"))
        days = count * (7 if span.group("unit").startswith("week") else 1)
        return today + timedelta(days=days)
    day_of_month = _day_of_month(text, today)
    if day_of_month is not None:
        return day_of_month
    text = _WEEKDAY_ABBREVIATION.sub(lambda m: _WEEKDAY_ABBREVIATIONS[m.group(1)], text)
    # Relative words are read as a promise written today would be ("by friday").
    resolved, words = resolve_due("until " + text, datetime.combine(today, time(12)))
    if resolved is None or words is None or _LEADING_PREPOSITION.sub("", words.lower()) != text:
        return None
    return resolved


def _snooze_items_and_day(line: str, numbers: re.Match[str], today: date) -> tuple[tuple[int, ...], date] | None:
    """Split "snooze 2 12 dec" into the items (2,) and the day (12 December); None if no split gives a day.

    The number pattern also takes the digits of a date ("2 12", "1 2026"),
    so each split is tried, fewest items first: a number right before a
    date's words belongs to the date.
    """
    tokens = list(_NUMBER_TOKEN.finditer(line, numbers.start("numbers"), numbers.end("numbers")))
    for count in range(1, len(tokens) + 1):
        rest = _SEPARATOR.sub("", line[tokens[count - 1].end():], count=1)
        until = _snooze_date(rest, today)
        if until is not None and until > today:
            return tuple(dict.fromkeys(int(token.group(1)) for token in tokens[:count])), until
    return None


def parse_commands(text: str, today: date) -> tuple[list[Command], list[str]]:
    """Read the instructions in a reply to the digest.

    One instruction per line: ``done 3``, ``done 3 5`` (or ``3, 5``),
    ``snooze 2 friday``, ``snooze 2 until 2026-12-01``, ``snooze 2 12 dec``,
    ``snooze 4 for 3 days``, ``not a promise 4`` or ``dismiss 4``,
    ``mute 7``. Case, a leading bullet, ``#`` before numbers and trailing
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


# -- carrying out a reply -------------------------------------------------


def new_digest_message_id(settings: Settings, day: date) -> str:
    """A fresh Message-ID for the digest of `day`, recognisable by `DIGEST_ID_MARKER`."""
    address = settings.digest_to
    domain = address.rpartition("@")[2] or "kept.invalid"
    return f"<{DIGEST_ID_MARKER}{day:%Y%m%d}-{secrets.token_hex(8)}@{domain}>"


def references_a_digest(message: MailMessage) -> bool:
    """True if the message answers (or claims to answer) a kept digest."""
    refs = ((message.in_reply_to,) if message.in_reply_to else ()) + tuple(message.references)
    return any(DIGEST_ID_MARKER in ref for ref in refs)


def add_pending_notes(store: Store, notes: Iterable[str]) -> None:
    """Queue lines to be confirmed in the next digest."""
    notes = [n for n in notes if n]
    if not notes:
        return
    with store.transaction():
        pending = meta_strings(store, "pending_notes")
        pending.extend(notes)
        store.set_meta("pending_notes", pending)


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _describe(message: MailMessage, settings: Settings) -> str:
    when = message.date.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")
    return f'sent {when}, subject "{_snippet(message.subject)}"'


def _waiting_contacts(thread: Thread, me: frozenset[str]) -> list[str]:
    """Who a thread is waiting on the user for: the latest outside sender."""
    for item in reversed(thread.messages):
        if item.role == "received" and item.sender and item.sender not in me:
            return [item.sender]
    return []


def _digest_days(refs: Iterable[str]) -> list[date]:
    """The days named in digest Message-IDs (``<kept-digest-YYYYMMDD-...>``) among `refs`."""
    days = []
    for ref in refs:
        found = _DIGEST_DAY.search(ref)
        if found:
            try:
                days.append(datetime.strptime(found.group(1), "%Y%m%d").date())
            except ValueError:
                continue
    return days


def _older_than_records(refs: tuple[str, ...], sent: dict[str, Any]) -> bool:
    """True if the digest answered is older than every digest kept has a record of.

    That happens after ``kept rebuild`` (the new database has no digests
    yet) and for digests beyond the last ones kept remembers: the reply
    cannot be checked, but nothing suggests a forgery either.
    """
    answered = _digest_days(refs)
    if not answered:
        return False
    known = [str(record.get("date", "")) for record in sent.values() if isinstance(record, dict)]
    return not known or max(answered).isoformat() < min(known)


def _count_unchecked_reply(store: Store, day: date) -> str:
    """Count a reply to a digest older than kept's records in one pending note; return the note.

    After ``kept rebuild`` every old reply is read again, and one line for
    each would drown the next digest. Meta ``unchecked_replies`` holds the
    count, the first and last day and the note as queued; once that note
    has gone out with a digest, counting starts again.
    """
    pending = meta_strings(store, "pending_notes")
    counted = meta_table(store, "unchecked_replies", UNCHECKED_FIELDS)
    if counted.keys() != UNCHECKED_FIELDS.keys() or counted["note"] not in pending:
        counted = {"count": 0, "first": day.isoformat(), "last": day.isoformat(), "note": None}
    count = int(counted["count"]) + 1
    first, last = min(str(counted["first"]), day.isoformat()), max(str(counted["last"]), day.isoformat())
    why = "(the database was rebuilt or is new, or the digest is too old)"
    if count == 1:
        note = (f"Did not carry out your reply of {first}: it answers a digest kept has no record of {why}, "
                f"so kept cannot tell what its numbers meant; nothing was changed.")
    else:
        note = (f"Did not carry out {count} of your replies written {first} to {last}: they answer digests "
                f"kept has no record of {why}, so kept cannot tell what their numbers meant; nothing was changed.")
    if counted["note"] in pending:
        pending[pending.index(counted["note"])] = note
    else:
        pending.append(note)
    store.set_meta("pending_notes", pending)
    store.set_meta("unchecked_replies", {"count": count, "first": first, "last": last, "note": note})
    return note


def carry_out_digest_reply(store: Store, message: MailMessage, settings: Settings, now: datetime) -> list[str]:
    """`apply_digest_reply` for the scanner: a reply that fails leaves a note instead of an exception.

    The scanner calls this for every message it stores, inside the batch's
    transaction, so every command that reads mail (``kept scan``, ``kept
    run``, ``kept rebuild``) obeys replies; their bodies are never stored,
    so no later run could. If carrying out the reply fails, its own changes
    are undone (a nested transaction), the batch is stored all the same and
    the next digest says the reply was not carried out.
    """
    if not references_a_digest(message):
        return []
    try:
        with store.transaction():
            return apply_digest_reply(store, message, settings, now)
    except Exception:  # one bad reply must never stop a scan
        logger.error("could not carry out the digest reply %s", message.message_id, exc_info=True)
        note = f"kept could not carry out your reply of {message.date:%Y-%m-%d %H:%M} UTC; nothing was changed."
        add_pending_notes(store, [note])
        return [note]


def apply_digest_reply(store: Store, message: MailMessage, settings: Settings, now: datetime) -> list[str]:
    """Carry out a reply to a digest and queue what happened for the next digest.

    `message` must still carry its fresh text (`MailMessage.body_text`); the
    scanner provides it (`carry_out_digest_reply`). A message that does not
    refer to a digest at all returns ``[]`` and changes nothing. A reply to a
    digest kept never sent, or not from one of ``settings.addresses``, also
    changes nothing, but says so in a note. Each reply is carried out once,
    however often it is read (meta ``applied_replies``).

    Words like "friday" or "tomorrow" are read from the day the reply was
    written, which is not the day it is read when a scan comes late.

    All changes and the notes are written in one transaction: on an
    exception none of them is kept.

    :returns: the notes queued (also appended to meta ``pending_notes``;
        replies kept has no record of share one note there).
    """
    if not references_a_digest(message):
        return []
    refs = ((message.in_reply_to,) if message.in_reply_to else ()) + tuple(reversed(message.references))
    me = frozenset(settings.addresses)
    today = min(message.date, now).astimezone(ZoneInfo(settings.timezone)).date()
    notes: list[str] = []
    counted = ""
    with store.transaction():
        applied = meta_strings(store, "applied_replies")
        if message.message_id in applied:
            return []
        sent: dict[str, Any] = meta_records(store, "sent_digests")
        digest_id = next((ref for ref in refs if ref in sent), None)
        sender = message.from_addr.email if message.from_addr else ""
        if digest_id is None and sender in me and _older_than_records(refs, sent):
            counted = _count_unchecked_reply(store, today)
            logger.warning("a reply to a digest kept has no record of any more (message %s)", message.message_id)
        elif digest_id is None:
            notes.append(
                f"Ignored a reply claiming to be from you that answers a digest kept never sent "
                f"(from {sender or 'an unknown sender'}, {_describe(message, settings)}); nothing was changed."
            )
            logger.warning("ignored a reply to an unknown digest (message %s)", message.message_id)
        elif sender not in me:
            notes.append(
                f"Ignored a reply claiming to be from you that came from {sender or 'an unknown sender'} "
                f"({_describe(message, settings)}); nothing was changed."
            )
            logger.warning("ignored a digest reply from a foreign address (message %s)", message.message_id)
        else:
            record = sent[digest_id]
            index = digest_index(record)
            commands, unparsed = parse_commands(message.body_text, today)
            for command in commands:
                for number in command.numbers:
                    notes.append(_apply_one(store, command, number, index, record, settings, now))
            for line in unparsed:
                notes.append(f'Did not understand "{_snippet(line)}" in your reply; nothing was changed for it.')
            if not commands and not unparsed:
                notes.append("Your reply to the digest had no instructions in it; nothing was changed.")
            logger.info(
                "digest reply %s: %d instructions, %d lines not understood",
                message.message_id, len(commands), len(unparsed),
            )
        applied.append(message.message_id)
        store.set_meta("applied_replies", applied[-APPLIED_REPLIES_KEPT:])
        add_pending_notes(store, notes)
    return notes + [counted] if counted else notes


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


def _apply_one(
    store: Store,
    command: Command,
    number: int,
    index: dict[int, tuple[str, str]],
    record: dict[str, Any],
    settings: Settings,
    now: datetime,
) -> str:
    """Carry out one command for one item number; return the note saying what happened."""
    digest_day = record.get("date", "")
    if number not in index:
        return f"#{number} is not in the digest of {digest_day}; nothing was changed for \"{command.line}\"."
    kind, ref_id = index[number]
    try:
        if kind == "promise":
            return _apply_to_promise(store, command, number, ref_id, now)
        if kind == "thread":
            return _apply_to_thread(store, command, number, ref_id, settings, now)
        if kind in ("intro", "lead", "contact"):
            from kept.daemon.nudge_feedback import apply_nudge_command  # it imports this module

            return apply_nudge_command(store, settings, command.action, number, kind, ref_id, command.until, now)
    except UserError as exc:
        return f"Could not do \"{command.line}\" for #{number}: {str(exc).splitlines()[0]}."
    return f"#{number} of the digest of {digest_day} refers to something kept no longer knows; nothing changed."


def _apply_to_promise(store: Store, command: Command, number: int, promise_id: str, now: datetime) -> str:
    if store.get_promise(promise_id) is None:
        return f"#{number} refers to a promise kept no longer has; nothing was changed."
    if command.action == "done":
        promise = mark_promise_done(store, promise_id, now)
        return f'Marked #{number} done: "{_snippet(promise.sentence)}"'
    if command.action == "snooze":
        assert command.until is not None
        promise = snooze_promise(store, promise_id, command.until)
        return f'Snoozed #{number} until {command.until:%A %d %B}: "{_snippet(promise.sentence)}"'
    if command.action == "dismiss":
        promise = dismiss_promise(store, promise_id, now)
        return f'Dismissed #{number} as not a promise; kept will not raise it again: "{_snippet(promise.sentence)}"'
    return f"#{number} is a promise; \"mute\" works on people waiting on you, so nothing was changed."


def _apply_to_thread(
    store: Store, command: Command, number: int, key: str, settings: Settings, now: datetime
) -> str:
    thread = store.get_thread(key)
    if thread is None:
        return f"#{number} refers to a conversation kept no longer has; nothing was changed."
    label = f'"{_snippet(thread.subject)}"' if thread.subject else "(no subject)"
    if command.action == "done":
        mark_thread_done(store, key, now)
        return f"Marked #{number} done: conversation {label}"
    if command.action == "snooze":
        assert command.until is not None
        snooze_thread(store, key, command.until)
        return f"Snoozed #{number} until {command.until:%A %d %B}: conversation {label}"
    if command.action == "mute":
        contacts = _waiting_contacts(thread, frozenset(settings.addresses))
        if not contacts:
            return f"#{number}: found nobody to mute in conversation {label}; nothing was changed."
        for contact in contacts:
            mute_contact(store, contact)
        return f"Muted {', '.join(contacts)} (#{number}); their mail no longer appears in the digest."
    return f"#{number} is a conversation, not a promise; \"{command.line}\" changed nothing."

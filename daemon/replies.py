"""Replies to the daily digest: from whichever command reads them to the changes they ask for.

The user answers the digest ("done 3", "snooze 2 friday"); the reply lands
in a mailbox that ``kept run``, ``kept scan`` or ``kept rebuild`` reads
next. Whichever it is:

1. the scanner hands every message it stores to `take_digest_reply`, inside
   the batch's transaction. A message answering a digest is read while its
   body is still at hand (bodies are never stored) and queued in meta
   ``pending_replies`` as instructions (`kept.daemon.feedback.parse_commands`),
   so a kill later in the pass loses nothing;
2. at the end of the pass, when the promises and conversations the numbers
   name are stored too, `carry_out_pending_replies` carries each queued
   reply out in its own transaction and queues what happened for the next
   digest (meta ``pending_notes``). A pass that is stopped leaves them for
   the next one. A reply whose carrying out fails is dropped with a note,
   not retried forever.

A reply is only obeyed when it answers a digest kept recorded (its
Message-ID is in meta ``sent_digests``, written before the digest is sent)
and comes from one of the user's own addresses. Anything else changes
nothing and says so in a note, so a forged reply cannot silently close the
user's promises. Each reply is carried out once, however often it is read
(the same reply in the sent folder and the inbox, in two accounts): meta
``applied_replies``.

``kept rebuild`` carries this meta into the database it builds
(`kept.daemon.rebuild`): with the digests sent and ``applied_replies`` known,
replies the rebuild reads again are not carried out a second time (their
corrections come back with the records), and a reply to a digest sent
before the rebuild still resolves.

Store meta used here:

``sent_digests``
    ``{message_id: {"date": "YYYY-MM-DD", "sent_at": ISO, "account": NAME or "",
    "index": [[n, kind, id], ...]}}``, written by the daemon *before* a digest goes out (`kept.daemon.run`),
    so a reply to a digest whose sending was interrupted is still obeyed.
``pending_replies``
    replies read but not carried out yet (`take_digest_reply`).
``applied_replies``
    Message-IDs of digest replies already carried out.
``confirmed_replies``
    Message-IDs of replies whose outcome a digest already told the user
    (written by ``kept rebuild`` before it carried feedback over, which
    carried them out again): carried out without a second note.
``pending_notes``
    lines to confirm in the next digest; cleared once it is sent.
``unchecked_replies``
    how many replies to digests older than kept's records were read since
    the last digest (one note counts them).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from kept.clock import SNOOZE_DAY_HELP
from kept.daemon.feedback import (
    Command,
    digest_index,
    dismiss_promise,
    mark_promise_done,
    mark_thread_done,
    mute_contact,
    parse_commands,
    snooze_promise,
    snooze_thread,
)
from kept.daemon.nudge_feedback import apply_nudge_command
from kept.errors import StorageError, UserError
from kept.models import MailMessage, Thread
from kept.settings import Settings
from kept.storage.base import Store
from kept.storage.meta import meta_records, meta_strings, meta_table

__all__ = [
    "DIGEST_ID_MARKER",
    "add_pending_notes",
    "apply_digest_reply",
    "carry_out_pending_replies",
    "new_digest_message_id",
    "references_a_digest",
    "take_digest_reply",
]

logger = logging.getLogger(__name__)

# Every digest's Message-ID carries this (`kept.digest.render.digest_message_id`
# uses the same prefix), so a reply to a digest kept has no record of (a
# forgery, or a database restored from backup) can be told apart from
# ordinary mail and reported rather than silently ignored.
DIGEST_ID_MARKER = "kept-digest-"

# How many digest-reply Message-IDs are remembered as carried out.
APPLIED_REPLIES_KEPT = 500

# Meta ``unchecked_replies``: the count of replies to digests kept has no record of.
UNCHECKED_FIELDS: dict[str, type | tuple[type, ...]] = {"count": int, "first": str, "last": str, "note": (str, type(None))}

# A line the user meant as a snooze ("snooze 2 someday", "- later 3 whenever").
_SNOOZE_LINE = re.compile(r"^\W*(?:snooze|later)\b", re.IGNORECASE)

# Lines of a quoted sentence shown back in notes.
SNIPPET_CHARS = 70

# A reply is instructions, not a document: what is kept of one while it waits.
MAX_DIGEST_REFS = 20
MAX_ITEMS = 100
MAX_UNPARSED_LINES = 10


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


# -- reading a reply ----------------------------------------------------------


def _reply_entry(message: MailMessage, settings: Settings, now: datetime) -> dict[str, Any]:
    """What is kept of a reply until it is carried out: who, when, which digest, the instructions.

    Words like "friday" are read from the day the reply was written, which
    is not the day it is read when a scan comes late.
    """
    written = min(message.date, now)
    today = written.astimezone(ZoneInfo(settings.timezone)).date()
    commands, unparsed = parse_commands(message.body_text, today)
    refs = ((message.in_reply_to,) if message.in_reply_to else ()) + tuple(reversed(message.references))
    items = 0
    kept_commands = []
    for command in commands:
        numbers = list(command.numbers[: max(0, MAX_ITEMS - items)])
        items += len(numbers)
        if numbers:
            until = command.until.isoformat() if command.until else None
            kept_commands.append([command.action, numbers, until, _snippet(command.line)])
    return {
        "message_id": message.message_id,
        "digests": [ref for ref in refs if DIGEST_ID_MARKER in ref][:MAX_DIGEST_REFS],
        "sender": message.from_addr.email if message.from_addr else "",
        "written": written.isoformat(),
        "subject": _snippet(message.subject),
        "commands": kept_commands,
        "unparsed": [_snippet(line) for line in unparsed[:MAX_UNPARSED_LINES]],
        "more": max(0, sum(len(c.numbers) for c in commands) - items) + max(0, len(unparsed) - MAX_UNPARSED_LINES),
    }


def take_digest_reply(store: Store, message: MailMessage, settings: Settings, now: datetime) -> bool:
    """Queue `message` in meta ``pending_replies`` if it answers a digest; True if it was queued.

    The scanner calls this for every message it stores, inside the batch's
    transaction, so the reply is kept exactly when the message is. A reply
    already carried out or already waiting is not queued again. Reading it
    never raises: a reply that cannot be read leaves a note.
    """
    if not references_a_digest(message):
        return False
    try:
        entry = _reply_entry(message, settings, now)
    except Exception:  # one unreadable reply must never stop a scan
        logger.error("could not read the digest reply %s", message.message_id, exc_info=True)
        add_pending_notes(store, [
            f"kept could not read your reply of {message.date:%Y-%m-%d %H:%M} UTC; nothing was changed."])
        return False
    with store.transaction():
        if message.message_id in meta_strings(store, "applied_replies"):
            return False
        pending = _pending_replies(store)
        if any(waiting["message_id"] == message.message_id for waiting in pending):
            return False
        pending.append(entry)
        store.set_meta("pending_replies", pending)
    return True


def _pending_replies(store: Store, *, repair: bool = False) -> list[dict[str, Any]]:
    """Meta ``pending_replies``, without entries of the wrong shape (a hand edit); `repair` writes that back."""
    value = store.get_meta("pending_replies")
    entries = value if isinstance(value, list) else []
    readable = [entry for entry in entries if _is_reply_entry(entry)]
    if len(readable) != len(entries) or not isinstance(value, (list, type(None))):
        logger.warning("the database's meta value pending_replies is not a list of replies (%.60r); "
                       "kept leaves out what is not one", value)
        if repair:
            store.set_meta("pending_replies", readable)
    return readable


def _is_reply_entry(entry: Any) -> bool:
    if not (isinstance(entry, dict) and isinstance(entry.get("message_id"), str)
            and isinstance(entry.get("digests"), list) and isinstance(entry.get("written"), str)):
        return False
    try:
        moment = datetime.fromisoformat(entry["written"])
    except ValueError:
        return False
    return moment.tzinfo is not None


# -- carrying replies out -----------------------------------------------------------


def carry_out_pending_replies(store: Store, settings: Settings, now: datetime) -> list[str]:
    """Carry out every reply waiting in meta ``pending_replies``; return the notes queued.

    Each reply has its own transaction: it is carried out and leaves the
    queue together. One that fails is undone, leaves the queue with a note
    and is not tried again. When the database cannot be written, the rest
    stay queued for the next pass.
    """
    try:
        with store.transaction():
            pending = _pending_replies(store, repair=True)
    except StorageError as exc:
        logger.error("cannot read the digest replies waiting: %s", str(exc).splitlines()[0])
        return []
    notes: list[str] = []
    for entry in pending:
        try:
            with store.transaction():
                notes.extend(_carry_out(store, entry, settings, now))
                _dequeue(store, entry["message_id"], applied=True)
        except StorageError as exc:
            logger.error("cannot carry out digest replies now: %s", str(exc).splitlines()[0])
            break
        except Exception:  # one bad reply must never stop the others, or a scan
            logger.error("could not carry out the digest reply %s", entry["message_id"], exc_info=True)
            note = f"kept could not carry out your reply of {entry['written'][:16].replace('T', ' ')}; nothing was changed."
            with store.transaction():
                add_pending_notes(store, [note])
                _dequeue(store, entry["message_id"], applied=True)
            notes.append(note)
    return notes


def apply_digest_reply(store: Store, message: MailMessage, settings: Settings, now: datetime) -> list[str]:
    """Carry out a reply to a digest now and queue what happened for the next digest.

    `message` must still carry its fresh text (`MailMessage.body_text`). A
    message that does not refer to a digest returns ``[]`` and changes
    nothing; so does one carried out before. A reply to a digest kept never
    sent, or not from one of ``settings.addresses``, also changes nothing,
    but says so in a note. All changes and the notes are written in one
    transaction: on an exception none of them is kept.

    :returns: the notes queued (also in meta ``pending_notes``; replies to
        digests older than kept's records share one note there).
    """
    if not references_a_digest(message):
        return []
    with store.transaction():
        return _carry_out(store, _reply_entry(message, settings, now), settings, now)


def _dequeue(store: Store, message_id: str, *, applied: bool) -> None:
    with store.transaction():
        pending = _pending_replies(store)
        left = [entry for entry in pending if entry["message_id"] != message_id]
        if len(left) != len(pending):
            store.set_meta("pending_replies", left)
        if applied:
            done = meta_strings(store, "applied_replies")
            if message_id not in done:
                done.append(message_id)
                store.set_meta("applied_replies", done[-APPLIED_REPLIES_KEPT:])


def _commands(entry: Mapping[str, Any]) -> list[Command]:
    """The instructions of a queued reply; malformed ones (a hand edit) are skipped."""
    commands = []
    for item in entry.get("commands") or []:
        try:
            action, numbers, until, line = item
            commands.append(Command(
                str(action), tuple(int(n) for n in numbers),
                date.fromisoformat(until) if until else None, str(line),
            ))
        except (TypeError, ValueError):
            logger.warning("a queued digest reply holds an instruction that is not one: %r", item)
    return commands


def _describe(entry: Mapping[str, Any], settings: Settings) -> str:
    when = datetime.fromisoformat(entry["written"]).astimezone(ZoneInfo(settings.timezone))
    return f'sent {when:%Y-%m-%d %H:%M}, subject "{entry.get("subject", "")}"'


def _carry_out(store: Store, entry: Mapping[str, Any], settings: Settings, now: datetime) -> list[str]:
    """Carry out one reply (inside the caller's transaction); return the notes queued."""
    message_id = entry["message_id"]
    applied = meta_strings(store, "applied_replies")
    if message_id in applied:
        return []
    # Told before `kept rebuild`: carried out again, not announced again.
    quiet = message_id in meta_strings(store, "confirmed_replies")
    sent: dict[str, Any] = meta_records(store, "sent_digests")
    refs = [str(ref) for ref in entry["digests"]]
    digest_id = next((ref for ref in refs if ref in sent), None)
    sender = str(entry.get("sender", ""))
    me = frozenset(settings.addresses)
    notes: list[str] = []
    counted = ""
    if digest_id is None and sender in me and _older_than_records(refs, sent):
        if not quiet:
            written = datetime.fromisoformat(entry["written"]).astimezone(ZoneInfo(settings.timezone))
            counted = _count_unchecked_reply(store, written.date())
        logger.warning("a reply to a digest kept has no record of any more (message %s)", message_id)
    elif digest_id is None:
        notes.append(
            f"Ignored a reply claiming to be from you that answers a digest kept never sent "
            f"(from {sender or 'an unknown sender'}, {_describe(entry, settings)}); nothing was changed."
        )
        logger.warning("ignored a reply to an unknown digest (message %s)", message_id)
    elif sender not in me:
        notes.append(
            f"Ignored a reply claiming to be from you that came from {sender or 'an unknown sender'} "
            f"({_describe(entry, settings)}); nothing was changed."
        )
        logger.warning("ignored a digest reply from a foreign address (message %s)", message_id)
    else:
        record = sent[digest_id]
        index = digest_index(record)
        commands = _commands(entry)
        unparsed = [str(line) for line in entry.get("unparsed") or []]
        for command in commands:
            for number in command.numbers:
                notes.append(_apply_one(store, command, number, index, record, settings, now))
                # The kind only: the note itself quotes mail, which stays out of the log.
                logger.info("digest reply %s: %s #%d (%s)", message_id, command.action, number,
                            index[number][0] if number in index else "not in that digest")
        for line in unparsed:
            # A snooze whose day kept could not read says which days it reads.
            hint = f" {SNOOZE_DAY_HELP}." if _SNOOZE_LINE.match(line) else ""
            notes.append(f'Did not understand "{line}" in your reply; nothing was changed for it.{hint}')
        if entry.get("more"):
            notes.append(f"Your reply asked for more than kept carries out at once; {entry['more']} "
                         f"items or lines after the first {MAX_ITEMS} were left alone.")
        if not commands and not unparsed:
            notes.append("Your reply to the digest had no instructions in it; nothing was changed.")
        logger.info("digest reply %s: %d instructions, %d lines not understood%s",
                    message_id, len(commands), len(unparsed), " (confirmed before a rebuild)" if quiet else "")
    applied.append(message_id)
    store.set_meta("applied_replies", applied[-APPLIED_REPLIES_KEPT:])
    if quiet:
        return []
    add_pending_notes(store, notes)
    return notes + [counted] if counted else notes


def _digest_days(refs: Iterable[str]) -> list[date]:
    """The days named in digest Message-IDs (``<kept-digest-YYYYMMDD-...>``) among `refs`."""
    days = []
    for ref in refs:
        start = ref.find(DIGEST_ID_MARKER)
        stamp = ref[start + len(DIGEST_ID_MARKER):][:8] if start >= 0 else ""
        try:
            days.append(datetime.strptime(stamp, "%Y%m%d").date())
        except ValueError:
            continue
    return days


def _older_than_records(refs: Iterable[str], sent: dict[str, Any]) -> bool:
    """True if the digest answered is older than every digest kept has a record of.

    That happens after ``kept rebuild`` when the old database could not be
    read, and for digests beyond the last ones kept remembers: the reply
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


def _waiting_contacts(thread: Thread, me: frozenset[str]) -> list[str]:
    """Who a thread is waiting on the user for: the latest outside sender."""
    for item in reversed(thread.messages):
        if item.role == "received" and item.sender and item.sender not in me:
            return [item.sender]
    return []


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

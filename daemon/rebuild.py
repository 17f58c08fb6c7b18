"""What ``kept rebuild`` carries from the database it set aside into the one it builds.

A rebuild reads all mail again, so whatever the mail says comes back by
itself. What the user told kept, and what kept told the user, does not; it
is carried over from the database set aside (`kept.storage.aside`):

* meta values, copied before the scan (`carry_over`, `KEPT_META`): the
  digests sent with their numbering (a reply to yesterday's digest still
  resolves), the day's digest record and plan (no second digest that day),
  notes not yet sent, replies read but not yet carried out, the Message-IDs
  of replies carried out (``applied_replies``: the rebuild reads them again
  and does not carry them out a second time), dismissed sentences, muted
  contacts, keep-in-touch answers and each account's history cutoff (what
  was history stays history);
* the user's word on records: promises done, snoozed (with the day) or
  dismissed; conversations done or snoozed; introductions and leads done,
  snoozed, dismissed or thanked. It waits in meta ``rebuild_carried``
  until the scan has stored the records again; at the end of the pass,
  before the pass carries out digest replies, `apply_carried` finds each
  record again and gives it the user's status.

Finding a record again: promise ids come from the message and the sentence
(`kept.daemon.scan.content_promise_id`), introduction and lead ids from the
message, so the same mail gives the same ids; a promise whose id changed
anyway (another copy of the message was read first) is found by its
message and sentence. A conversation's key is a hash of the message that
started it, which depends on the order mail is read in (the rebuild reads a
reply in the inbox before the sent message it answers), so conversations
are found by their messages. The digests sent are rewritten to the ids
found, so their numbers keep pointing at the same items.

The user's word wins over what the scan decided (a promise the user marked
done stays done even if the scan now finds it kept), except where that
would hide news: a conversation closed before its latest message stays open,
as that message reopened it, and a snooze only applies to what is open.
A promise or nudge the user closed that the scan did not store again (a
dismissed sentence is never raised again) is restored as it was, when its
message was read again. What is still not found after a complete pass
(every account read) is dropped and counted in the log; after a pass that
was not complete (an account failed, the pass was stopped) it waits for the
next pass. An interrupted rebuild loses nothing: the next ``kept rebuild``
carries the queue over with the rest.

A rebuild killed while it moved the old database aside, or before the new
one held what it carries over, left the user's corrections in a copy
nothing read again: the next scan started from zero (or every command
refused, when the kill came between two renames). `set_aside` now leaves a
note until the carrying over is done, and the next command that writes
finishes the rebuild's first part (`finish_interrupted_rebuild`): it
completes the move, carries over into the new database, drops the note,
and its own pass reads all mail again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from kept.digest.nudges import TOUCH_STATE_KEY
from kept.errors import StorageError
from kept.models import Introduction, Lead, Promise, Thread
from kept.storage.aside import SetAside, read_set_aside
from kept.storage.base import Store
from kept.storage.files import rebuild_note_path
from kept.storage.meta import meta_records
from kept.storage.serialize import from_json, to_json
from kept.storage.tinydb_store import TinyDBStore
from kept.storage.transaction_lock import drop_rebuild_note, interrupted_set_aside

__all__ = [
    "CARRIED_KEY", "KEPT_META", "Carried", "apply_carried", "carried_waiting", "carry_over", "finish_interrupted_rebuild",
]

logger = logging.getLogger(__name__)

#: Store meta: the user's word on records, waiting for the scan to store them again.
CARRIED_KEY = "rebuild_carried"

#: Meta keys `carry_over` copies, and key prefixes (per-account digests, history cutoffs).
KEPT_META = (
    "sent_digests", "pending_replies", "pending_notes", "unchecked_replies", "last_digest_date",
    "applied_replies", "confirmed_replies", "dismissed_sentences", "muted_contacts", TOUCH_STATE_KEY,
)
KEPT_META_PREFIXES = ("last_digest_date:", "digest_outbox", "history_before:")

#: Promise statuses only the user sets.
_USER_STATUSES = ("done", "dismissed", "snoozed")
#: The tables of the queue, in the order they are applied (conversations first:
#: a restored promise takes its conversation's new key).
_TABLES = ("threads", "promises", "introductions", "leads")
#: The key naming an entry's table in meta `CARRIED_KEY`.
_TABLE_TAG = "carried_as"


@dataclass(frozen=True)
class Carried:
    """How many records of each kind carry the user's word (and, from `apply_carried`, how many wait)."""

    promises: int = 0
    threads: int = 0
    nudges: int = 0

    @property
    def total(self) -> int:
        """All of them."""
        return self.promises + self.threads + self.nudges

    def describe(self) -> str:
        """E.g. "2 promises, 1 conversation"; "" when there are none."""
        counted = ((self.promises, "promise"), (self.threads, "conversation"), (self.nudges, "nudge"))
        return ", ".join(f"{count} {noun}{'s' if count != 1 else ''}" for count, noun in counted if count)


# -- before the scan ---------------------------------------------------------------


def finish_interrupted_rebuild(database: Path) -> Path | None:
    """Finish the first part of a ``kept rebuild`` that was killed in it; return the database set aside, or None.

    The first part is moving the old database aside and carrying over into
    the new one what the mail cannot tell again (`carry_over`). Killed in
    it, the rebuild left its note (`kept.storage.files.rebuild_note_path`):
    the move is completed, what the old database holds is carried over
    into the database at `database` (new, or made meanwhile by a command
    that only reads), and the note goes. The rest of a rebuild is a scan
    that reads all mail, which the caller's pass (or the next one) does.

    Call it holding the writer lock (`kept.storage.instance_lock`), before
    the store is opened; it does nothing when no rebuild was interrupted.

    :raises StorageError: if the files cannot be moved or the database written.
    """
    if not rebuild_note_path(database).exists():
        return None
    aside = interrupted_set_aside(database)
    if aside is None:
        return None
    try:
        old: SetAside | None = read_set_aside(aside)
    except StorageError as exc:
        logger.warning("kept rebuild was interrupted; the database it set aside cannot be read (%s), so "
                       "nothing is carried over from it", str(exc).splitlines()[0])
        old = None
    if old is not None:
        store = TinyDBStore(database)
        try:
            carry_over(store, old)
        finally:
            store.close()
    drop_rebuild_note(database)
    logger.warning("kept rebuild was interrupted after it set the database aside (%s); what it keeps from there "
                   "is carried over now, and all mail is read again", aside)
    return aside


def carry_over(store: Store, old: SetAside) -> Carried:
    """Copy what the rebuild keeps from `old` into the new, empty `store`, before it scans.

    Meta values are copied as they are (their readers check them, as any
    meta value); the user's word on records goes to meta `CARRIED_KEY`
    for `apply_carried`, together with what an interrupted rebuild left
    there. Records a digest sent names are queued too, without a word of
    the user's, so that the digest can be pointed at their new ids.

    :returns: how many records carry the user's word.
    """
    named = _digest_items(old.meta.get("sent_digests"))
    from_records: dict[str, list[dict[str, Any]]] = {
        "threads": [_thread_entry(t) for t in old.threads if t.status in ("done", "snoozed") or t.key in named],
        "promises": [to_json(p) for p in old.promises if p.status in _USER_STATUSES or p.id in named],
        "introductions": [to_json(i) for i in old.introductions if i.status != "open"],
        "leads": [to_json(lead) for lead in old.leads if lead.status != "open" or lead.thanked_at is not None],
    }
    waiting = _queue_of(old.meta.get(CARRIED_KEY))
    queue: dict[str, list[dict[str, Any]]] = {}
    for table in _TABLES:
        # What an interrupted rebuild still had queued, then the records (newer: they win).
        entries = waiting.get(table, []) + from_records[table]
        queue[table] = list({_entry_key(entry): entry for entry in entries}.values())
    with store.transaction():
        for key, value in old.meta.items():
            if value is not None and (key in KEPT_META or key.startswith(KEPT_META_PREFIXES)):
                store.set_meta(key, value)
        store.set_meta(CARRIED_KEY, _stored(queue))
    return _count(queue)


def _stored(queue: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    """The queue as meta `CARRIED_KEY` holds it: one list of entries, each tagged with its table, or None.

    One flat list, so that ``kept forget`` (which drops the entries of a
    meta list that name the person) drops the person's entries, not more.
    """
    stored = [{**entry, _TABLE_TAG: table} for table in _TABLES for entry in queue.get(table, ())]
    return stored or None


def _queue_of(value: Any) -> dict[str, list[dict[str, Any]]]:
    """Meta `CARRIED_KEY` read back by table; entries of the wrong shape (a hand edit) left out."""
    queue: dict[str, list[dict[str, Any]]] = {table: [] for table in _TABLES}
    if value is None:
        return queue
    if not isinstance(value, list):
        logger.warning("the database's meta value %s is not a list of corrections (it is %.60r); "
                       "kept treats it as absent", CARRIED_KEY, value)
        return queue
    for entry in value:
        if isinstance(entry, dict) and entry.get(_TABLE_TAG) in queue:
            queue[str(entry[_TABLE_TAG])].append({k: v for k, v in entry.items() if k != _TABLE_TAG})
        else:
            logger.warning("a correction carried over from before kept rebuild is not one (%.60r); left out", entry)
    return queue


def _digest_items(sent_digests: Any) -> set[str]:
    """The ids of the promises and conversations the digests sent name."""
    named: set[str] = set()
    if not isinstance(sent_digests, dict):
        return named
    for record in sent_digests.values():
        index = record.get("index") if isinstance(record, dict) else None
        for row in index if isinstance(index, list) else ():
            if isinstance(row, list) and len(row) == 3 and row[1] in ("promise", "thread") and isinstance(row[2], str):
                named.add(row[2])
    return named


def _thread_entry(thread: Thread) -> dict[str, Any]:
    """What the queue keeps of a conversation: where to find it again and the user's word."""
    return {
        "key": thread.key,
        "account": thread.account,
        "message_ids": [m.message_id for m in thread.messages],
        "status": thread.status,
        "snoozed_until": thread.snoozed_until.isoformat() if thread.snoozed_until else None,
        "done_at": thread.done_at.isoformat() if thread.done_at else None,
    }


def _entry_key(entry: Mapping[str, Any]) -> str:
    return str(entry.get("id", entry.get("key", "")))


def _count(queue: Mapping[str, list[Any]], worded: bool = True) -> Carried:
    def word(table: str, entry: Any) -> bool:
        if not isinstance(entry, dict):
            return False
        if table == "leads" and entry.get("thanked_at"):
            return True
        return entry.get("status") not in (None, "open", "kept")

    def count(table: str) -> int:
        return sum(1 for entry in queue.get(table) or () if not worded or word(table, entry))

    return Carried(promises=count("promises"), threads=count("threads"),
                   nudges=count("introductions") + count("leads"))


def carried_waiting(store: Store) -> Carried:
    """How many records carried over from before a rebuild still wait to be found again."""
    return _count(_queue_of(store.get_meta(CARRIED_KEY)), worded=False)


# -- after the scan ------------------------------------------------------------------


def apply_carried(store: Store, *, complete: bool) -> Carried:
    """Give the records the scan stored again the user's word from before the rebuild (see the module docstring).

    Called at the end of every pass, before the pass's digest replies are
    carried out; with nothing queued it costs one meta read. `complete`:
    every account was read without error, so what is still not found
    never will be, and is dropped.

    :returns: how many entries are still waiting.
    """
    try:
        left = _apply_queue(store, complete)
    except StorageError as exc:
        # The queue stays as it was for the next pass.
        logger.error("cannot apply the corrections carried over by kept rebuild now: %s", str(exc).splitlines()[0])
        return Carried()
    if left is not None and not left.total:
        logger.info("kept rebuild: every correction carried over from the old database is applied")
    return left or Carried()


def _apply_queue(store: Store, complete: bool) -> Carried | None:
    """`apply_carried` in one transaction; None when nothing was queued."""
    with store.transaction():
        if store.get_meta(CARRIED_KEY) is None:
            return None
        queue = _queue_of(store.get_meta(CARRIED_KEY))
        thread_keys: dict[str, str] = {}
        promise_ids: dict[str, str] = {}
        waiting: dict[str, list[dict[str, Any]]] = {}
        finder = _PromiseFinder(store)
        for table in _TABLES:
            waiting[table] = []
            for entry in queue[table]:
                try:
                    found = _apply_entry(store, table, entry, thread_keys, promise_ids, finder)
                except StorageError:
                    raise
                except Exception as error:  # one unreadable entry (a hand edit) must not stop the others
                    logger.warning("a correction carried over from before kept rebuild is not one (%s: %s); left out",
                                   type(error).__name__, error)
                    continue
                if not found:
                    waiting[table].append(entry)
        _point_digests_at(store, promise_ids, thread_keys)
        left = _count(waiting, worded=False)
        if left.total and complete:
            lost = _count(waiting)
            if lost.total:
                logger.warning(
                    "what you said before kept rebuild about %s was left out: kept did not find them in your "
                    "mail again (deleted or moved?)", lost.describe(),
                )
            waiting, left = {}, Carried()
        store.set_meta(CARRIED_KEY, _stored(waiting))
    return left


def _apply_entry(
    store: Store, table: str, entry: Any, thread_keys: dict[str, str], promise_ids: dict[str, str],
    finder: _PromiseFinder,
) -> bool:
    """Apply one queued entry; False if its record is not stored (yet)."""
    if not isinstance(entry, dict):
        raise ValueError(f"{table} entry is not a table")
    if table == "threads":
        key = _find_thread(store, str(entry["account"]), str(entry["key"]), [str(m) for m in entry["message_ids"]])
        if key is None:
            return False
        thread_keys[str(entry["key"])] = key
        _apply_thread_word(store, key, entry)
        return True
    if table == "promises":
        old = from_json(Promise, entry)
        new = finder.find(old)
        if new is None:
            restored = _restore(store, old, thread_keys)
            if restored is None:
                return False
            store.put_promise(restored)
            promise_ids[old.id] = old.id
            return True
        promise_ids[old.id] = new.id
        worded = _promise_with_word(new, old)
        if worded != new:
            store.put_promise(worded)
        return True
    if table == "introductions":
        intro = from_json(Introduction, entry)
        current_intro = store.get_introduction(intro.id)
        if current_intro is None:
            restored_intro = _restore(store, intro, thread_keys)
            if restored_intro is not None:
                store.put_introduction(restored_intro)
            return restored_intro is not None
        if intro.status != "open" and current_intro.status == "open":
            store.put_introduction(dataclasses.replace(
                current_intro, status=intro.status, snoozed_until=intro.snoozed_until, closed_at=intro.closed_at))
        return True
    lead = from_json(Lead, entry)
    current = store.get_lead(lead.id)
    if current is None:
        restored_lead = _restore(store, lead, thread_keys)
        if restored_lead is not None:
            store.put_lead(restored_lead)
        return restored_lead is not None
    worded_lead = current
    if lead.status != "open" and current.status == "open":
        worded_lead = dataclasses.replace(
            worded_lead, status=lead.status, snoozed_until=lead.snoozed_until, closed_at=lead.closed_at)
    if lead.thanked_at is not None and current.thanked_at is None:
        worded_lead = dataclasses.replace(worded_lead, thanked_at=lead.thanked_at)
    if worded_lead != current:
        store.put_lead(worded_lead)
    return True


def _find_thread(store: Store, account: str, key: str, message_ids: list[str]) -> str | None:
    """The key under which the conversation of `message_ids` is stored now, or None."""
    thread = store.get_thread(key)
    if thread is not None and (not message_ids or any(m.message_id in message_ids for m in thread.messages)):
        return key
    votes = Counter(found for message_id in message_ids
                    if (found := store.thread_key_for_message(account, message_id)) is not None)
    return votes.most_common(1)[0][0] if votes else None


def _apply_thread_word(store: Store, key: str, entry: Mapping[str, Any]) -> None:
    thread = store.get_thread(key)
    if thread is None or thread.status != "open":
        return
    if entry["status"] == "done" and entry.get("done_at"):
        done_at = _aware(datetime.fromisoformat(str(entry["done_at"])))
        if any(_aware(m.date) > done_at for m in thread.messages):
            return  # mail after the user closed it reopened it
        store.put_thread(dataclasses.replace(thread, status="done", done_at=done_at, snoozed_until=None))
    elif entry["status"] == "snoozed" and entry.get("snoozed_until"):
        until = date.fromisoformat(str(entry["snoozed_until"]))
        store.put_thread(dataclasses.replace(thread, status="snoozed", snoozed_until=until))


def _promise_with_word(new: Promise, old: Promise) -> Promise:
    """`new` with the status the user gave `old`."""
    if old.status in ("done", "dismissed") and new.status != old.status:
        return dataclasses.replace(new, status=old.status, closed_at=old.closed_at, snoozed_until=None,
                                   evidence=old.evidence)
    if old.status == "snoozed" and new.status == "open":
        return dataclasses.replace(new, status="snoozed", snoozed_until=old.snoozed_until)
    return new


_Restorable = TypeVar("_Restorable", Promise, Introduction, Lead)


def _restore(store: Store, old: _Restorable, thread_keys: Mapping[str, str]) -> _Restorable | None:
    """`old` as it was, in its conversation's new key, if the user closed it and its message was read again."""
    if old.status not in ("done", "dismissed") or not store.has_message(old.account, old.message_id):
        return None
    key = thread_keys.get(old.thread_key) or store.thread_key_for_message(old.account, old.message_id)
    return dataclasses.replace(old, thread_key=key or old.thread_key)


class _PromiseFinder:
    """Finds an old promise among the stored ones: by id, else by message and sentence."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_message: dict[tuple[str, str, str], Promise] | None = None

    def find(self, old: Promise) -> Promise | None:
        found = self.store.get_promise(old.id)
        if found is not None and found.account == old.account:
            return found
        if self._by_message is None:
            # Built once, on the first promise whose id changed.
            self._by_message = {(p.account, p.message_id, _words(p.sentence)): p for p in self.store.promises()}
        return self._by_message.get((old.account, old.message_id, _words(old.sentence)))


def _point_digests_at(store: Store, promise_ids: Mapping[str, str], thread_keys: Mapping[str, str]) -> None:
    """Rewrite the numbering of the digests sent to the ids the items have now."""
    renamed = {"promise": promise_ids, "thread": thread_keys}
    sent = meta_records(store, "sent_digests")
    changed = False
    for record in sent.values():
        index = record.get("index")
        for row in index if isinstance(index, list) else ():
            if isinstance(row, list) and len(row) == 3 and isinstance(row[2], str):
                new = renamed.get(str(row[1]), {}).get(row[2])
                if new is not None and new != row[2]:
                    row[2] = new
                    changed = True
    if changed:
        store.set_meta("sent_digests", sent)


def _words(sentence: str) -> str:
    return " ".join(sentence.lower().split())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)

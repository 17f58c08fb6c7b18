"""Group messages into conversations (threads): the scan's one stateful step.

Threading sits between the records and the extractors: which thread a
message joins depends on the threads already stored, so it reads and writes
through the `Store` interface, and it is part of the daemon's scan
(`kept.daemon.scan`) rather than of the pure extractors.

A message joins a thread, in this order of preference:

1. by its headers: the nearest of its In-Reply-To / References ids that is
   already part of a stored thread;
2. by subject, for mail whose client dropped those headers (common: Outlook,
   Lotus Notes, the Enron corpus): same normalized subject (``Re:``, ``Fw:``,
   ``AW:``... removed), at least one shared participant other than the user,
   and within ``subject_window_days`` of the thread's messages; a reply
   joins the thread holding a message from the person it answers before a
   nearer one, and a reply with an empty subject ("RE:") joins an
   empty-subject thread with the same people within `EMPTY_SUBJECT_WINDOW`;
3. otherwise it starts a new thread keyed by a hash of its own Message-ID.

Messages may arrive in any order (the sent folder is read after the inbox),
so a thread keeps its messages sorted by date and a stored message is never
added twice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import date, timedelta

from kept.extractors.asks import addressees
from kept.extractors.cleaning import normalize_subject
from kept.models import MailMessage, Thread, ThreadMessage
from kept.settings import ThreadSettings
from kept.storage.base import Store

#: A reply with an empty subject joins an empty-subject thread only this close
#: in time: without a subject, time and people are all that ties them.
EMPTY_SUBJECT_WINDOW = timedelta(days=7)

_REPLY_PREFIX = re.compile(r"^\s*(re|fw|fwd|aw|wg|sv|vs|antw|tr|rif)\s*(\[\d+\])?\s*:", re.IGNORECASE)


def thread_message(
    message: MailMessage, asks: bool = False, needs_reply: bool = True, asks_until: date | None = None
) -> ThreadMessage:
    """What a thread keeps of `message`: addresses, dates and two facts about its text."""
    return ThreadMessage(
        message_id=message.message_id,
        role=message.role,
        date=message.date,
        sender=message.from_addr.email if message.from_addr else "",
        to=tuple(a.email for a in message.to if a.email),
        cc=tuple(a.email for a in message.cc if a.email),
        automated=message.automated,
        asks=asks,
        needs_reply=needs_reply,
        addressed=addressees(message.body_text) if message.role == "received" else (),
        asks_until=asks_until,
    )


def _participants(item: ThreadMessage) -> set[str]:
    return {item.sender, *item.to, *item.cc} - {""}


def _new_key(account: str, message_id: str) -> str:
    return hashlib.sha1(f"{account}\0{message_id}".encode("utf-8", "replace")).hexdigest()[:16]


class Threader:
    """Assigns each message to a thread in `store` (see module docstring).

    :param store: where threads live; callers wrap calls in a transaction.
    :param addresses: the user's own addresses, lower-cased.
    :param settings: the ``[threads]`` settings.
    """

    def __init__(self, store: Store, addresses: tuple[str, ...], settings: ThreadSettings) -> None:
        self.store = store
        self.addresses = frozenset(addresses)
        self.window = timedelta(days=settings.subject_window_days)

    def add(
        self, message: MailMessage, asks: bool = False, needs_reply: bool = True, asks_until: date | None = None
    ) -> tuple[Thread, bool]:
        """Put `message` into its thread; return the thread and whether it changed.

        `asks`, `needs_reply` and `asks_until` describe its text (see `ThreadMessage`).
        """
        account = message.account
        known = self.store.thread_key_for_message(account, message.message_id)
        if known is not None:
            thread = self.store.get_thread(known)
            if thread is not None:
                return thread, False
        item = thread_message(message, asks, needs_reply, asks_until)
        thread = self._thread_by_headers(message) or self._thread_by_subject(message, item)
        if thread is None:
            thread = Thread(
                key=_new_key(account, message.message_id),
                account=account,
                subject=normalize_subject(message.subject),
            )
        messages = sorted((*thread.messages, item), key=lambda m: (m.date, m.message_id))
        thread = replace(thread, messages=tuple(messages))
        if thread.status == "done" and thread.done_at is not None and item.date > thread.done_at:
            # New mail after the user closed a thread reopens it.
            thread = replace(thread, status="open", done_at=None)
        self.store.put_thread(thread)
        return thread, True

    def _thread_by_headers(self, message: MailMessage) -> Thread | None:
        parents = [message.in_reply_to] if message.in_reply_to else []
        parents += list(reversed(message.references))
        for parent in parents:
            key = self.store.thread_key_for_message(message.account, parent)
            if key is not None:
                thread = self.store.get_thread(key)
                if thread is not None:
                    return thread
        return None

    def _thread_by_subject(self, message: MailMessage, item: ThreadMessage) -> Thread | None:
        subject = normalize_subject(message.subject)
        is_reply = bool(_REPLY_PREFIX.match(message.subject or ""))
        window = self.window
        if not subject:
            # "RE:" with nothing after it answers a message without a subject
            # (common in Lotus Notes and Outlook mail). Such a reply joins the
            # nearby empty-subject conversation with the same people; a fresh
            # message without a subject starts its own.
            if not is_reply:
                return None
            window = min(window, EMPTY_SUBJECT_WINDOW)
        people = _participants(item)
        others = people - self.addresses
        best: tuple[tuple[bool, timedelta], Thread] | None = None
        for thread in self.store.threads_with_subject(message.account, subject):
            if not thread.messages:
                continue
            first, last = thread.messages[0].date, thread.messages[-1].date
            if not (first - window <= item.date <= last + window):
                continue
            # A message without a reply prefix only joins a thread it starts
            # (its replies arrived first); otherwise equal subjects like
            # "Lunch" would glue unrelated conversations together.
            if not is_reply and item.date > first:
                continue
            thread_people: set[str] = set()
            for m in thread.messages:
                thread_people |= _participants(m)
            shared = (others & thread_people) if others else (people & thread_people)
            if not shared:
                continue
            distance = min(abs(item.date - first), abs(item.date - last))
            # A reply belongs with the message it answers: prefer the thread
            # holding an earlier message from someone it is addressed to over
            # a nearer one (a forward of the same subject to a colleague).
            answers = is_reply and any(
                m.sender in item.to and m.date <= item.date for m in thread.messages
            )
            rank = (not answers, distance)
            if best is None or rank < best[0]:
                best = (rank, thread)
        return best[1] if best else None

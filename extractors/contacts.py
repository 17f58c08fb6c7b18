"""The per-contact view behind ``kept contacts``: a small CRM built only from mail.

For every two-way contact (the user wrote to them and they wrote back, as
people, not machines): the last exchange, their usual rhythm
(`kept.extractors.rhythm`), the user's and their median reply times
(`kept.extractors.waiting.reply_lags`), the user's open promises to them and
the conversations waiting on either side.

A person with several addresses is one contact (`kept.extractors.people`):
their canonical address stands for them, the others are listed as aliases,
and promises and threads under any of them count for the person.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from kept.extractors.people import People, canonical_threads
from kept.extractors.rhythm import ContactHistory, contact_histories
from kept.extractors.waiting import awaiting_my_reply, awaiting_their_reply, mail_history, reply_lags
from kept.models import Promise, Thread
from kept.settings import ThreadSettings

__all__ = ["ContactSummary", "contact_summaries"]


@dataclass(frozen=True, slots=True)
class ContactSummary:
    """One contact as ``kept contacts`` shows it.

    :ivar email: the address.
    :ivar last_exchange: the newest message either way.
    :ivar last_from_me: True when that message was the user's.
    :ivar messages_sent: messages the user sent them.
    :ivar messages_received: messages they sent the user.
    :ivar two_way_exchanges: exchanges in which both wrote.
    :ivar rhythm_days: their usual gap between exchanges, or None.
    :ivar my_reply_hours: the user's median reply time to them, or None.
    :ivar their_reply_hours: their median reply time to the user, or None.
    :ivar open_promises: ids of the user's open promises made to them.
    :ivar waiting_on_me: keys of threads where they wait on the user.
    :ivar waiting_on_them: keys of threads where the user waits on them.
    :ivar name: their display name, or ''.
    :ivar aliases: their other addresses (merged into this contact).
    """

    email: str
    last_exchange: datetime
    last_from_me: bool
    messages_sent: int
    messages_received: int
    two_way_exchanges: int
    rhythm_days: float | None
    my_reply_hours: float | None
    their_reply_hours: float | None
    open_promises: tuple[str, ...] = ()
    waiting_on_me: tuple[str, ...] = ()
    waiting_on_them: tuple[str, ...] = ()
    name: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def open_threads(self) -> int:
        """Conversations waiting on either side."""
        return len(self.waiting_on_me) + len(self.waiting_on_them)


def _two_way(history: ContactHistory) -> bool:
    return bool(history.sent and history.received) and history.automated <= len(history.received)


def contact_summaries(
    threads: Iterable[Thread],
    promises: Iterable[Promise],
    me: Iterable[str],
    thread_settings: ThreadSettings,
    now: datetime,
    people: People | None = None,
    names: frozenset[str] = frozenset(),
) -> list[ContactSummary]:
    """Every two-way contact, most recent exchange first.

    With `people`, each person is one contact whichever address they used.
    Open threads follow the digest's rules (the user's mail history, and
    `names`, the user's own names: see `kept.extractors.waiting.my_names`).
    """
    own = frozenset(me)
    people = people or People()
    threads = canonical_threads(threads, people)
    histories = contact_histories(threads, own)
    lags = reply_lags(threads, own)
    answered = mail_history(threads, own)
    promised: dict[str, list[str]] = {}
    for promise in promises:
        if promise.is_open:
            for address in dict.fromkeys(people.of(a) for a in promise.counterparties):
                promised.setdefault(address, []).append(promise.id)
    on_me: dict[str, list[str]] = {}
    on_them: dict[str, list[str]] = {}
    for thread in threads:
        waiting = awaiting_my_reply(thread, own, thread_settings, now, answered, names)
        if waiting is not None:
            on_me.setdefault(waiting.sender, []).append(thread.key)
        asked = awaiting_their_reply(thread, own, thread_settings, now, answered)
        if asked is not None:
            for address in Counter(a for a in asked.to + asked.cc if a and a not in own):
                on_them.setdefault(address, []).append(thread.key)
    rows = []
    for address, history in histories.items():
        if not _two_way(history):
            continue
        last = history.last
        assert last is not None
        stats = lags.get(address)
        rows.append(
            ContactSummary(
                email=address,
                last_exchange=last,
                last_from_me=bool(history.sent) and history.sent[-1] == last,
                messages_sent=len(history.sent),
                messages_received=len(history.received),
                two_way_exchanges=history.two_way_exchanges,
                rhythm_days=history.rhythm_days,
                my_reply_hours=stats.my_median if stats else None,
                their_reply_hours=stats.their_median if stats else None,
                open_promises=tuple(promised.get(address, ())),
                waiting_on_me=tuple(on_me.get(address, ())),
                waiting_on_them=tuple(on_them.get(address, ())),
                name=people.name(address),
                aliases=people.aliases(address)[1:],
            )
        )
    rows.sort(key=lambda row: (row.last_exchange, row.email), reverse=True)
    return rows

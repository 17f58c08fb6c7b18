"""Who is waiting on whom, and how fast people usually answer.

Vocabulary:

waiting on me (``awaiting_my_reply``)
    A message from a person (not automated, not the user) that needs an
    answer (not a mere "thanks!"), addressed to the user in To (or also Cc when ``direct_only`` is off), with no later
    message from the user in its thread. The oldest such message counts: it
    is how long that person has been waiting.
waiting on them (``awaiting_their_reply``)
    The newest message of a thread is the user's, it asks a question or makes
    a request, and none of its recipients has written in the thread since.
reply lag
    The time between a message and the first answer to it in the same
    thread: the user's lag towards a contact ("you usually answer Anna
    within 4 h") and the contact's lag towards the user.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kept.models import Thread, ThreadMessage
from kept.settings import ThreadSettings


def _is_mine(item: ThreadMessage, me: frozenset[str]) -> bool:
    return item.role == "sent" or item.sender in me


def awaiting_my_reply(
    thread: Thread, me: frozenset[str], settings: ThreadSettings, now: datetime
) -> ThreadMessage | None:
    """The message in `thread` that has waited longest for the user's reply, if any.

    Only counts once it is older than ``waiting_on_me_after_hours``. A
    message that asks nothing (an update, a delivery) stops counting after
    ``statement_expires_after_days``: a question still needs its answer
    weeks later, an unanswered "here are the final files" does not.
    """
    if thread.status == "done":
        return None
    unanswered: list[ThreadMessage] = []
    for item in thread.messages:
        if _is_mine(item, me):
            unanswered.clear()
            continue
        if item.automated or not item.sender or not item.needs_reply:
            continue
        if set(item.to) & me or (not settings.direct_only and set(item.cc) & me):
            unanswered.append(item)
    expiry = timedelta(days=settings.statement_expires_after_days)
    for item in unanswered:
        age = now - item.date
        if age < timedelta(hours=settings.waiting_on_me_after_hours):
            return None
        if item.asks or age <= expiry:
            return item
    return None


def awaiting_their_reply(
    thread: Thread, me: frozenset[str], settings: ThreadSettings, now: datetime
) -> ThreadMessage | None:
    """The user's unanswered question or request in `thread`, if it is old enough."""
    if thread.status == "done":
        return None
    # An out-of-office or other machine reply answers nothing.
    people = [m for m in thread.messages if not m.automated]
    if not people:
        return None
    last = people[-1]
    if not _is_mine(last, me) or not last.asks:
        return None
    if not (set(last.to) | set(last.cc)) - me:
        return None  # a note to self waits on nobody
    if now - last.date < timedelta(days=settings.waiting_on_them_after_days):
        return None
    return last


@dataclass(frozen=True, slots=True)
class LagStats:
    """Reply times with one contact, in hours.

    :ivar contact: the contact's address.
    :ivar my_replies: how long the user took to answer them, each reply.
    :ivar their_replies: how long they took to answer the user.
    """

    contact: str
    my_replies: tuple[float, ...] = ()
    their_replies: tuple[float, ...] = ()

    @property
    def my_median(self) -> float | None:
        """Median hours the user takes to answer this contact."""
        return statistics.median(self.my_replies) if self.my_replies else None

    @property
    def my_p90(self) -> float | None:
        """90th percentile of the user's reply times to this contact."""
        return _p90(self.my_replies)

    @property
    def their_median(self) -> float | None:
        """Median hours this contact takes to answer the user."""
        return statistics.median(self.their_replies) if self.their_replies else None

    @property
    def their_p90(self) -> float | None:
        """90th percentile of this contact's reply times."""
        return _p90(self.their_replies)


def _p90(values: tuple[float, ...]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def reply_events(thread: Thread, me: frozenset[str]) -> Iterable[tuple[str, str, datetime, float]]:
    """Yield (direction, contact, answered_at, hours) for each answer in `thread`.

    direction is ``"mine"`` (the user answered `contact`) or ``"theirs"``
    (`contact` answered the user). Each message is answered at most once per
    contact, by the first later message.
    """
    open_from_them: dict[str, datetime] = {}
    open_to_them: dict[str, datetime] = {}
    for item in thread.messages:
        if item.automated:
            continue
        if _is_mine(item, me):
            for contact, since in open_from_them.items():
                yield "mine", contact, item.date, (item.date - since).total_seconds() / 3600
            open_from_them.clear()
            for contact in (set(item.to) | set(item.cc)) - me - {""}:
                open_to_them.setdefault(contact, item.date)
        elif item.sender:
            asked_at = open_to_them.pop(item.sender, None)
            if asked_at is not None:
                yield "theirs", item.sender, item.date, (item.date - asked_at).total_seconds() / 3600
            open_from_them.setdefault(item.sender, item.date)


def reply_lags(
    threads: Iterable[Thread], me: frozenset[str], since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, LagStats]:
    """Reply-time statistics per contact over `threads`, for answers in [since, until)."""
    mine: dict[str, list[float]] = defaultdict(list)
    theirs: dict[str, list[float]] = defaultdict(list)
    for thread in threads:
        for direction, contact, answered_at, hours in reply_events(thread, me):
            if since is not None and answered_at < since:
                continue
            if until is not None and answered_at >= until:
                continue
            (mine if direction == "mine" else theirs)[contact].append(max(hours, 0.0))
    return {
        contact: LagStats(contact, tuple(mine.get(contact, ())), tuple(theirs.get(contact, ())))
        for contact in sorted(set(mine) | set(theirs))
    }


def median_reply_hours(
    threads: Iterable[Thread], me: frozenset[str], since: datetime, until: datetime
) -> float | None:
    """The user's median reply time, in hours, over all answers in [since, until)."""
    values = [
        hours
        for thread in threads
        for direction, _contact, answered_at, hours in reply_events(thread, me)
        if direction == "mine" and since <= answered_at < until
    ]
    return statistics.median(values) if values else None

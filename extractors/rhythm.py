"""Each contact's rhythm, and who has gone quiet for much longer than theirs.

Everything here is derived from stored threads (`ThreadMessage` keeps
sender, recipients, date and whether it was machine-sent), never from a new
scan.

Vocabulary:

contact history
    For one address: when the user wrote to it (`sent`), when it wrote to
    the user (`received`, people only: automated mail is counted apart).
    Given `kept.extractors.people.People`, for one person: all their
    addresses, under the canonical one.
exchange
    Messages with a contact, in either direction, each within
    `EXCHANGE_GAP` of the previous one: one conversation burst. A
    *two-way* exchange holds messages in both directions.
rhythm
    The median gap between the starts of consecutive exchanges.
keep in touch
    A contact with at least ``min_exchanges`` two-way exchanges, silent (no
    message either way) for more than ``factor`` times their rhythm and more
    than ``min_silence_days``, but not more than ``max_silence_days``. A
    cadence set in the config for the address, one of its tags or its domain
    replaces the learned rhythm (and the exchange minimum). Strongest
    relationships (most two-way exchanges) come first.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from kept.extractors.people import People
from kept.models import Thread
from kept.settings import KeepInTouchNudges

__all__ = [
    "EXCHANGE_GAP",
    "ContactHistory",
    "KeepInTouch",
    "TouchState",
    "cadence_for",
    "contact_histories",
    "keep_in_touch",
]

#: Messages closer than this belong to the same exchange.
EXCHANGE_GAP = timedelta(days=3)

#: A sent message to more people than this is a broadcast: it counts as
#: "written to them" but not towards a personal rhythm.
PERSONAL_MAX_RECIPIENTS = 5


@dataclass(frozen=True, slots=True)
class ContactHistory:
    """The mail between the user and one address (see the module docstring).

    :ivar email: the contact's address.
    :ivar sent: when the user wrote to them (To or Cc), oldest first.
    :ivar personal_sent: those of `sent` with at most
        `PERSONAL_MAX_RECIPIENTS` recipients.
    :ivar received: when they wrote (people, not machines), oldest first.
    :ivar automated: how many machine-sent messages came from them.
    :ivar exchanges: (start, two-way) of each exchange, oldest first.
    :ivar last_message_id: Message-ID of the newest message either way.
    """

    email: str
    sent: tuple[datetime, ...] = ()
    personal_sent: tuple[datetime, ...] = ()
    received: tuple[datetime, ...] = ()
    automated: int = 0
    exchanges: tuple[tuple[datetime, bool], ...] = field(default=(), compare=False)
    last_message_id: str = ""

    @property
    def last(self) -> datetime | None:
        """The newest message either way."""
        candidates = self.sent[-1:] + self.received[-1:]
        return max(candidates) if candidates else None

    @property
    def two_way_exchanges(self) -> int:
        """Exchanges in which both sides wrote."""
        return sum(1 for _start, two_way in self.exchanges if two_way)

    @property
    def rhythm_days(self) -> float | None:
        """Median days between the starts of consecutive exchanges, or None with fewer than two."""
        starts = [start for start, _two_way in self.exchanges]
        if len(starts) < 2:
            return None
        gaps = [(b - a).total_seconds() / 86400 for a, b in zip(starts, starts[1:])]
        return statistics.median(gaps)


def _same(address: str) -> str:
    return address


def _exchanges(sent: list[datetime], received: list[datetime]) -> tuple[tuple[datetime, bool], ...]:
    events = sorted([(d, "sent") for d in sent] + [(d, "received") for d in received])
    found: list[tuple[datetime, bool]] = []
    start = previous = None
    sides: set[str] = set()
    for moment, side in events:
        if previous is None or moment - previous > EXCHANGE_GAP:
            if start is not None:
                found.append((start, len(sides) == 2))
            start, sides = moment, set()
        sides.add(side)
        previous = moment
    if start is not None:
        found.append((start, len(sides) == 2))
    return tuple(found)


def contact_histories(
    threads: Iterable[Thread], me: Iterable[str], people: People | None = None
) -> dict[str, ContactHistory]:
    """Every address the user exchanged mail with, and when.

    With `people` (`kept.extractors.people.build_people`), a person's
    addresses count as one contact, keyed by their canonical address.
    """
    own = frozenset(me)
    person = people.of if people is not None else _same
    sent: dict[str, list[datetime]] = defaultdict(list)
    personal: dict[str, list[datetime]] = defaultdict(list)
    received: dict[str, list[datetime]] = defaultdict(list)
    automated: dict[str, int] = defaultdict(int)
    newest: dict[str, tuple[datetime, str]] = {}
    seen: set[str] = set()
    for thread in threads:
        for item in thread.messages:
            # The same message can sit in two accounts' threads; count it once.
            if item.message_id in seen:
                continue
            seen.add(item.message_id)
            if item.role == "sent":
                recipients = [person(a) for a in dict.fromkeys(item.to + item.cc) if a and a not in own]
                recipients = list(dict.fromkeys(recipients))
                for address in recipients:
                    sent[address].append(item.date)
                    if address not in newest or newest[address][0] <= item.date:
                        newest[address] = (item.date, item.message_id)
                    if len(recipients) <= PERSONAL_MAX_RECIPIENTS:
                        personal[address].append(item.date)
            elif item.sender and item.sender not in own:
                # Received mail "from" the user (a copy to self, a forgery) is nobody's contact.
                sender = person(item.sender)
                if item.automated:
                    automated[sender] += 1
                else:
                    received[sender].append(item.date)
                    if sender not in newest or newest[sender][0] <= item.date:
                        newest[sender] = (item.date, item.message_id)
    histories = {}
    for address in set(sent) | set(received) | set(automated):
        mine, personal_mine, theirs = sorted(sent[address]), sorted(personal[address]), sorted(received[address])
        histories[address] = ContactHistory(
            email=address,
            sent=tuple(mine),
            personal_sent=tuple(personal_mine),
            received=tuple(theirs),
            automated=automated[address],
            exchanges=_exchanges(personal_mine, theirs),
            last_message_id=newest.get(address, (None, ""))[1],
        )
    return histories


@dataclass(frozen=True, slots=True)
class TouchState:
    """What the user said about one contact's keep-in-touch nudge.

    :ivar touched_at: "done": the user was in touch outside mail; the clock
        restarts here.
    :ivar snoozed_until: not listed before this day.
    :ivar dismissed: never list this contact again.
    """

    touched_at: datetime | None = None
    snoozed_until: date | None = None
    dismissed: bool = False


@dataclass(frozen=True, slots=True)
class KeepInTouch:
    """A contact silent for much longer than usual.

    :ivar email: the contact.
    :ivar last: the last message either way (or the user's "done").
    :ivar silent_days: whole days since then.
    :ivar rhythm_days: their usual gap, or None when a cadence applies.
    :ivar allowed_days: the silence that was allowed (cadence, or factor x rhythm).
    :ivar two_way_exchanges: how strong the relationship is.
    :ivar cadence_from: where a configured cadence came from ("anna@x.org",
        "tag family", "example.org"), or '' for the learned rhythm.
    """

    email: str
    last: datetime
    silent_days: int
    rhythm_days: float | None
    allowed_days: float
    two_way_exchanges: int
    cadence_from: str = ""


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


def _matches(address: str, entry: str) -> bool:
    return address == entry or ("@" not in entry and (_domain(address) == entry or _domain(address).endswith("." + entry)))


def cadence_for(address: str, settings: KeepInTouchNudges) -> tuple[int, str] | None:
    """The configured days of silence for `address` and where they come from.

    An address's own entry wins, then a tag naming the address, then the
    domain's entry, then a tag naming the domain.
    """
    if address in settings.cadence:
        return settings.cadence[address], address
    for tag, members in settings.tags.items():
        if address in members and tag in settings.tag_cadence:
            return settings.tag_cadence[tag], f"tag {tag}"
    for entry, days in settings.cadence.items():
        if "@" not in entry and _matches(address, entry):
            return days, entry
    for tag, members in settings.tags.items():
        if tag in settings.tag_cadence and any("@" not in m and _matches(address, m) for m in members):
            return settings.tag_cadence[tag], f"tag {tag}"
    return None


def keep_in_touch(
    histories: dict[str, ContactHistory],
    now: datetime,
    settings: KeepInTouchNudges,
    states: dict[str, TouchState] | None = None,
    muted: Iterable[str] = (),
) -> list[KeepInTouch]:
    """Contacts to get back in touch with, strongest relationships first (all of them, no limit)."""
    states = states or {}
    muted_set = frozenset(muted)
    today = now.date()
    found = []
    for address, history in histories.items():
        if address in muted_set or any(_matches(address, entry) for entry in settings.exclude):
            continue
        state = states.get(address, TouchState())
        if state.dismissed or (state.snoozed_until is not None and state.snoozed_until > today):
            continue
        last = history.last
        if last is None:
            continue
        if state.touched_at is not None and state.touched_at > last:
            last = state.touched_at
        silent = (now - last).total_seconds() / 86400
        cadence = cadence_for(address, settings)
        if cadence is not None:
            days, source = cadence
            if silent > days:
                found.append(KeepInTouch(address, last, int(silent), None, days, history.two_way_exchanges, source))
            continue
        if history.automated > len(history.received):
            continue  # mostly a machine, sometimes signed by a person
        if history.two_way_exchanges < settings.min_exchanges:
            continue
        rhythm = history.rhythm_days
        if rhythm is None:
            continue
        allowed = max(settings.factor * rhythm, float(settings.min_silence_days))
        if allowed < silent <= settings.max_silence_days:
            found.append(KeepInTouch(address, last, int(silent), rhythm, allowed, history.two_way_exchanges))
    found.sort(key=lambda k: (-k.two_way_exchanges, -k.silent_days, k.email))
    return found

"""The digest's relationship sections: introductions, thanks, keeping in touch.

Three sections follow "waiting on others", numbered in the same continuous
numbering (index kinds ``"intro"``, ``"lead"`` and ``"contact"``), so
"done 12" or "snooze 12 friday" work on them as on promises:

introductions
    `kept.extractors.introductions.introduction_follow_ups`: "You introduced
    Anna to Ben on Tue 10 Nov - ask each how it went", with the people not
    written to since, and a gentle note about people the user had not
    written to in the weeks before.
thank and report back
    `kept.extractors.leads.lead_nudges`: thank the person who gave a lead,
    and later tell them how it went.
keep in touch
    `kept.extractors.rhythm.keep_in_touch`: contacts silent for much longer
    than their own rhythm, strongest first, at most ``max_items``.

Each habit has its own switch in ``[nudges]``; the section switch turns all
three off. Contacts the user muted are left out everywhere.

A person with several addresses (`kept.extractors.people`) is one contact:
their history sums all their addresses, keep-in-touch lists them once under
their canonical address, and muting any of their addresses mutes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo
from urllib.parse import quote

from kept.digest.text import MAX_NAME_CHARS, holding_reply_link, one_line
from kept.extractors.introductions import introduction_follow_ups
from kept.extractors.leads import lead_nudges
from kept.digest.people import people_from_store
from kept.extractors.people import People
from kept.extractors.rhythm import ContactHistory, TouchState, contact_histories, keep_in_touch
from kept.models import Thread
from kept.settings import Settings
from kept.storage.base import Store
from kept.storage.meta import meta_records

__all__ = [
    "ContactItem",
    "IntroItem",
    "LeadItem",
    "NudgeSections",
    "TOUCH_STATE_KEY",
    "build_nudge_sections",
    "contact_name",
    "touch_states",
]

#: Store meta: ``{address: {"touched_at", "snoozed_until", "dismissed"}}``.
TOUCH_STATE_KEY = "keep_in_touch"


@dataclass(frozen=True, slots=True)
class IntroItem:
    """An introduction to follow up on.

    :ivar number: the item's number in the digest.
    :ivar intro_id: `Introduction.id`, what "done N" acts on.
    :ivar account, message_id, subject: the introducing message.
    :ivar made_at: when it was sent, in the user's time zone.
    :ivar names: everyone introduced, names where known.
    :ivar pending: the people the user has not written to since.
    :ivar no_recent_contact: people the user had not written to in the
        ``no_recent_contact_days`` before.
    :ivar no_recent_days: that number of days.
    """

    number: int
    intro_id: str
    account: str
    message_id: str
    subject: str
    made_at: datetime
    names: tuple[str, ...]
    pending: tuple[str, ...]
    no_recent_contact: tuple[str, ...]
    no_recent_days: int

    @property
    def ref(self) -> tuple[str, str]:
        """What the item refers to: ``("intro", id)``."""
        return ("intro", self.intro_id)

    @property
    def who(self) -> str:
        """ "Anna Keller to Ben Okafor", or "Anna, Ben and Carl" for more."""
        if len(self.names) == 2:
            return f"{self.names[0]} to {self.names[1]}"
        return ", ".join(self.names[:-1]) + f" and {self.names[-1]}"


@dataclass(frozen=True, slots=True)
class LeadItem:
    """A lead whose giver should hear from the user.

    :ivar number: the item's number in the digest.
    :ivar lead_id: `Lead.id`.
    :ivar account, message_id, subject: the message with the lead.
    :ivar giver: the giver's name (or address); :ivar giver_email: the address.
    :ivar about: the person or company the lead points to, or ''.
    :ivar sentence: the sentence with the lead.
    :ivar received_at: when it came, in the user's time zone.
    :ivar stage: ``"thank"`` or ``"report"``.
    :ivar thanked_at: for ``"report"``: when the user thanked them.
    :ivar reply_link: ``mailto:`` URL of a reply to the giver.
    """

    number: int
    lead_id: str
    account: str
    message_id: str
    subject: str
    giver: str
    giver_email: str
    about: str
    sentence: str
    received_at: datetime
    stage: str
    thanked_at: datetime | None
    reply_link: str

    @property
    def ref(self) -> tuple[str, str]:
        """What the item refers to: ``("lead", id)``."""
        return ("lead", self.lead_id)


@dataclass(frozen=True, slots=True)
class ContactItem:
    """A contact to get back in touch with.

    :ivar number: the item's number in the digest.
    :ivar email: the address; :ivar name: their name, or the address.
    :ivar last: the last message either way, in the user's time zone.
    :ivar silent_days: days since then.
    :ivar rhythm_days: their usual gap, or None when a cadence applies.
    :ivar cadence_from: where a configured cadence came from, or ''.
    :ivar allowed_days: the silence allowed.
    :ivar exchanges: two-way exchanges so far.
    :ivar write_link: ``mailto:`` URL of a new message to them.
    """

    number: int
    email: str
    name: str
    last: datetime
    silent_days: int
    rhythm_days: float | None
    cadence_from: str
    allowed_days: float
    exchanges: int
    write_link: str

    @property
    def ref(self) -> tuple[str, str]:
        """What the item refers to: ``("contact", address)``."""
        return ("contact", self.email)


@dataclass(frozen=True, slots=True)
class NudgeSections:
    """The three sections, in display order."""

    introductions: tuple[IntroItem, ...] = ()
    leads: tuple[LeadItem, ...] = ()
    keep_in_touch: tuple[ContactItem, ...] = ()


def touch_states(store: Store) -> dict[str, TouchState]:
    """What the user said about keep-in-touch nudges, by address."""
    states = {}
    for address, value in meta_records(store, TOUCH_STATE_KEY).items():
        touched = value.get("touched_at")
        snoozed = value.get("snoozed_until")
        try:
            states[address] = TouchState(
                touched_at=datetime.fromisoformat(touched) if touched else None,
                snoozed_until=date.fromisoformat(snoozed) if snoozed else None,
                dismissed=bool(value.get("dismissed")),
            )
        except (TypeError, ValueError):
            continue
    return states


def contact_name(
    store: Store, account_threads: dict[str, str], history: ContactHistory, people: People | None = None
) -> str:
    """The contact's display name: the one kept knows for the person, else from their newest message, else the address."""
    known = people.name(history.email) if people is not None else ""
    if known:
        return one_line(known, MAX_NAME_CHARS)
    account = account_threads.get(history.last_message_id)
    if account is not None:
        message = store.get_message(account, history.last_message_id)
        if message is not None:
            for address in (message.from_addr, *message.to, *message.cc):
                if address is not None and address.email == history.email and address.name.strip():
                    return one_line(address.name, MAX_NAME_CHARS).strip("\"' ")
    return history.email


def _person_label(labels: dict[str, str], email: str) -> str:
    """The name `email` was introduced by (else the address), as one short line."""
    return one_line(labels.get(email) or email, MAX_NAME_CHARS)


def _local(moment: datetime, zone: tzinfo) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(zone)


def build_nudge_sections(
    store: Store,
    threads: list[Thread],
    settings: Settings,
    now: datetime,
    today: date,
    zone: tzinfo,
    muted: frozenset[str],
    number: Callable[[str, str], int],
    people: People | None = None,
) -> NudgeSections:
    """The three sections for the day of `now`; `number(kind, id)` hands out item numbers.

    `people` is `people_from_store` of the accounts of `threads`, when the
    caller has it already (without it, every account's): it reads every
    stored message, the most costly step of the digest on a big mailbox.
    """
    nudges = settings.nudges
    if not nudges.enabled:
        return NudgeSections()
    if people is None:
        people = people_from_store(store, settings.addresses)
    histories = contact_histories(threads, settings.addresses, people)
    # Introductions and leads look people up by the address they were
    # recorded under: every alias leads to the person's merged history.
    by_alias = dict(histories)
    for alias, person in people.canonical.items():
        if person in histories:
            by_alias[alias] = histories[person]
    muted_people = frozenset(people.of(a) for a in muted)

    intros = []
    if nudges.introductions.enabled:
        follow_ups = introduction_follow_ups(store.introductions(), by_alias, now, today, nudges.introductions)
        for follow_up in follow_ups:
            intro = follow_up.introduction
            if {people.of(p) for p in intro.people} <= muted_people:
                continue
            labels = dict(zip(intro.people, intro.names))
            intros.append(IntroItem(
                number=number("intro", intro.id),
                intro_id=intro.id,
                account=intro.account,
                message_id=intro.message_id,
                subject=one_line(intro.subject),
                made_at=_local(intro.made_at, zone),
                names=tuple(_person_label(labels, p) for p in intro.people),
                pending=tuple(_person_label(labels, p) for p in follow_up.pending),
                no_recent_contact=tuple(_person_label(labels, p) for p in follow_up.no_recent_contact),
                no_recent_days=nudges.introductions.no_recent_contact_days,
            ))

    leads = []
    if nudges.thanks.enabled:
        for nudge in lead_nudges(store.leads(), by_alias, now, today, nudges.thanks):
            lead = nudge.lead
            if people.of(lead.from_email) in muted_people:
                continue
            leads.append(LeadItem(
                number=number("lead", lead.id),
                lead_id=lead.id,
                account=lead.account,
                message_id=lead.message_id,
                subject=one_line(lead.subject),
                giver=one_line(lead.from_name or lead.from_email, MAX_NAME_CHARS),
                giver_email=lead.from_email,
                about=one_line(lead.about, MAX_NAME_CHARS),
                sentence=one_line(lead.sentence, 500),
                received_at=_local(lead.received_at, zone),
                stage=nudge.stage,
                thanked_at=_local(nudge.thanked_at, zone) if nudge.thanked_at else None,
                reply_link=holding_reply_link(lead.from_email, lead.subject, lead.message_id, ""),
            ))

    contacts = []
    if nudges.keep_in_touch.enabled and nudges.keep_in_touch.max_items:
        # A state saved under an alias applies to the person, unless one
        # was saved under the canonical address itself.
        saved = touch_states(store)
        states = {people.of(a): state for a, state in saved.items() if people.of(a) != a}
        states.update({a: state for a, state in saved.items() if people.of(a) == a})
        found = keep_in_touch(histories, now, nudges.keep_in_touch, states, muted_people)
        account_of = {
            item.message_id: thread.account for thread in threads for item in thread.messages
        } if found else {}
        for entry in found[: nudges.keep_in_touch.max_items]:
            contacts.append(ContactItem(
                number=number("contact", entry.email),
                email=entry.email,
                name=contact_name(store, account_of, histories[entry.email], people),
                last=_local(entry.last, zone),
                silent_days=entry.silent_days,
                rhythm_days=entry.rhythm_days,
                cadence_from=entry.cadence_from,
                allowed_days=entry.allowed_days,
                exchanges=entry.two_way_exchanges,
                write_link=f"mailto:{quote(one_line(entry.email), safe='@')}",
            ))
    return NudgeSections(tuple(intros), tuple(leads), tuple(contacts))

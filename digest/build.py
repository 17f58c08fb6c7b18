"""Build the daily digest from storage: a pure function of (store, now, settings).

`digest_candidates` gathers what the digest could list, split into news and
history (mail older than the account's history cutoff: counted, never
listed); `build_digest` has `kept.digest.rank` rank it, cut it to ``[digest]
max_items`` / ``max_per_section`` and number it. The sections, in display
order:

1. promises overdue or due within ``due_soon_days``;
2. promises without a date (``due_is_default``) made more than
   ``undated_after_days`` ago and not already in section 1;
3. people waiting on the user's reply (`kept.extractors.waiting.awaiting_my_reply`);
4. the user's questions nobody answered (`awaiting_their_reply`), follow-up
   candidates;
5. one reply-lag line: the user's median reply time over the last 7 days
   against the 4 weeks before;
6. relationship nudges (`kept.digest.nudges`): introductions to follow up,
   leads to thank for or report back on, contacts to get back in touch with.

Items are numbered continuously across the sections (1, 2, 3, ...) so the
user can answer the digest with "done 3"; `Digest.index` maps each number to
what it refers to.

What is left out: promises that are done, dismissed or kept (those kept in
the last day are listed apart, unnumbered); promises and threads snoozed
until after today; threads from muted contacts (store meta
``muted_contacts``, lower-cased addresses) and promises made only to muted
contacts; history; copies of one item; what the caps cut (counted per
section).

Everything here is plain data: formatting for people happens in
`kept.digest.render`, except the few strings that need the user's settings
(the holding-reply ``mailto:`` link, account health lines).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from kept.extractors.waiting import (
    LagStats,
    MailHistory,
    awaiting_my_reply,
    awaiting_their_reply,
    mail_history,
    all_reply_events,
    lags_of,
    median_of_my_replies,
    my_names,
)
from kept.models import Address, MailMessage, Promise, Thread
from kept.settings import Settings
from kept.extractors.cleaning import normalize_subject
from kept.extractors.promise_conditions import on_an_event, on_the_readers_move, pleasantry
from kept.digest.people import people_from_store
from kept.extractors.people import People
from kept.digest.nudges import ContactItem, IntroItem, LeadItem, build_nudge_sections
from kept.digest.rank import (
    SECTIONS,
    UNDATED_LISTING_CONFIDENCE,
    Numbering,
    one_per_copy,
    rank_sections,
    split_items,
)
from kept.digest.text import (
    MAX_NAME_CHARS,
    first_name,
    holding_reply_body,
    holding_reply_link,
    long_date,
    one_line,
    user_timezone,
)
from kept.storage.base import Store, history_cutoff
from kept.storage.meta import account_health, meta_strings

__all__ = [
    "SECTIONS",
    "Candidates",
    "Digest",
    "FollowUpItem",
    "History",
    "KeptItem",
    "PromiseItem",
    "ReplyLag",
    "WaitingItem",
    "build_digest",
    "digest_candidates",
]

logger = logging.getLogger(__name__)

# The "kept since the last digest" lines: how far back, and how many.
KEPT_RECENTLY = timedelta(days=1)
MAX_KEPT_LINES = 5

# Windows of the reply-lag line.
LAG_RECENT = timedelta(days=7)
LAG_BASELINE = timedelta(days=28)

@dataclass(frozen=True, slots=True)
class PromiseItem:
    """A promise listed in section 1 (due) or 2 (undated).

    :ivar number: the item's number in the digest.
    :ivar promise_id: `Promise.id`, what "done N" acts on.
    :ivar account: the account of the message it was made in.
    :ivar message_id: Message-ID of that (sent) message.
    :ivar sentence: the promise sentence, one line.
    :ivar subject: the message's subject, one line ('' if unknown).
    :ivar to: who it was made to: display names where known, else addresses.
    :ivar made_at: when it was made, in the user's time zone.
    :ivar due: the due date, or None.
    :ivar due_is_default: True when the mail named no date and `due` is the
        configured horizon.
    :ivar days_left: days from today until `due` (negative: overdue), or None.
    :ivar parties: the addresses it was made to (`Promise.counterparties`).
    :ivar confidence: how sure the extractor was (`Promise.confidence`);
        below `kept.digest.rank.LISTING_CONFIDENCE` it is never numbered.
    """

    number: int
    promise_id: str
    account: str
    message_id: str
    sentence: str
    subject: str
    to: tuple[str, ...]
    made_at: datetime
    due: date | None
    due_is_default: bool
    days_left: int | None
    parties: tuple[str, ...] = ()
    confidence: float = 1.0

    @property
    def overdue(self) -> bool:
        """True when the due date has passed."""
        return self.days_left is not None and self.days_left < 0

    @property
    def ref(self) -> tuple[str, str]:
        """What the item refers to: ``("promise", id)``."""
        return ("promise", self.promise_id)


@dataclass(frozen=True, slots=True)
class WaitingItem:
    """Section 3: a person waiting on the user's reply.

    :ivar number: the item's number in the digest.
    :ivar thread_key: the conversation, what "done N" acts on.
    :ivar account: its account.
    :ivar message_id: Message-ID of the oldest unanswered message.
    :ivar subject: that message's subject, one line.
    :ivar contact: the sender's address.
    :ivar contact_name: the sender's display name, or the address.
    :ivar since: when that message arrived, in the user's time zone.
    :ivar waited_hours: how long it has waited, in hours.
    :ivar usual_hours: the user's median reply time to this contact, or
        None when there is no history.
    :ivar reply_link: ``mailto:`` URL of a prefilled holding reply; ''
        in `digest_candidates`' lists, filled in by `build_digest` for the
        items it lists (`Candidates.with_reply_link`).
    :ivar question: that message's question (`MailMessage.question`), ''
        when none was found: what the person waits for, which a subject
        such as "Re:" does not say.
    """

    number: int
    thread_key: str
    account: str
    message_id: str
    subject: str
    contact: str
    contact_name: str
    since: datetime
    waited_hours: float
    usual_hours: float | None
    reply_link: str
    question: str = ""

    @property
    def ref(self) -> tuple[str, str]:
        """What the item refers to: ``("thread", key)``."""
        return ("thread", self.thread_key)


@dataclass(frozen=True, slots=True)
class FollowUpItem:
    """Section 4: the user's question or request nobody has answered.

    :ivar number: the item's number in the digest.
    :ivar thread_key: the conversation.
    :ivar account: its account.
    :ivar message_id: Message-ID of the user's unanswered message.
    :ivar subject: its subject, one line.
    :ivar to: who it went to: display names where known, else addresses.
    :ivar asked_at: when it was sent, in the user's time zone.
    :ivar waited_hours: hours since then.
    :ivar parties: the addresses of `to`, in the same order.
    :ivar question: the user's question or request in it
        (`MailMessage.question`), quoted as promises quote their sentence.
    """

    number: int
    thread_key: str
    account: str
    message_id: str
    subject: str
    to: tuple[str, ...]
    asked_at: datetime
    waited_hours: float
    parties: tuple[str, ...] = ()
    question: str = ""

    @property
    def ref(self) -> tuple[str, str]:
        """What the item refers to: ``("thread", key)``."""
        return ("thread", self.thread_key)


@dataclass(frozen=True, slots=True)
class ReplyLag:
    """Section 5: the user's median reply time, recent week against the month before.

    :ivar recent_hours: median over the last 7 days, or None without replies.
    :ivar baseline_hours: median over the 28 days before that, or None.
    """

    recent_hours: float | None
    baseline_hours: float | None

    @property
    def known(self) -> bool:
        """True when there is anything to say."""
        return self.recent_hours is not None or self.baseline_hours is not None


@dataclass(frozen=True, slots=True)
class History:
    """Open items the digest leaves out because they are older than the history cutoff.

    The first scan of an account reads all its mail; what was already older
    than ``[digest] lookback_days`` then is history (`kept.storage.base.
    history_cutoff`): counted in one line, listed by ``kept promises
    --stale`` and ``kept threads --stale``, never a numbered item.

    :ivar promises: open promises made before the cutoff.
    :ivar waiting_on_me: conversations waiting on the user since before it.
    :ivar waiting_on_them: the user's questions unanswered since before it.
    """

    promises: int = 0
    waiting_on_me: int = 0
    waiting_on_them: int = 0

    @property
    def total(self) -> int:
        """All of them."""
        return self.promises + self.waiting_on_me + self.waiting_on_them


@dataclass(frozen=True, slots=True)
class KeptItem:
    """A promise a later message kept since the last digest (not numbered).

    :ivar promise_id: `Promise.id`.
    :ivar sentence: the promise sentence, one line.
    :ivar to: who it was made to.
    :ivar kept_at: when the keeping message was sent, in the user's time zone.
    :ivar evidence: what delivered it, one line.
    """

    promise_id: str
    sentence: str
    to: tuple[str, ...]
    kept_at: datetime
    evidence: str


@dataclass(frozen=True, slots=True)
class Digest:
    """One day's digest, ready to render.

    :ivar day: the day it is for, in the user's time zone.
    :ivar generated_at: the `now` it was built for, in the user's time zone.
    :ivar timezone: the IANA zone name used for all times in it.
    :ivar due: section 1, most urgent first.
    :ivar undated: section 2, oldest first.
    :ivar waiting_on_me: section 3, longest waiting first.
    :ivar waiting_on_them: section 4, oldest first.
    :ivar reply_lag: section 5.
    :ivar notes: lines the daemon wants confirmed ("Marked promise 3 done").
    :ivar health: footer lines about accounts that cannot be read.
    :ivar index: ``(number, "promise" | "thread" | "intro" | "lead" |
        "contact", id)`` for every item, in number order: what a reply like
        "done 3" refers to.
    :ivar introductions, leads, keep_in_touch: the nudge sections
        (`kept.digest.nudges`).
    :ivar account: the one account it covers (``[digest] per_account``), or
        ``""`` for a digest of every account.
    :ivar more: ``(section, count)`` for each section the caps cut
        (``[digest] max_items`` and ``max_per_section``): what is not listed.
    :ivar history: open items older than the history cutoff, counted only.
    :ivar kept_recently: promises a later message kept in the last day,
        with the evidence (unnumbered).
    """

    day: date
    generated_at: datetime
    timezone: str
    due: tuple[PromiseItem, ...] = ()
    undated: tuple[PromiseItem, ...] = ()
    waiting_on_me: tuple[WaitingItem, ...] = ()
    waiting_on_them: tuple[FollowUpItem, ...] = ()
    reply_lag: ReplyLag = ReplyLag(None, None)
    notes: tuple[str, ...] = ()
    health: tuple[str, ...] = ()
    index: tuple[tuple[int, str, str], ...] = ()
    introductions: tuple[IntroItem, ...] = ()
    leads: tuple[LeadItem, ...] = ()
    keep_in_touch: tuple[ContactItem, ...] = ()
    account: str = ""
    more: tuple[tuple[str, int], ...] = ()
    history: History = field(default_factory=lambda: History())
    kept_recently: tuple[KeptItem, ...] = ()

    def more_in(self, section: str) -> int:
        """How many items of `section` (a `SECTIONS` key) the caps left out."""
        return dict(self.more).get(section, 0)

    @property
    def item_count(self) -> int:
        """Number of numbered items."""
        return len(self.index)

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to tell: no items, no notes, no account trouble."""
        return not (self.index or self.notes or self.health)

    @property
    def subject(self) -> str:
        """The e-mail subject: what is listed, e.g. "3 promises due · 5 waiting on you"."""
        parts = [
            _count(len(self.due), "promise due", "promises due"),
            _count(len(self.undated), "undated promise", "undated promises"),
            _count(len(self.waiting_on_me), "waiting on you", "waiting on you"),
            _count(len(self.waiting_on_them), "follow-up", "follow-ups"),
            _count(len(self.introductions) + len(self.leads) + len(self.keep_in_touch), "nudge", "nudges"),
        ]
        text = " · ".join(part for part in parts if part)
        if not text:
            text = "Nothing pending · an account needs attention" if self.health else "Nothing pending"
        return f"{self.account}: {text}" if self.account else text


def _count(number: int, singular: str, plural: str) -> str:
    if number == 0:
        return ""
    return f"{number} {singular if number == 1 else plural}"


# -- the builder ----------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _visible(status: str, snoozed_until: date | None, today: date) -> bool:
    """Open, or snoozed until today or earlier."""
    if status == "open":
        return True
    if status == "snoozed":
        return snoozed_until is None or snoozed_until <= today
    return False


def _names(message: MailMessage | None) -> dict[str, str]:
    """address -> display name from a stored message's headers."""
    if message is None:
        return {}
    found: dict[str, str] = {}
    for address in (message.from_addr, *message.to, *message.cc):
        if address is not None and address.email and address.name:
            found.setdefault(address.email, one_line(address.name, MAX_NAME_CHARS))
    return found


def _labels(addresses: Iterable[str], names: dict[str, str], people: People | None = None) -> tuple[str, ...]:
    """Display names for `addresses`: from the message, else the name kept knows, else the address."""
    return tuple(
        names.get(address) or (people.label(address) if people else address) for address in addresses if address
    )


@dataclass(frozen=True, slots=True)
class Candidates:
    """Everything the digest could list today, before ranking and caps.

    `build_digest` ranks and cuts this; ``kept threads`` and ``kept status``
    list and count the same items, so every count agrees with the digest's.

    :ivar sections: unnumbered items by `SECTIONS` key (news only).
    :ivar stale_promises: open promises older than the history cutoff.
    :ivar stale_waiting_on_me: waiting items older than it.
    :ivar stale_waiting_on_them: follow-up items older than it.
    :ivar threads: the threads read (for ranking and reply times).
    :ivar lags: reply-time statistics per contact.
    :ivar kept_recently: promises kept in the last day.
    :ivar health: account health lines.
    :ivar reply_bodies: what writes the holding reply's text of each
        waiting item, by (thread key, Message-ID). The items' ``reply_link``
        is left empty here, and the text unwritten: percent-encoding a link
        for each of 13,580 candidates took 0.4 s at 200,000 messages, and
        finding the first name of each sender for its greeting another
        0.3 s, and the digest lists a dozen of them.
    :ivar reply_lag: the reply-lag line (section 5).
    """

    sections: dict[str, tuple[Any, ...]]
    stale_promises: tuple[Promise, ...]
    stale_waiting_on_me: tuple[WaitingItem, ...]
    stale_waiting_on_them: tuple[FollowUpItem, ...]
    threads: tuple[Thread, ...]
    lags: dict[str, LagStats]
    kept_recently: tuple[KeptItem, ...]
    health: tuple[str, ...]
    reply_bodies: dict[tuple[str, str], Callable[[], str]] = field(default_factory=dict)
    reply_lag: ReplyLag = ReplyLag(None, None)

    def with_reply_link(self, item: WaitingItem) -> WaitingItem:
        """`item` with its ``mailto:`` link to a prefilled holding reply."""
        write = self.reply_bodies.get((item.thread_key, item.message_id))
        body = write() if write is not None else ""
        return replace(item, reply_link=holding_reply_link(item.contact, item.subject, item.message_id, body))


def digest_candidates(store: Store, now: datetime, settings: Settings, account: str | None = None) -> Candidates:
    """What the digest for the day of `now` could list, split into news and history.

    Reads the store (in one transaction), changes nothing. `account` limits
    it to one account.
    """
    zone = user_timezone(settings.timezone)
    now = _aware(now)
    today = now.astimezone(zone).date()
    me = frozenset(settings.addresses)
    # Items are built unnumbered; `rank_sections` numbers what it lists.
    unnumbered = Numbering()

    with store.transaction():
        muted = frozenset(a.strip().lower() for a in meta_strings(store, "muted_contacts"))
        promises = list(store.promises())
        threads = list(store.threads())
        if account is not None:
            promises = [p for p in promises if p.account == account]
            threads = [t for t in threads if t.account == account]
        accounts = {p.account for p in promises} | {t.account for t in threads}
        cutoffs = {name: history_cutoff(store, name) for name in accounts}
        news, history_promises = _split_history(promises, cutoffs)
        people = people_from_store(store, me, account)
        # Muting one of a person's addresses mutes the person.
        muted = frozenset(alias for address in muted for alias in people.aliases(address))
        # Who the user writes to, and when, decides whether a message was
        # answered elsewhere or comes from a stranger (see awaiting_my_reply)
        # and whether a promise on the reader's move is due yet; read once
        # from all threads for all lists, a second of work at 200k messages.
        history = mail_history(threads, me)
        due_items, undated_items = _promise_sections(
            store, news, settings, now, today, zone, muted, unnumbered, people, history
        )
        # The answers in every thread, walked once for the lags and both windows of the reply-lag line.
        events = all_reply_events(threads, me)
        lags = lags_of(events)
        reply_lag = ReplyLag(
            recent_hours=median_of_my_replies(events, now - LAG_RECENT, now),
            baseline_hours=median_of_my_replies(events, now - LAG_RECENT - LAG_BASELINE, now - LAG_RECENT),
        )
        waiting, reply_bodies = _waiting_on_me(
            store, threads, history, settings, now, today, zone, muted, lags, unnumbered, people
        )
        follow_ups = _waiting_on_them(store, threads, history, settings, now, today, zone, muted, unnumbered, people)
        health = _health_lines(store, settings, zone, today, account)
        nudges = build_nudge_sections(store, threads, settings, now, today, zone, muted, unnumbered.zero, people)
        kept_recently = _kept_recently(store, promises, now, zone, people)

    # Copies of one message (Enron's sent folders hold many, hours apart and
    # under new Message-IDs) and a question asked twice the same day are one item.
    waiting = one_per_copy(waiting, lambda i: (i.contact, normalize_subject(i.subject)), lambda i: i.since)
    follow_ups = one_per_copy(
        follow_ups, lambda i: (i.to, normalize_subject(i.subject)), lambda i: i.asked_at
    )
    due_items = one_per_copy(due_items, lambda i: (i.parties, " ".join(i.sentence.lower().split())), lambda i: i.made_at)
    undated_items = one_per_copy(
        undated_items, lambda i: (i.parties, " ".join(i.sentence.lower().split())), lambda i: i.made_at
    )
    waiting, old_waiting = split_items(waiting, cutoffs, lambda item: (item.account, item.since))
    follow_ups, old_follow_ups = split_items(follow_ups, cutoffs, lambda item: (item.account, item.asked_at))
    intros, _ = split_items(nudges.introductions, cutoffs, lambda item: (item.account, item.made_at))
    leads, _ = split_items(nudges.leads, cutoffs, lambda item: (item.account, item.received_at))
    return Candidates(
        sections={
            "due": due_items,
            "undated": undated_items,
            "waiting_on_me": waiting,
            "waiting_on_them": follow_ups,
            "introductions": intros,
            "leads": leads,
            "keep_in_touch": nudges.keep_in_touch,
        },
        stale_promises=tuple(
            p for p in history_promises
            if _visible(p.status, p.snoozed_until, today)
            and not (p.counterparties and set(p.counterparties) <= muted)
        ),
        stale_waiting_on_me=old_waiting,
        stale_waiting_on_them=old_follow_ups,
        threads=tuple(threads),
        lags=lags,
        kept_recently=kept_recently,
        health=health,
        reply_bodies=reply_bodies,
        reply_lag=reply_lag,
    )


def build_digest(
    store: Store, now: datetime, settings: Settings, notes: Sequence[str] = (), account: str | None = None
) -> Digest:
    """Build the digest for the day of `now` (in ``settings.timezone``).

    Reads the store, changes nothing. `notes` are lines the daemon wants to
    confirm to the user (what it did with the replies to the last digest).
    `account` limits it to one account's promises, threads and health
    (``[digest] per_account = true``).
    """
    zone = user_timezone(settings.timezone)
    now = _aware(now)
    local_now = now.astimezone(zone)
    today = local_now.date()
    me = frozenset(settings.addresses)
    found = digest_candidates(store, now, settings, account)
    threads, lags, health, kept_recently = found.threads, found.lags, found.health, found.kept_recently
    history = History(
        promises=len(found.stale_promises),
        waiting_on_me=len(found.stale_waiting_on_me),
        waiting_on_them=len(found.stale_waiting_on_them),
    )
    sections = found.sections
    listed, more, index = rank_sections(sections, threads, me, lags, today, settings)
    listed["waiting_on_me"] = tuple(found.with_reply_link(item) for item in listed["waiting_on_me"])

    lag = found.reply_lag
    return Digest(
        day=today,
        generated_at=local_now,
        timezone=settings.timezone,
        due=listed["due"],
        undated=listed["undated"],
        waiting_on_me=listed["waiting_on_me"],
        waiting_on_them=listed["waiting_on_them"],
        reply_lag=lag,
        notes=tuple(one_line(note, 300) for note in notes if one_line(note, 300)),
        health=health,
        index=index,
        introductions=listed["introductions"],
        leads=listed["leads"],
        keep_in_touch=listed["keep_in_touch"],
        account=account or "",
        more=more,
        history=history,
        kept_recently=kept_recently,
    )


# -- history, ranking and caps --------------------------------------------


def _split_history(
    promises: list[Promise], cutoffs: dict[str, datetime | None]
) -> tuple[list[Promise], list[Promise]]:
    """(news, history): open promises made before their account's cutoff are history."""
    news: list[Promise] = []
    old: list[Promise] = []
    for promise in promises:
        cutoff = cutoffs.get(promise.account)
        if promise.is_open and cutoff is not None and _aware(promise.made_at) < cutoff:
            old.append(promise)
        else:
            news.append(promise)
    return news, old


def _kept_recently(
    store: Store, promises: list[Promise], now: datetime, zone: tzinfo, people: People | None = None
) -> tuple[KeptItem, ...]:
    """Promises a later message kept within the last day, newest first."""
    since = now - KEPT_RECENTLY
    found = [
        p for p in promises
        if p.status == "kept" and p.closed_at is not None and since <= _aware(p.closed_at) <= now
    ]
    found.sort(key=lambda p: (_aware(p.closed_at or p.made_at), p.id), reverse=True)
    items = []
    for promise in found[:MAX_KEPT_LINES]:
        message = store.get_message(promise.account, promise.message_id)
        items.append(KeptItem(
            promise_id=promise.id,
            sentence=one_line(promise.sentence, 300),
            to=_labels(promise.counterparties, _names(message), people),
            kept_at=_aware(promise.closed_at or promise.made_at).astimezone(zone),
            evidence=one_line(promise.evidence or "", 200),
        ))
    return tuple(items)


def _promise_sections(
    store: Store,
    promises: list[Promise],
    settings: Settings,
    now: datetime,
    today: date,
    zone: tzinfo,
    muted: frozenset[str],
    numbering: Numbering,
    people: People | None = None,
    history: MailHistory | None = None,
) -> tuple[tuple[PromiseItem, ...], tuple[PromiseItem, ...]]:
    """(due, undated) promise items, without those not owed yet (`kept.extractors.promise_conditions`).

    A standing offer ("I'll keep you posted on any changes"), a pleasantry
    ("I'll talk to you next week") and an undated promise the extractor was
    unsure of (`kept.digest.rank.UNDATED_LISTING_CONFIDENCE`) are never
    listed. With
    `history`, a promise on the reader's move ("Send me your names and I'll
    print them") is listed once one of the people it was made to has
    written to the user since.
    """
    soon = today + timedelta(days=settings.digest.due_soon_days)
    undated_before = now - timedelta(days=settings.digest.undated_after_days)
    due: list[Promise] = []
    undated: list[Promise] = []
    for promise in promises:
        if not _visible(promise.status, promise.snoozed_until, today):
            continue
        if promise.counterparties and set(promise.counterparties) <= muted:
            continue
        if on_an_event(promise.sentence) or pleasantry(promise.sentence):
            continue
        if promise.due_is_default and promise.confidence < UNDATED_LISTING_CONFIDENCE:
            continue
        if history is not None and promise.counterparties and on_the_readers_move(promise.sentence) and not any(
            history.heard_from(person, _aware(promise.made_at), now - _aware(promise.made_at))
            for person in promise.counterparties
        ):
            continue
        if promise.due is not None and promise.due <= soon:
            due.append(promise)
        elif promise.due_is_default and _aware(promise.made_at) <= undated_before:
            undated.append(promise)
    due.sort(key=lambda p: (p.due, _aware(p.made_at), p.id))
    undated.sort(key=lambda p: (_aware(p.made_at), p.id))

    def item(promise: Promise) -> PromiseItem:
        message = store.get_message(promise.account, promise.message_id)
        subject = promise.subject or (message.subject if message else "")
        return PromiseItem(
            number=numbering.next("promise", promise.id),
            promise_id=promise.id,
            account=promise.account,
            message_id=promise.message_id,
            sentence=one_line(promise.sentence, 500),
            subject=one_line(subject),
            to=_labels(promise.counterparties, _names(message), people),
            made_at=_aware(promise.made_at).astimezone(zone),
            due=promise.due,
            due_is_default=promise.due_is_default,
            days_left=(promise.due - today).days if promise.due is not None else None,
            parties=promise.counterparties,
            confidence=promise.confidence,
        )

    # Numbers are handed out in display order: section 1 first, then 2.
    due_items = tuple(item(p) for p in due)
    undated_items = tuple(item(p) for p in undated)
    return due_items, undated_items


def _thread_visible(thread: Thread, today: date) -> bool:
    return _visible(thread.status, thread.snoozed_until, today)


def _waiting_on_me(
    store: Store,
    threads: list[Thread],
    history: MailHistory,
    settings: Settings,
    now: datetime,
    today: date,
    zone: tzinfo,
    muted: frozenset[str],
    lags: dict[str, LagStats],
    numbering: Numbering,
    people: People | None = None,
) -> tuple[tuple[WaitingItem, ...], dict[tuple[str, str], Callable[[], str]]]:
    """The threads waiting on the user's reply, as unnumbered items, and
    what writes the holding reply's text of each by (thread key, Message-ID)."""
    me = frozenset(settings.addresses)
    names = my_names(settings.name, me)
    # A lead ("you should talk to Carla") waiting on the user is listed once,
    # under "thank and report back", where the right answer is a thank-you
    # rather than a holding reply.
    nudges = settings.nudges
    lead_messages = (
        {lead.message_id for lead in store.leads() if lead.status != "dismissed"}
        if nudges.enabled and nudges.thanks.enabled
        else set()
    )
    found = []
    for thread in threads:
        if not _thread_visible(thread, today):
            continue
        waiting = awaiting_my_reply(thread, me, settings.threads, now, history, names)
        if waiting is None or waiting.sender in muted or waiting.message_id in lead_messages:
            continue
        found.append((thread, waiting))
    found.sort(key=lambda pair: (_aware(pair[1].date), pair[0].key))

    answer_by = today + timedelta(days=settings.digest.holding_reply_days)
    items = []
    bodies: dict[tuple[str, str], Callable[[], str]] = {}
    for thread, waiting in found:
        message = store.get_message(thread.account, waiting.message_id)
        sender = message.from_addr if message else None
        # The name kept knows reads "First Last" ("Hedstrom, Peggy" is Peggy Hedstrom).
        known = people.name(waiting.sender) if people else ""
        contact_name = one_line(known or (sender.name if sender else "") or waiting.sender, MAX_NAME_CHARS)
        subject = one_line(message.subject if message and message.subject else thread.subject)
        bodies[(thread.key, waiting.message_id)] = functools.partial(
            _holding_reply, settings.digest.holding_reply, sender, known, answer_by, settings.name
        )
        stats = lags.get(waiting.sender)
        items.append(
            WaitingItem(
                number=numbering.next("thread", thread.key),
                thread_key=thread.key,
                account=thread.account,
                message_id=waiting.message_id,
                subject=subject,
                contact=waiting.sender,
                contact_name=contact_name,
                since=_aware(waiting.date).astimezone(zone),
                waited_hours=(now - _aware(waiting.date)).total_seconds() / 3600,
                usual_hours=stats.my_median if stats else None,
                reply_link="",
                question=message.question if message else "",
            )
        )
    return tuple(items), bodies


def _holding_reply(template: str, sender: Address | None, known: str, answer_by: date, my_name: str) -> str:
    """The holding reply's text to `sender` (`known`: the name kept knows for them)."""
    return holding_reply_body(template, first_name(sender, known), answer_by, my_name)


def _waiting_on_them(
    store: Store,
    threads: list[Thread],
    history: MailHistory,
    settings: Settings,
    now: datetime,
    today: date,
    zone: tzinfo,
    muted: frozenset[str],
    numbering: Numbering,
    people: People | None = None,
) -> tuple[FollowUpItem, ...]:
    me = frozenset(settings.addresses)
    found = []
    for thread in threads:
        if not _thread_visible(thread, today):
            continue
        asked = awaiting_their_reply(thread, me, settings.threads, now, history)
        if asked is None:
            continue
        # A muted recipient is not waited on; the others still are.
        recipients = [a for a in (*asked.to, *asked.cc) if a and a not in me and a not in muted]
        if not recipients:
            continue
        found.append((thread, asked, recipients))
    found.sort(key=lambda entry: (_aware(entry[1].date), entry[0].key))

    items = []
    for thread, asked, recipients in found:
        message = store.get_message(thread.account, asked.message_id)
        subject = one_line(message.subject if message and message.subject else thread.subject)
        parties = tuple(dict.fromkeys(recipients))
        items.append(
            FollowUpItem(
                number=numbering.next("thread", thread.key),
                thread_key=thread.key,
                account=thread.account,
                message_id=asked.message_id,
                subject=subject,
                to=_labels(parties, _names(message), people),
                asked_at=_aware(asked.date).astimezone(zone),
                waited_hours=(now - _aware(asked.date)).total_seconds() / 3600,
                parties=parties,
                question=message.question if message else "",
            )
        )
    return tuple(items)


def _health_lines(
    store: Store, settings: Settings, zone: tzinfo, today: date, only: str | None = None
) -> tuple[str, ...]:
    """One line per account whose last scan failed: "could not reach work since 09:12: ..."."""
    lines = []
    for account in settings.accounts:
        if only is not None and account.name != only:
            continue
        health = account_health(store, account.name)
        if health.get("ok", True):
            continue
        since = _parse_time(health.get("failing_since"))
        error = one_line(str(health.get("error") or "unknown error"), 200)
        if since is None:
            lines.append(f"could not reach {account.name}: {error}")
            continue
        local = since.astimezone(zone)
        when = f"{local:%H:%M}" if local.date() == today else f"{long_date(local.date())} {local:%H:%M}"
        lines.append(f"could not reach {account.name} since {when}: {error}")
    return tuple(lines)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None

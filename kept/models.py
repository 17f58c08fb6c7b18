"""The records that flow between kept's stages.

Records are frozen dataclasses: plain values with documented fields, no I/O and
no behaviour beyond small derived properties. Stages create new records with
`dataclasses.replace` instead of mutating old ones.

Vocabulary:

role
    ``"sent"`` for mail the user wrote (found in a sent folder), ``"received"``
    for everything else.
thread key
    A short opaque string shared by all messages of one conversation; see
    `kept.daemon.threader`.
fresh text
    The part of a body its author wrote in this message: without quoted
    replies, forwarded blocks, header blocks and signatures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

#: `datetime.date` under a name no record field hides (ThreadMessage has a
#: field called ``date``).
CalendarDay = date

Role = Literal["sent", "received"]
PromiseKind = Literal["deliver", "call-or-meet", "follow-up", "introduce", "other"]
PROMISE_KINDS: tuple[str, ...] = ("deliver", "call-or-meet", "follow-up", "introduce", "other")


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox address.

    :ivar name: display name as written in the header, possibly empty.
    :ivar email: the address, lower-cased; empty when the header held no address.
    """

    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def label(self) -> str:
        """The display name if there is one, else the address."""
        return self.name or self.email


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message as a mail source hands it over, before parsing.

    :ivar uid: the source's own stable identifier of the message inside its
        folder (IMAP UID as a string, Maildir key, ...).
    :ivar data: the complete RFC 5322 message as bytes.
    :ivar internal_date: when the message arrived, by the source's own
        record (IMAP INTERNALDATE, the Maildir delivery time or file time,
        Exchange's received time); used when the Date header is missing,
        broken or absurd. tz-aware or None.
    """

    uid: str
    data: bytes
    internal_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class MailMessage:
    """A parsed message: the only form of mail the later stages see.

    :ivar account: name of the account (config section) it came from.
    :ivar role: ``"sent"`` or ``"received"``.
    :ivar folder: folder name in the source.
    :ivar message_id: the Message-ID with angle brackets, e.g. ``<abc@host>``.
        When the header is missing, a stable one is made from a hash of the
        raw bytes: ``<sha1hex@kept.invalid>``.
    :ivar in_reply_to: the parent's Message-ID, or None.
    :ivar references: Message-IDs from the References header, oldest first.
    :ivar from_addr: the author, or None if unreadable.
    :ivar to: To recipients.
    :ivar cc: Cc recipients.
    :ivar date: when it was written, tz-aware UTC, within a sane range
        (`kept.extractors.message.sane_date`). A missing, unreadable or
        absurd Date header gives way to the source's internal date (never
        later than the reader's clock), then to the Unix epoch; `problems`
        says so.
    :ivar subject: the decoded subject, one line, control characters removed.
    :ivar body_text: the fresh text only (see module docstring).
    :ivar has_attachment: True if any part is an attachment (or inline file).
    :ivar attachment_names: file names of those parts.
    :ivar links: http(s) URLs found in the fresh text.
    :ivar automated: True for machine-sent mail: mailing lists, bulk mail,
        auto-replies, bounces, noreply senders.
    :ivar calendar_invite: True if the message carries a text/calendar part
        or .ics file (a meeting request).
    :ivar forwarded: True if the message forwards earlier mail: an attached
        message, a "Forwarded by" / "Forwarded message" block first, or a
        Fw:/Fwd: subject over an "Original Message" or header block.
    :ivar problems: short descriptions of what could not be read.
    :ivar size: length of the raw message in bytes.
    :ivar thread_key: conversation key; empty until threading assigns it.
    :ivar question: the first sentence of the fresh text that asks (of the
        user's own mail: that asks for an answer), one line of at most
        `kept.extractors.asks.QUESTION_CHARS` characters; '' when none, and
        until threading reads the text. The digest quotes it, since a
        subject such as "Re:" does not say what is waited for; unlike the
        body, it is stored.
    """

    account: str
    role: Role
    folder: str
    message_id: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    from_addr: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    date: datetime = datetime(1970, 1, 1)
    subject: str = ""
    body_text: str = ""
    has_attachment: bool = False
    attachment_names: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    automated: bool = False
    calendar_invite: bool = False
    problems: tuple[str, ...] = ()
    size: int = 0
    thread_key: str = ""
    forwarded: bool = False
    question: str = ""

    @property
    def recipients(self) -> tuple[Address, ...]:
        """To and Cc together, in header order."""
        return self.to + self.cc


@dataclass(frozen=True, slots=True)
class PromiseCandidate:
    """A promise found in one piece of text, before it is tied to a message.

    This is what the extractor returns and what ``kept extract --jsonl`` prints.

    :ivar sentence: the sentence containing the promise, whitespace collapsed.
    :ivar action: the promised action phrase, e.g. ``"send you the article"``.
    :ivar kind: one of `PROMISE_KINDS`.
    :ivar due: the date the text names for it, resolved against the text's
        date; None when the text names none.
    :ivar due_text: the words that named the due date ("by Friday"), or None.
    :ivar confidence: 0.0-1.0, how sure the rule that matched is.
    :ivar rule_id: id of the pattern row that matched.
    :ivar named_person: a person the sentence names as the counterparty
        ("I'll call John"), or None.
    """

    sentence: str
    action: str
    kind: str
    due: date | None
    due_text: str | None
    confidence: float
    rule_id: str
    named_person: str | None = None


PromiseStatus = Literal["open", "kept", "done", "dismissed", "snoozed"]


@dataclass(frozen=True, slots=True)
class Promise:
    """A promise the user made in a sent message, as stored.

    :ivar id: stable id: a hash of account, message id and sentence, so
        rescanning the same mail produces the same id.
    :ivar account: account the message belongs to.
    :ivar message_id: Message-ID of the sent message.
    :ivar thread_key: its conversation.
    :ivar sentence, action, kind, confidence, rule_id: see `PromiseCandidate`.
    :ivar counterparties: e-mail addresses the promise was made to (the
        message's recipients).
    :ivar named_person: person named in the sentence, if any.
    :ivar made_at: when the message was sent (UTC).
    :ivar due: due date: the one named in the text, else made_at plus the
        configured horizon for the kind.
    :ivar due_is_default: True when `due` comes from the horizon, not the text.
    :ivar status: ``open``, ``kept`` (a later message delivered it), ``done``
        (closed by the user), ``dismissed`` (user said: not a promise) or
        ``snoozed``.
    :ivar evidence: for ``kept``: what delivered it (e.g. "attachment in
        <id>"), else None.
    :ivar closed_at: when it stopped being open, or None.
    :ivar snoozed_until: for ``snoozed``: the date it comes back.
    """

    id: str
    account: str
    message_id: str
    thread_key: str
    sentence: str
    action: str
    kind: str
    counterparties: tuple[str, ...]
    made_at: datetime
    due: date | None
    due_is_default: bool
    confidence: float
    rule_id: str
    named_person: str | None = None
    status: str = "open"
    evidence: str | None = None
    closed_at: datetime | None = None
    snoozed_until: date | None = None
    subject: str = ""

    @property
    def is_open(self) -> bool:
        """True while the promise still needs doing (open or snoozed)."""
        return self.status in ("open", "snoozed")


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """What a thread remembers of one of its messages (no body).

    :ivar message_id: Message-ID.
    :ivar role: ``"sent"`` or ``"received"``.
    :ivar date: UTC date.
    :ivar sender: author's address, lower-cased ('' if unknown).
    :ivar to: To addresses, lower-cased.
    :ivar cc: Cc addresses, lower-cased.
    :ivar automated: machine-sent.
    :ivar asks: True if the fresh text asks a question or makes a request.
    :ivar needs_reply: False for mail that needs no answer (a short "thanks!").
    :ivar addressed: lower-cased names its questions are addressed to ("Jim,
        any comments?"), ``"*"`` for a group greeting; () if not known.
    :ivar asks_until: the last day its questions are about ("Are you free at
        5:30 today?": the day it was sent), after which nobody waits on
        them; None when a question names no day or a deadline ("by Friday").
    """

    message_id: str
    role: str
    date: datetime
    sender: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    automated: bool = False
    asks: bool = False
    needs_reply: bool = True
    addressed: tuple[str, ...] = ()
    asks_until: CalendarDay | None = None


@dataclass(frozen=True, slots=True)
class Thread:
    """One conversation.

    :ivar key: the thread key.
    :ivar account: the account it belongs to.
    :ivar subject: subject of its first message, normalized (no Re:/Fw:).
    :ivar messages: its messages, oldest first.
    :ivar status: ``open``, ``done`` (user closed it) or ``snoozed``.
    :ivar snoozed_until: for ``snoozed``, the date it comes back.
    :ivar done_at: when the user closed it; messages after that reopen it.
    """

    key: str
    account: str
    subject: str
    messages: tuple[ThreadMessage, ...] = field(default_factory=tuple)
    status: str = "open"
    snoozed_until: date | None = None
    done_at: datetime | None = None

    @property
    def last(self) -> ThreadMessage | None:
        """The newest message, or None for an empty thread."""
        return self.messages[-1] if self.messages else None


@dataclass(frozen=True, slots=True)
class Introduction:
    """An introduction the user made: one sent message connecting two or more people.

    :ivar id: stable id: a hash of account and message id.
    :ivar account: account of the sent message.
    :ivar message_id: its Message-ID.
    :ivar thread_key: its conversation.
    :ivar made_at: when it was sent (UTC).
    :ivar people: the addresses of the people introduced (the recipients
        other than the user), in header order.
    :ivar names: their display names where known, else the address; same
        order as `people`.
    :ivar sentence: the sentence that makes the introduction, one line.
    :ivar subject: the message's subject.
    :ivar status: ``open``, ``done`` (the user followed up, or said so),
        ``dismissed`` (not an introduction) or ``snoozed``.
    :ivar snoozed_until: for ``snoozed``: the date it comes back.
    :ivar closed_at: when it stopped being open, or None.
    """

    id: str
    account: str
    message_id: str
    thread_key: str
    made_at: datetime
    people: tuple[str, ...]
    names: tuple[str, ...] = ()
    sentence: str = ""
    subject: str = ""
    status: str = "open"
    snoozed_until: date | None = None
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """True while it may still be listed (open or snoozed)."""
        return self.status in ("open", "snoozed")


@dataclass(frozen=True, slots=True)
class Lead:
    """A lead, referral or introduction someone sent the user.

    :ivar id: stable id: a hash of account and message id.
    :ivar account: account of the received message.
    :ivar message_id: its Message-ID.
    :ivar thread_key: its conversation.
    :ivar received_at: when it arrived (UTC).
    :ivar from_email: who gave the lead (lower-cased address).
    :ivar from_name: their display name, or the address.
    :ivar about: the person or company the lead points to, as written
        ("Carla Mendes at Oakridge"), or '' when the text names none.
    :ivar sentence: the sentence that gives the lead, one line.
    :ivar subject: the message's subject.
    :ivar status: ``open``, ``done`` (the user reported back, or said so),
        ``dismissed`` (not a lead) or ``snoozed``.
    :ivar thanked_at: when the user said (``done``) they thanked the giver
        outside mail; a later sent message to them counts by itself.
    :ivar snoozed_until: for ``snoozed``: the date it comes back.
    :ivar closed_at: when it stopped being open, or None.
    """

    id: str
    account: str
    message_id: str
    thread_key: str
    received_at: datetime
    from_email: str
    from_name: str = ""
    about: str = ""
    sentence: str = ""
    subject: str = ""
    status: str = "open"
    thanked_at: datetime | None = None
    snoozed_until: date | None = None
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """True while it may still be listed (open or snoozed)."""
        return self.status in ("open", "snoozed")


@dataclass(frozen=True, slots=True)
class ScanProblem:
    """A message a scan skipped because one of its steps failed on it.

    The scan records it, moves its cursor past the message and carries on
    (`kept.storage.base.record_scan_problems`); ``kept status`` lists it.

    :ivar account: the account being scanned.
    :ivar folder: the folder the message is in.
    :ivar uid: the source's id of the message in that folder (IMAP UID,
        Maildir key, Exchange item id): where to find it.
    :ivar message_id: its Message-ID, or '' when it was never parsed.
    :ivar step: the step that failed: ``parse``, ``extract`` (promises),
        ``thread`` or ``store`` (see `kept.daemon.scan`).
    :ivar reason: the error, one line (exception type and message).
    :ivar at: when the scan met it (the scanner's clock, UTC).
    """

    account: str
    folder: str
    uid: str
    message_id: str
    step: str
    reason: str
    at: datetime

"""The mail of the model-based test (tests/test_model_based.py): people, conversations, digests read back.

Each sequence gets a few contacts and conversations with them, written as
real RFC 5322 messages into a Maildir (inbox ``cur/``, sent mail
``.Sent/cur/``) one message at a time, as a mail client would deliver them.
Three kinds of conversation, each one thread with one contact:

``promise``
    they ask for a thing, the user promises it ("I will send you the
    revised budget by Friday."), later the user may keep it ("Here is the
    revised budget, as promised.") and they may thank them;
``question``
    they ask a question (waiting on the user); the user may answer;
``follow-up``
    the user asks them something (waiting on them); they may answer.

What each message is and which one keeps a promise is known here, so the
reference model can say what the database must hold without asking kept.
Subjects, things and names are unique within a sequence, so a digest's line
("[3] "I will send you the revised budget by Friday."") names one item.

`read_digest` reads a digest the way the user does: its plain text.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from tests.helpers import ME

PEOPLE = [
    ("Anna", "Keller"), ("Bruno", "Haas"), ("Chiara", "Benedetti"), ("Dmitri", "Volkov"),
    ("Elif", "Aydin"), ("Farid", "Nasser"), ("Greta", "Lindqvist"), ("Hugo", "Marchetti"),
    ("Ines", "Carvalho"), ("Jonas", "Brandt"),
]
#: What is promised and asked about, one per conversation. No two share a word (of the five first
#: letters kept's fulfilment rules compare): a "Here is the slide deck" must keep no promise but its own.
THINGS = [
    "budget spreadsheet", "venue shortlist", "slide deck", "price quote", "travel itinerary", "press release",
    "survey results", "workshop agenda", "supplier contract", "training schedule", "floor plan", "catering menu",
    "insurance certificate", "hiring brief", "logo sketches", "audit checklist", "warranty terms",
    "shipping labels", "meeting minutes", "photo archive", "seating chart", "podcast script", "grant proposal",
    "vendor invoice", "board memo", "parking permit", "course syllabus", "lease renewal", "drone footage",
    "crew roster",
]
#: Conversations a sequence starts at most.
MAX_CONVERSATIONS = 20
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

#: What the user writes: (role in the conversation, folder, text). ``{thing}`` and ``{day}`` are filled in.
SCRIPTS: dict[str, list[tuple[str, str, str]]] = {
    "promise": [
        ("ask", "inbox", "Hi Sam,\n\nCould you send me the {thing}?\n\nThanks,\n{first}\n"),
        ("promise", "sent", "Hi {first},\n\nSure. {sentence}\n\nBest,\nSam\n"),
        ("keep", "sent", "Hi {first},\n\nHere is the {thing} you asked for, as promised. "
                          "I hope it helps.\n\nSam\n"),
        ("thanks", "inbox", "Thanks a lot!\n\n{first}\n"),
    ],
    "question": [
        ("question", "inbox", "Hi Sam,\n\nAre you free to talk about the {thing} on {day}?\n\n{first}\n"),
        ("answer", "sent", "Hi {first},\n\nYes, {day} works for me.\n\nSam\n"),
    ],
    "follow-up": [
        ("follow-up", "sent", "Hi {first},\n\nDid you have a chance to look at the {thing}?\n\nSam\n"),
        ("reply", "inbox", "Hi Sam,\n\nYes, the {thing} looks good to me.\n\n{first}\n"),
    ],
}

#: Whether a conversation goes on after each of its messages: the next one comes with this probability.
GOES_ON = {"ask": 1.0, "promise": 0.7, "keep": 0.5, "question": 0.6, "follow-up": 0.6}

FOLDERS = {"inbox": "", "sent": ".Sent"}


def promise_sentence(thing: str, day: str) -> str:
    """The promise the user makes in a ``promise`` conversation."""
    return f"I will send you the {thing} by {day}."


@dataclass(frozen=True)
class Contact:
    """Someone the user writes with."""

    first: str
    last: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def address(self) -> str:
        return f"{self.first.lower()}.{self.last.lower()}@example.org"

    @property
    def header(self) -> str:
        return f"{self.name} <{self.address}>"


@dataclass
class Mail:
    """One message delivered into the Maildir.

    :ivar tick: when it was delivered, on the sequence's one counter of
        deliveries and corrections (`tests.test_model_based.Model`).
    :ivar conversation: the conversation it belongs to, or None (a digest,
        a reply to one).
    :ivar role: its part in the conversation (``ask``, ``promise``, ``keep``,
        ...), or ``digest`` / ``digest-reply``.
    """

    message_id: str
    folder: str
    name: str
    date: datetime
    data: bytes
    tick: int = 0
    conversation: Conversation | None = None
    role: str = ""

    @property
    def person(self) -> Contact | None:
        return self.conversation.contact if self.conversation else None


@dataclass
class Conversation:
    """One thread with one contact; `mails` are its messages delivered so far."""

    number: int
    kind: str
    contact: Contact
    thing: str
    day: str
    mails: list[Mail] = field(default_factory=list)
    finished: bool = False

    @property
    def subject(self) -> str:
        return self.thing[0].upper() + self.thing[1:]

    @property
    def sentence(self) -> str | None:
        """The promise's sentence, for a ``promise`` conversation."""
        return promise_sentence(self.thing, self.day) if self.kind == "promise" else None

    def next_step(self) -> tuple[str, str, str] | None:
        """The next message of its script, or None when it is over."""
        script = SCRIPTS[self.kind]
        return None if self.finished or len(self.mails) >= len(script) else script[len(self.mails)]

    def mail(self, role: str) -> Mail | None:
        return next((m for m in self.mails if m.role == role), None)


class Mailbox:
    """A sequence's Maildir, its people and conversations, and every message written into it."""

    def __init__(self, root: Path, rng: random.Random, label: str) -> None:
        self.root = root
        self.rng = rng
        self.label = label
        for folder in FOLDERS.values():
            for part in ("cur", "new", "tmp"):
                (root / folder / part).mkdir(parents=True, exist_ok=True)
        self.contacts = [Contact(first, last) for first, last in rng.sample(PEOPLE, 4)]
        self._things = iter(rng.sample(THINGS, MAX_CONVERSATIONS))
        self.conversations: list[Conversation] = []
        self.mails: list[Mail] = []
        self._count = 0

    def start_conversation(self) -> Conversation:
        kind = self.rng.choice(["promise", "promise", "question", "follow-up"])
        conversation = Conversation(len(self.conversations), kind, self.rng.choice(self.contacts),
                                    next(self._things), self.rng.choice(WEEKDAYS))
        self.conversations.append(conversation)
        return conversation

    def write(self, conversation: Conversation, date: datetime, tick: int) -> Mail:
        """Deliver the next message of `conversation`, dated `date`."""
        step = conversation.next_step()
        assert step is not None
        role, folder, text = step
        contact = conversation.contact
        body = text.format(thing=conversation.thing, day=conversation.day, first=contact.first,
                           sentence=conversation.sentence or "")
        earlier = [m.message_id for m in conversation.mails]
        sender, to = (ME, contact.header) if folder == "sent" else (contact.header, ME)
        subject = ("Re: " if earlier else "") + conversation.subject
        headers = {"In-Reply-To": earlier[-1], "References": " ".join(earlier)} if earlier else {}
        data = message_bytes(self._message_id(), sender, to, date, subject, body, headers)
        mail = self.deliver(data, FOLDERS[folder], date, tick, conversation=conversation, role=role)
        conversation.mails.append(mail)
        if self.rng.random() > GOES_ON.get(role, 0.0):
            conversation.finished = True
        return mail

    def deliver(self, data: bytes, folder: str, date: datetime, tick: int, *, conversation: Conversation | None = None,
                role: str = "") -> Mail:
        """Put a message into `folder` (``""``: the inbox, ``".Sent"``), named and stamped with its delivery time."""
        self._count += 1
        stamp = int(date.timestamp())
        name = f"{stamp}.M{self._count}P{self.label}.test:2,S"
        path = self.root / folder / "cur" / name
        path.write_bytes(data)
        os.utime(path, (stamp, stamp))
        message_id = message_from_bytes(data, policy=policy.default)["Message-ID"]
        mail = Mail(message_id, folder, name, date, data, tick, conversation, role)
        self.mails.append(mail)
        return mail

    def _message_id(self) -> str:
        return f"<m{self._count + 1}.{self.label}@mail.test>"

    def reply_id(self) -> str:
        """A Message-ID for a message the test writes itself (a reply to the digest)."""
        return self._message_id()


def message_bytes(message_id: str, sender: str, to: str, date: datetime, subject: str, body: str,
                  headers: dict[str, str]) -> bytes:
    message = EmailMessage()
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(date)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    for name, value in headers.items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


# -- digests, as the user reads them -------------------------------------------------------

_ITEM = re.compile(r"^\[(\d+)\] (.*)$")


@dataclass(frozen=True)
class DigestItem:
    """One numbered line of a digest: a promise (by its sentence) or a conversation (by its subject)."""

    number: int
    kind: str  # "promise" or "thread"
    text: str


@dataclass
class Digest:
    message_id: str
    date: datetime
    data: bytes
    items: list[DigestItem]


def read_digest(data: bytes) -> Digest:
    """A digest's Message-ID, date and numbered items, read from its plain text."""
    message = message_from_bytes(data, policy=policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    lines = str(body.get_content()).splitlines()
    items = []
    joined = list(_lines_of(lines))
    for index, line in enumerate(joined):
        found = _ITEM.match(line)
        if found is None:
            continue
        number, rest = int(found.group(1)), found.group(2)
        if rest.startswith('"'):
            items.append(DigestItem(number, "promise", rest.strip('"')))
        elif rest.endswith(">") and " <" in rest:  # "[2] Anna Keller <anna.keller@example.org>" then the subject
            items.append(DigestItem(number, "thread", joined[index + 1].strip()))
        else:  # waiting on others: "[4] Subject"
            items.append(DigestItem(number, "thread", rest.strip()))
    return Digest(str(message["Message-ID"]), message["Date"].datetime, data, items)


def _lines_of(lines: list[str]) -> Iterator[str]:
    """The text's lines with a promise's wrapped sentence joined back into its first line."""
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].startswith("[") and joined[-1].count('"') == 1 and line.startswith("     "):
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    yield from joined


def received_digests(outbox: Path) -> list[Digest]:
    """Every digest the command route delivered, oldest first (a resent one appears twice)."""
    found = [read_digest(path.read_bytes()) for path in sorted((outbox / "new").iterdir())]
    return sorted(found, key=lambda digest: digest.date)

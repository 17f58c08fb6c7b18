"""Introductions the user made, and when to ask how they went.

An introduction is a sent message addressed to two to four people (To and
Cc, the user left out) whose fresh text connects them::

    "Anna, meet Ben"            "I'd like to introduce you to Ben"
    "connecting you two"        "let me introduce you both"
    "looping in Ben, who ..."   "putting you in touch with Ben"

Wording that names a person ("meet Ben", "introduce you to Ben", "looping
in Ben") only counts when that person is one of the recipients: "I'd like to
introduce you to our new VP" sent to a team is an announcement, not two
people being connected. "Meet X" only counts at the start of a sentence or
after a comma ("Anna, meet Ben"), never in "can you meet Ben on Friday".

About a week later (``follow_up_after_days``) the introduction is listed
until the user has written to each person since: any later sent message to
a person clears that side. A gentle "no surprises" note names the people the
user had not written to in the ``no_recent_contact_days`` before the
introduction (ask both sides before connecting them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kept.extractors.rhythm import ContactHistory
from kept.models import Address, Introduction, MailMessage
from kept.settings import IntroductionNudges

__all__ = [
    "IntroductionFinding",
    "IntroductionFollowUp",
    "find_introduction",
    "introduction_follow_ups",
    "introduction_id",
    "name_tokens",
    "sentences",
]

#: More recipients than this is an announcement to a group, not an introduction.
MAX_PEOPLE = 4

# Cheap test before any sentence is looked at: most mail has none of these.
_PREFILTER = re.compile(r"introduc|\bmeet\b|connect|loop|in touch", re.IGNORECASE)

# A sentence ends at . ! ? (not after a title like "Dr."), a blank line or a list item.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bMrs\.)(?<!\bProf\.)(?<!\be\.g\.)(?<!\bi\.e\.)\s+"
    r"|\n\s*\n|\n(?=\s*[-*•])"
)
_NAME = r"(?P<name>[A-Z][\w'’-]+)"

# Wording that connects the recipients without naming one.
_GENERIC = re.compile(
    r"\b(?:introduc(?:e|ing)\s+(?:you\s+)?(?:two|both|to\s+each\s+other|you\s+two|you\s+both)"
    r"|introduc(?:e|ing)\s+the\s+two\s+of\s+you"
    r"|(?:connect(?:ing)?|put(?:ting)?)\s+you\s+(?:two|both)(?:\s+in\s+touch)?\b"
    r"|(?:connect(?:ing)?|put(?:ting)?)\s+the\s+two\s+of\s+you)",
    re.IGNORECASE,
)
# Wording that names the person introduced; the name must be a recipient's.
_NAMED = (
    re.compile(r"(?i:\bintroduc(?:e|ing)\s+(?:you\s+to\s+)?)" + _NAME),
    re.compile(r"(?:^|[,;:–—-]\s*)(?i:meet)\s+" + _NAME),
    re.compile(r"(?i:\bloop(?:ing|ed)?\s+in\s+)" + _NAME),
    re.compile(r"(?i:\blooping\s+)" + _NAME + r"(?i:\s+in\b)"),
    re.compile(r"(?i:\b(?:put(?:ting)?|get(?:ting)?)\s+you\s+in\s+touch\s+with\s+)" + _NAME),
    re.compile(r"(?i:\bconnect(?:ing)?\s+you\s+(?:with|to)\s+)" + _NAME),
)
# Not people: words that follow "meet" or "introduce" in ordinary prose.
_NOT_NAMES = frozenset({"you", "the", "our", "my", "your", "a", "an", "this", "that", "myself", "them", "us"})


@dataclass(frozen=True, slots=True)
class IntroductionFinding:
    """What `find_introduction` found in one sent message.

    :ivar people: the recipients introduced (lower-cased addresses).
    :ivar names: their display names, else the address; same order.
    :ivar sentence: the sentence with the introducing words, one line.
    """

    people: tuple[str, ...]
    names: tuple[str, ...]
    sentence: str


def sentences(text: str) -> list[str]:
    """The sentences of `text`, each on one line (blank lines and list items split too)."""
    return [" ".join(part.split()) for part in _SENTENCE_END.split(text or "") if part and part.strip()]


def name_tokens(address: Address) -> set[str]:
    """Lower-cased words a person may be called by: display-name words and address parts."""
    tokens: set[str] = set()
    for word in re.findall(r"[^\W\d_][\w'’-]*", address.name or ""):
        if len(word) >= 2:
            tokens.add(word.lower())
    local = address.email.partition("@")[0]
    for part in re.split(r"[._\-+\d]+", local):
        if len(part) >= 3:
            tokens.add(part.lower())
    return tokens


def introduction_id(account: str, message_id: str) -> str:
    """Stable id of the introduction (or lead) in one message."""
    return hashlib.sha1(f"{account}\0{message_id}".encode("utf-8", "replace")).hexdigest()[:10]


def find_introduction(message: MailMessage, me: Iterable[str]) -> IntroductionFinding | None:
    """The introduction `message` (a sent message, body included) makes, or None."""
    if message.role != "sent" or message.automated or not message.body_text:
        return None
    own = frozenset(me)
    recipients: dict[str, Address] = {}
    for address in message.recipients:
        if address.email and address.email not in own:
            recipients.setdefault(address.email, address)
    if not 2 <= len(recipients) <= MAX_PEOPLE:
        return None
    if not _PREFILTER.search(message.body_text):
        return None
    tokens = {email: name_tokens(address) for email, address in recipients.items()}
    for sentence in sentences(message.body_text):
        if _GENERIC.search(sentence) or _names_a_recipient(sentence, tokens):
            people = tuple(recipients)
            names = tuple(recipients[email].name.strip() or email for email in people)
            return IntroductionFinding(people=people, names=names, sentence=sentence[:500])
    return None


def _names_a_recipient(sentence: str, tokens: dict[str, set[str]]) -> bool:
    for pattern in _NAMED:
        for match in pattern.finditer(sentence):
            name = match.group("name").lower()
            if name in _NOT_NAMES:
                continue
            if any(name in words for words in tokens.values()):
                return True
    return False


@dataclass(frozen=True, slots=True)
class IntroductionFollowUp:
    """An introduction to follow up on.

    :ivar introduction: the stored record.
    :ivar pending: the people the user has not written to since, in order.
    :ivar no_recent_contact: people the user had not written to in the
        configured days before the introduction.
    """

    introduction: Introduction
    pending: tuple[str, ...]
    no_recent_contact: tuple[str, ...]


def visible(status: str, snoozed_until: date | None, today: date) -> bool:
    """Open, or snoozed until today or earlier."""
    if status == "open":
        return True
    if status == "snoozed":
        return snoozed_until is None or snoozed_until <= today
    return False


def introduction_follow_ups(
    introductions: Iterable[Introduction],
    histories: dict[str, ContactHistory],
    now: datetime,
    today: date,
    settings: IntroductionNudges,
) -> list[IntroductionFollowUp]:
    """The introductions to list today, oldest first."""
    due_after = timedelta(days=settings.follow_up_after_days)
    give_up = timedelta(days=settings.give_up_after_days)
    recent = timedelta(days=settings.no_recent_contact_days)
    found = []
    for intro in introductions:
        if not visible(intro.status, intro.snoozed_until, today):
            continue
        age = now - intro.made_at
        if age < due_after or age > give_up:
            continue
        pending = []
        quiet = []
        for person in intro.people:
            history = histories.get(person)
            sent = history.sent if history else ()
            if not any(moment > intro.made_at for moment in sent):
                pending.append(person)
            if not any(intro.made_at - recent <= moment < intro.made_at for moment in sent):
                quiet.append(person)
        if pending:
            found.append(IntroductionFollowUp(intro, tuple(pending), tuple(quiet)))
    found.sort(key=lambda f: (f.introduction.made_at, f.introduction.id))
    return found

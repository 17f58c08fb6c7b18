"""Leads, referrals and introductions other people give the user.

A lead is a received message from a person (not a machine, not the user)
addressed to the user, whose fresh text hands the user a contact::

    "You should talk to Carla Mendes at Oakridge"
    "I passed your name to Carla" / "I gave your number to her"
    "I referred you to Carla" / "I recommended you to the Oakridge team"
    "I'd like to introduce you to Carla" / "Carla, meet Sam"
    "Carla asked me to connect you two" / "I can put you in touch with Carla"

"You should talk to ..." counts only with a name after it ("talk to your
manager" does not); questions do not count ("Should you talk to Carla?").

The giver deserves two messages: a thank-you within ``thank_within_days``
(any message the user sends them after the lead counts) and, later, news of
how it went (a message at least `REPORT_BACK_MIN_DAYS` after the thank-you,
asked for ``report_back_after_days`` after it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kept.extractors.introductions import name_tokens, sentences, visible
from kept.extractors.rhythm import ContactHistory
from kept.models import Lead, MailMessage
from kept.settings import ThanksNudges

__all__ = ["LeadFinding", "LeadNudge", "REPORT_BACK_MIN_DAYS", "find_lead", "lead_nudges"]

#: A message to the giver this long after the thank-you reports back.
REPORT_BACK_MIN_DAYS = 7

_PREFILTER = re.compile(
    r"talk|speak|reach out|in touch|contact|passed|gave|given|forwarded|shared|refer|recommend|mention"
    r"|introduc|\bmeet\b|connect",
    re.IGNORECASE,
)

# The trigger words; what follows them is read by `_about`.
_NEEDS_NAME = (
    re.compile(
        r"\byou\s+(?:really\s+)?(?:should|might\s+want\s+to|may\s+want\s+to|ought\s+to|must)\s+(?:really\s+)?"
        r"(?:talk|speak|reach\s+out|get\s+in\s+touch|connect)\s+(?:to|with)\s+",
        re.IGNORECASE,
    ),
    re.compile(r"\byou\s+(?:should|might\s+want\s+to|ought\s+to)\s+(?:call|contact|e-?mail|ping|meet)\s+", re.IGNORECASE),
    re.compile(r"\b(?:worth|suggest|recommend)\s+(?:talking|speaking|reaching\s+out)\s+(?:to|with)\s+", re.IGNORECASE),
    re.compile(r"\bintroduc(?:e|ing)\s+you\s+to\s+", re.IGNORECASE),
    re.compile(r"\b(?:put|get)(?:ting)?\s+you\s+in\s+touch\s+with\s+", re.IGNORECASE),
    re.compile(r"\bconnect(?:ing)?\s+you\s+(?:with|to)\s+", re.IGNORECASE),
)
_NAME_OPTIONAL = (
    re.compile(
        r"\b(?:I|we)\s+(?:have\s+|'ve\s+|’ve\s+|just\s+|already\s+)*(?:passed|gave|given|forwarded|sent|shared)\s+"
        r"(?:on\s+|along\s+)?your\s+(?:name|number|phone\s+number|e-?mail(?:\s+address)?|address|details|"
        r"contact(?:\s+(?:details|info\w*))?|info\w*|cv|resume|résumé|profile)\s+(?:on\s+|along\s+)?to\s+",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:I|we)\s+(?:have\s+|'ve\s+|’ve\s+|just\s+)*(?:referred|recommended|mentioned)\s+you\s+to\s+", re.IGNORECASE),
)
# "<Name> asked me to connect you" - the name comes first.
_ASKED = re.compile(
    r"(?P<name>[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){0,2})\s+(?i:asked\s+me\s+to\s+"
    r"(?:connect|introduce|put)\s+you)"
)
_REFERRED_TO_YOU = re.compile(
    r"(?i:\b(?:I|we)\s+(?:have\s+|'ve\s+)?(?:referred|sent|pointed)\s+)"
    r"(?P<name>[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){0,2})(?i:\s+(?:to\s+you|your\s+way))"
)
_CAP_WORD = re.compile(r"[A-Z][\w'’&.-]*")
_NOT_NAMES = frozenset({
    "I", "You", "Your", "The", "My", "Our", "Me", "Us", "Him", "Her", "Them", "It", "This", "That",
    "Someone", "Somebody", "Anyone", "Everyone", "HR",
})
_TITLES = frozenset({"Mr", "Mrs", "Ms", "Dr", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof.", "Prof"})
_CONNECTORS = ("at", "from", "of", "in", "with")


@dataclass(frozen=True, slots=True)
class LeadFinding:
    """What `find_lead` found in one received message.

    :ivar about: the person or company pointed to, or ''.
    :ivar sentence: the sentence that gives the lead, one line.
    """

    about: str
    sentence: str


def _about(text: str) -> str:
    """The name at the start of `text`: up to four capitalised words, maybe "at Company"."""
    tokens = text.split()
    taken: list[str] = []
    index = 0
    while index < len(tokens) and len(taken) < 4:
        token = tokens[index]
        word = token.rstrip(",.;:!?)")
        if word in _TITLES:
            taken.append(token)
            index += 1
            continue
        if not _CAP_WORD.fullmatch(word) or word in _NOT_NAMES:
            break
        taken.append(word)
        index += 1
        if word != token:
            return _named(taken)  # punctuation ends the name
    if index + 1 < len(tokens) and tokens[index] in _CONNECTORS and _named(taken):
        organisation = []
        for token in tokens[index + 1: index + 4]:
            word = token.rstrip(",.;:!?)")
            if not _CAP_WORD.fullmatch(word) or word in _NOT_NAMES:
                break
            organisation.append(word)
            if word != token:
                break
        if organisation:
            taken += [tokens[index], *organisation]
    return _named(taken)


def _named(words: list[str]) -> str:
    """The words as a name, or '' when they are only a title."""
    return " ".join(words) if any(w not in _TITLES for w in words) else ""


def find_lead(message: MailMessage, me: Iterable[str]) -> LeadFinding | None:
    """The lead `message` (a received message, body included) gives the user, or None."""
    own = frozenset(me)
    if message.role != "received" or message.automated or not message.body_text:
        return None
    sender = message.from_addr.email if message.from_addr else ""
    if not sender or sender in own:
        return None
    if not any(a.email in own for a in message.recipients):
        return None
    if not _PREFILTER.search(message.body_text):
        return None
    my_words = set()
    for address in message.recipients:
        if address.email in own:
            my_words |= name_tokens(address)
    for sentence in sentences(message.body_text):
        if sentence.rstrip().endswith("?"):
            continue
        found = _lead_in(sentence, my_words)
        if found is not None:
            return LeadFinding(about=found[:120], sentence=sentence[:500])
    return None


def _lead_in(sentence: str, my_words: set[str]) -> str | None:
    """The lead's `about` ('' when unnamed) if `sentence` gives one, else None."""
    for pattern in _NEEDS_NAME:
        for match in pattern.finditer(sentence):
            about = _about(sentence[match.end():])
            if about and about.split()[0].lower() not in my_words:
                return about
    for pattern in _NAME_OPTIONAL:
        hit = pattern.search(sentence)
        if hit:
            return _about(sentence[hit.end():])
    for pattern in (_ASKED, _REFERRED_TO_YOU):
        hit = pattern.search(sentence)
        if hit and hit.group("name").split()[0] not in _NOT_NAMES:
            return hit.group("name")
    return None


@dataclass(frozen=True, slots=True)
class LeadNudge:
    """A lead whose giver should hear from the user.

    :ivar lead: the stored record.
    :ivar stage: ``"thank"`` (no message to the giver since) or ``"report"``
        (thanked, now tell them how it went).
    :ivar thanked_at: when the user thanked them (a sent message, or the
        user's "done"), or None.
    """

    lead: Lead
    stage: str
    thanked_at: datetime | None = None


def thanked_at(lead: Lead, history: ContactHistory | None) -> datetime | None:
    """When the user first wrote to the giver after the lead (or said they thanked them)."""
    sent = history.sent if history else ()
    first = next((moment for moment in sent if moment > lead.received_at), None)
    if lead.thanked_at is not None and (first is None or lead.thanked_at < first):
        return lead.thanked_at
    return first


def lead_nudges(
    leads: Iterable[Lead],
    histories: dict[str, ContactHistory],
    now: datetime,
    today: date,
    settings: ThanksNudges,
) -> list[LeadNudge]:
    """The leads to list today, oldest first."""
    found = []
    for lead in leads:
        if not visible(lead.status, lead.snoozed_until, today):
            continue
        if now - lead.received_at > timedelta(days=settings.give_up_after_days):
            continue
        history = histories.get(lead.from_email)
        thanks = thanked_at(lead, history)
        if thanks is None:
            if now - lead.received_at >= timedelta(days=settings.thank_within_days):
                found.append(LeadNudge(lead, "thank"))
            continue
        if now - thanks < timedelta(days=settings.report_back_after_days):
            continue
        report_after = thanks + timedelta(days=REPORT_BACK_MIN_DAYS)
        sent = history.sent if history else ()
        if any(moment >= report_after for moment in sent):
            continue
        found.append(LeadNudge(lead, "report", thanks))
    found.sort(key=lambda n: (n.lead.received_at, n.lead.id))
    return found

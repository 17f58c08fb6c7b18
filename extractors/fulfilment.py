"""Deciding whether a later sent message keeps a promise.

A promise is kept when the user later sends the counterparty (or writes in
the same thread) a message that delivers it:

* ``deliver``: an attachment or a link, or delivery wording ("as promised",
  "here is", "attached is");
* ``call-or-meet``: a calendar invitation, or wording saying the call or
  meeting happened ("good talking to you", "as we discussed");
* ``follow-up``: any reply in the same thread, or follow-up wording
  ("following up", "getting back to you") to the counterparty;
* ``introduce``: a message introducing someone to the counterparty;
* ``other``: "as promised" / "done" wording.

The rules are conservative: a message that is merely addressed to the same
person in another conversation must also carry explicit wording or share
the promise's topic, because a false "kept" hides a promise the user still
owes, which is worse than a reminder too many.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from kept.models import MailMessage, Promise

__all__ = ["find_fulfilment"]

_AS_PROMISED = re.compile(
    r"\b(?:as\s+promised|as\s+requested|as\s+i\s+(?:said|mentioned|promised)|per\s+your\s+request|"
    r"following\s+up|to\s+follow\s+up|getting\s+back\s+to\s+you|get(?:ting)?\s+back\s+with\s+you)\b",
    re.IGNORECASE,
)
_DELIVERY = re.compile(
    r"\b(?:here\s+(?:is|are)|here's|attached\s+(?:is|are|please\s+find)|please\s+find\s+attached|"
    r"i\s+have\s+attached|i've\s+attached|attached\s+you\s+will\s+find|enclosed\s+(?:is|are)|"
    r"below\s+(?:is|are)|i\s+(?:am|'m)\s+(?:forwarding|sending)|forwarding\s+(?:you|this))\b",
    re.IGNORECASE,
)
_MET = re.compile(
    r"\b(?:(?:good|nice|great|pleasure)\s+(?:talking|speaking|meeting|seeing|chatting)|"
    r"(?:good|nice|great)\s+to\s+(?:talk|speak|see|meet)|thanks?\s+(?:you\s+)?for\s+(?:the\s+)?"
    r"(?:call|meeting|lunch|dinner|time)|as\s+(?:we\s+)?discussed|per\s+our\s+(?:call|conversation|meeting|discussion)|"
    r"(?:talked|spoke|met)\s+(?:to|with)\s+you|when\s+we\s+(?:talked|spoke|met))\b",
    re.IGNORECASE,
)
_INTRODUCTION = re.compile(
    r"\b(?:introduc(?:e|ing|tion)|i'd\s+like\s+you\s+to\s+meet|want(?:ed)?\s+to\s+connect\s+you|"
    r"put(?:ting)?\s+you\s+(?:two\s+)?in\s+touch|meet\s+each\s+other)\b",
    re.IGNORECASE,
)
_DONE = re.compile(
    r"\b(?:(?:it|this|that)\s+(?:is|has\s+been)\s+(?:done|taken\s+care\s+of|completed|fixed|paid|signed)|"
    r"i\s+(?:have|'ve)\s+(?:done|taken\s+care\s+of|completed|fixed|paid|signed|set\s+up)|all\s+set)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z][a-z'-]{3,}")
_COMMON = frozenset(
    "will with that this from your have send call back them they what when then there their "
    "about some more also into just over give make take look check know tomorrow today week "
    "monday tuesday wednesday thursday friday next soon".split()
)


def _topic_words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if word not in _COMMON}


#: A promise made to more people than this is closed outside its thread only
#: by the user: a later mass mail to some of them says nothing about it.
MAX_COUNTERPARTIES_OUTSIDE_THREAD = 5


def _shares_topic(promise: Promise, later: MailMessage) -> bool:
    """True if the later message is about the promised thing.

    Two content words of the promised action (or its only one) must appear
    in the later message's subject or text: one shared word like "report"
    is too weak in a busy mailbox.
    """
    wanted = _topic_words(promise.action)
    if not wanted:
        return False
    shared = wanted & _topic_words(f"{later.subject}\n{later.body_text[:20_000]}")
    return len(shared) >= min(2, len(wanted))


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC, so comparisons never raise."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _quote(match: re.Match[str]) -> str:
    return " ".join(match.group(0).split())


def find_fulfilment(promise: Promise, later: MailMessage) -> str | None:
    """Evidence that `later` keeps `promise`, or None.

    `later` must be a sent message written after the promise was made and
    either belong to the promise's thread or go to one of its
    counterparties; otherwise the answer is always None.

    :returns: a short evidence string naming what delivered the promise
        and the message, e.g. ``"attachment report.xls in <id@host>"``.
    """
    if later.role != "sent" or later.message_id == promise.message_id:
        return None
    if _utc(later.date) <= _utc(promise.made_at):
        return None
    same_thread = bool(promise.thread_key) and later.thread_key == promise.thread_key
    counterparties = {address.lower() for address in promise.counterparties}
    # Outside the thread, only mail addressed to them directly (To, not Cc)
    # and only for a promise made to a few people can count.
    to_counterparty = len(counterparties) <= MAX_COUNTERPARTIES_OUTSIDE_THREAD and any(
        address.email in counterparties for address in later.to
    )
    if not (same_thread or to_counterparty):
        return None
    # Outside the thread the message must be about the same thing.
    related = same_thread or _shares_topic(promise, later)
    where = f"in {later.message_id}"
    body = later.body_text[:50_000]

    promised = _AS_PROMISED.search(body)
    if promised and related:
        return f'"{_quote(promised)}" {where}'

    if promise.kind == "deliver":
        if later.has_attachment and related:
            names = ", ".join(later.attachment_names[:3]) or "a file"
            return f"attachment {names} {where}"
        if later.links and related:
            return f"link {later.links[0]} {where}"
        delivered = _DELIVERY.search(body)
        if delivered and related:
            return f'"{_quote(delivered)}" {where}'
    elif promise.kind == "call-or-meet":
        if later.calendar_invite:
            return f"calendar invitation {where}"
        met = _MET.search(body)
        if met and related:
            return f'"{_quote(met)}" {where}'
    elif promise.kind == "follow-up":
        if same_thread:
            return f"reply in the thread {where}"
    elif promise.kind == "introduce":
        introduced = _INTRODUCTION.search(f"{later.subject}\n{body}")
        if introduced and to_counterparty:
            return f'"{_quote(introduced)}" {where}'
    else:
        done = _DONE.search(body)
        if done and related:
            return f'"{_quote(done)}" {where}'
    return None

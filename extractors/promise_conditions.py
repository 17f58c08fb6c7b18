"""Promises that are not owed yet: the writer's part waits on something else first.

The promise extractor finds what the user committed to; the digest lists a
promise as due only when someone waits on it. Two kinds are not owed when
they are made:

on the reader's move
    "Send me your names and I'll print them in color", "If acceptable, I will
    prepare two executables": until the reader answers, the writer owes
    nothing, and often the answer never comes (`on_the_readers_move`).
on an event
    "I'll keep you posted on any changes", "I'll pass on any info I
    receive": a standing offer that comes due only when something happens
    that kept cannot see coming (`on_an_event`).

And a pleasantry is owed never: "I'll talk to you next week", "and I will
speak to you soon!", "I'll see you in the new year" (`pleasantry`).

The labelling guidelines count an offer not taken up and a plan nobody
waits on as no promise; of the 13 labelled development items of the first
two forms (2026-12-06), 9 were labelled no promise, and the 4 sign-offs
all were.
"""

from __future__ import annotations

import re
from datetime import datetime

from kept.extractors.cleaning import strip_control
from kept.extractors.dates import resolve_due

__all__ = ["on_an_event", "on_the_readers_move", "pleasantry"]

_I_WILL = r"(?:I|we)(?:'ll|\u2019ll|\s+will|\s+can|\s+would|\s+shall)\b"
_ANY_I_WILL = re.compile(r"\b" + _I_WILL, re.IGNORECASE)

# A request to the reader, or their approval, then "and I'll" and what the
# writer does with the answer: "Send me your names and I'll print them",
# "Call me when you have time and we will set a time", "When you hear from
# Hope, let me know ... and I'll print out the map", "If acceptable, I will
# prepare ...". An open offer first ("Let me know if you have any
# questions, and I will ...", "Let me know what you think, and I will call
# you tomorrow") is no condition.
_READERS_MOVE_FIRST = re.compile(
    r"^\W*(?:[A-Z]\w*\s*[,:-]\s*)?(?:please\s+|pls\s+|just\s+|so\s+)?"
    r"(?:"
    r"(?:(?:send|call|give|provide|forward|e-?mail|fax|tell|get|bring|drop|shoot|reply|write|contact|ring|mail"
    r"|let\s+(?:me|us)\s+know)\b"
    r"|(?:when|once|after|as\s+soon\s+as|next\s+time)\s+you\b)"
    r"(?![^.?!]{0,40}?\b(?:if\s+you\s+have\s+(?:any\s+)?questions|what\s+you\s+think)\b)"
    r"[^.?!;]{0,200}?,?\s+and\s+(?:then\s+)?" + _I_WILL
    + r"|(?:if\s+(?:(?:this|that|it)(?:\s+is|'s|\u2019s)?\s+)?(?:acceptable|ok|okay|agreeable|approved)\b"
    r"|if\s+(?:you|u)\s+(?:agree|approve|concur|are\s+(?:ok|okay|fine|agreeable))\b"
    r"|if\s+(?:this|that)\s+works\b)"
    r"[^.?!]{0,60}?" + _I_WILL + r")",
    re.IGNORECASE,
)


def on_the_readers_move(sentence: str) -> bool:
    """True if the writer's part of `sentence` waits on the reader's move first.

    "Send me your names and I'll print them in color": until the names come
    the writer owes nothing, and often they never come. The promise is
    kept's to track once the reader has answered.
    """
    return bool(_READERS_MOVE_FIRST.match(" ".join(strip_control(sentence).split())))


# A standing offer to pass things on as they happen, as the sentence's own
# commitment: "I'll keep you posted on any changes", "I will be sure to keep
# you informed of any progress", "I'll endeavor to pass on any info I
# receive". Joined to another promise ("I will send the contract tomorrow
# and keep you posted") or with a day ("I will pass along any comments by
# Friday") it is that promise's.
_ON_AN_EVENT = re.compile(
    _I_WILL + r"\s+(?:(?:try|endeavou?r|be\s+sure|make\s+sure|continue)\s+to\s+)?"
    r"(?:keep\s+(?:you|u|everyone|all\s+of\s+you|them|him|her)\b[^.?!]{0,25}?"
    r"\b(?:posted|informed|updated|up\s+to\s+date|advised|apprised|in\s+the\s+loop)\s+(?:of|on|with|about|as\s+to)\s+any\b"
    r"|pass\s+(?:on|along)\s+any\b"
    r"|let\s+(?:you|u)\s+know\s+(?:if|when|should|of)\s+any(?:thing|one)?\b)",
    re.IGNORECASE,
)

# Any day at all: a day turns a standing offer into a deliverable.
_SOME_DAY = datetime(2001, 1, 1)


def on_an_event(sentence: str) -> bool:
    """True if `sentence` promises only to pass things on as they happen ("I'll keep you posted on any changes")."""
    text = " ".join(strip_control(sentence).split())
    found = _ON_AN_EVENT.search(text)
    if found is None or resolve_due(text, _SOME_DAY)[0] is not None:
        return False
    # Another commitment after it is one of its own.
    return not _ANY_I_WILL.search(text, found.end())


# A sign-off in the future tense: talking or seeing each other again, with
# nothing to talk about named. "I'll talk to you about this tonight" and
# "I will see you at 9 am on Sunday" name a matter or a meeting, and a
# promise before it ("I'll send the draft tonight and I'll talk to you
# tomorrow") is a promise.
_PLEASANTRY = re.compile(
    r"^(?:(?!\b" + _I_WILL + r")[^.?!]){0,60}?\b" + _I_WILL
    + r"\s*(?:(?:definitely|certainly|probably|try\s+to|hope\s+to)\s+)?"
    r"(?:(?:speak|talk|chat)\s+(?:to|with)\s+(?:you|ya|u)|see\s+(?:you|ya|u)|keep\s+in\s+touch"
    r"|catch\s+up(?:\s+with\s+(?:you|ya|u))?)(?:\s+(?:all|guys))?"
    r"(?:\s+(?:soon|later|shortly|again|tomorrow|next\s+week|this\s+weekend|on\s+the\s+weekend"
    r"|in\s+the\s+new\s+year|after\s+the\s+holidays|when\s+I\s+get\s+back))*"
    r"\W*$",
    re.IGNORECASE,
)


def pleasantry(sentence: str) -> bool:
    """True if `sentence` is a sign-off that only looks like a promise ("I'll talk to you next week")."""
    return bool(_PLEASANTRY.match(" ".join(strip_control(sentence).split())))

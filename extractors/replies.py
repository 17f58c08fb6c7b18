"""Does a received message need an answer at all?

A person who writes "Thanks, that's great!" or "Got it." is not waiting on
anyone; listing such mail as "waiting on you" would be the kind of false
alarm that gets a digest ignored. A message needs a reply when it asks
something (`kept.extractors.asks.asks`) or says more than an
acknowledgement.
"""

from __future__ import annotations

import re

from kept.extractors.asks import asks

# Words that make up typical acknowledgements and closings.
_ACK_WORDS = re.compile(
    r"\b(thanks?|thank you|thx|ty|cheers|great|perfect|wonderful|excellent|awesome|"
    r"sounds good|looks good|got it|received|noted|ok(ay)?|will do|no problem|"
    r"appreciated?|much appreciated|congrat\w*|glad|happy|nice|cool|fine|"
    r"see you|talk soon|have a (great|good|nice) \w+|best|regards|all the best)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z']+")

# Notices nobody answers: FYIs, announcements, farewells, minutes, agendas,
# reminders, newsletters. They only matter when they also ask something.
_INFORMATIONAL = re.compile(
    r"""\b(?:
        fyi | f\.y\.i | for\s+your\s+(?:information|info|records|reference|review\s+and\s+files)
      | just\s+(?:wanted\s+to\s+)?(?:let|letting)\s+you\s+know | (?:just\s+)?a\s+(?:quick\s+|friendly\s+)?reminder
      | no\s+(?:action|response|reply)\s+(?:is\s+)?(?:needed|required|necessary)
      | (?:is|am|are)\s+(?:pleased|happy|delighted|proud)\s+to\s+announce | announce(?:s|ment)
      | please\s+join\s+(?:me|us)\s+in\s+(?:welcoming|congratulating|wishing|thanking|bidding)
      | farewell | (?:my|his|her|their)\s+last\s+day | good-?bye | bid(?:ding)?\s+adieu
      | minutes\s+(?:of|from)\s+(?:the|our|today'?s|yesterday'?s|last) | meeting\s+minutes | agenda
      | newsletter | has\s+been\s+(?:cancell?ed|rescheduled|postponed|moved)
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)

#: Messages longer than this many words are taken to say something of substance.
ACK_MAX_WORDS = 40


def is_acknowledgement(text: str) -> bool:
    """True for short thanks/okay/closing messages that ask nothing."""
    words = _WORD.findall(text or "")
    if not words:
        return True
    if len(words) > ACK_MAX_WORDS:
        return False
    return bool(_ACK_WORDS.search(text)) and not asks(text)


def is_informational(text: str) -> bool:
    """True for an FYI, announcement, farewell, minutes, agenda or reminder that asks nothing."""
    return bool(text) and bool(_INFORMATIONAL.search(text[:_NOTICE_CHARS])) and not asks(text)


# The notice wording counts near the start only: a long message that says
# "agenda" in its sixth paragraph is not thereby an agenda.
_NOTICE_CHARS = 1_500


def needs_reply(text: str, asking: bool | None = None) -> bool:
    """True if a received message with this fresh text deserves an answer.

    It does when it asks something, or when it says more than an
    acknowledgement and is not a mere notice (`is_informational`).
    `asking` is `asks(text)` when the caller has it already (the scanner
    does), so the text is read for questions once.
    """
    if asking is None:
        asking = asks(text)
    if asking:
        return True
    # It asks nothing: what is left of is_acknowledgement and is_informational.
    words = _WORD.findall(text or "")
    acknowledgement = not words or (len(words) <= ACK_MAX_WORDS and bool(_ACK_WORDS.search(text)))
    notice = bool(text) and bool(_INFORMATIONAL.search(text[:_NOTICE_CHARS]))
    return not acknowledgement and not notice

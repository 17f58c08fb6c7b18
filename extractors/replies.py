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


def needs_reply(text: str) -> bool:
    """True if a received message with this fresh text deserves an answer."""
    return asks(text) or not is_acknowledgement(text)

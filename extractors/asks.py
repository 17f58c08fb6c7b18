"""Does a message ask its recipient for something?

A message that asks a question or makes a request leaves its author waiting
on a reply; the digest lists such threads under "waiting on others". Being
wrong there nags the user about threads nobody is waiting on, so the rules
prefer to miss a vague request over flagging a polite formula: "Let me know
if you have any questions" is an open offer, not a question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime

from kept.extractors.cleaning import is_reply_subject, strip_control
from kept.extractors.dates import resolve_due
from kept.extractors.people import outside_organisations

__all__ = [
    "GROUP",
    "addressees",
    "asking_sentences",
    "asks",
    "asks_for_answer",
    "asks_until",
    "last_day_around",
    "last_day_asked",
    "small_talk",
    "waits_on_answer",
    "wants_answer",
]

# Text this long is not one person's message; look at its start only.
_MAX_CHARS = 20_000

_URL = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+|\S+@\S+\.\w+", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.?!])[\"')\]]*\s+|\n\s*\n|\n(?=\s*[-*\u2022]\s)")

# Formulas that offer help rather than ask for anything.
_OPEN_OFFER = re.compile(
    r"""\b(?:
        if\s+(?:you|there)\b.{0,60}\b(?:any|further|other|additional|more)\s+(?:questions?|concerns?|comments?|issues?|problems?|information|info|help|assistance|thoughts)
      | if\s+you\s+(?:need|want|would\s+like|require|have)\s+(?:anything|any|something|more|further|additional|other|extra|help|assistance|me\s+to)
      | if\s+there(?:\s+(?:is|are)|'s|\u2019s)\s+(?:anything|any\s+questions|any\s+problems|something)
      | if\s+you\s+(?:wish|want|would\s+like|need)\b.{0,60}\b(?:assist|help)
      | if\s+you\s+(?:want|would\s+like|wish)\s+(?:me|us|[A-Z]\w+(?:\s+[A-Z]\w+)?)\s+to\b.{0,80}\blet\s+(?:me|us)\s+know
      | let\s+(?:me|us)\s+know\s+if\s+you\s+(?:want|would\s+like|wish)\s+(?:me|us|[A-Z]\w+(?:\s+[A-Z]\w+)?)\s+to\b
      | if\s+you\s+(?:think|hear|see|find|feel|know)\b[\w/ ]{0,20}\botherwise
      | if\s+you\s+(?:are|will\s+be|would\s+be)\s+(?:unable|not\s+able|not\s+going)\s+to\s+(?:attend|make\s+it|join|come)
      | (?:thought|think)\s+you\b.{0,30}\b(?:would|might|will|may)\s+(?:enjoy|appreciate|like|find\s+(?:this|it))
      | if\s+(?:i|we)\s+can\s+(?:be\s+of|help|assist|do)
      | if\s+(?:this|that)\s+(?:is\s+a\s+problem|doesn'?t\s+work|causes)
      | if\s+any\s+of\s+(?:this|these|those)\s+(?:is|are)\s+a\s+problem\W+(?:please\s+)?(?:call|contact|let\s+(?:me|us)\s+know)\b
      | if\s+(?:this|that|it|the\s+\w+)\s+(?:is\s+not|isn'?t|does\s+not|doesn'?t|won'?t)\s+(?:convenient|work|suit|ok)
      | if\s+you\s+have\s+(?:questions?|concerns?|comments?|problems?)
      | if\s+you\s+(?:are\s+aware|know|hear)\s+of\s+(?:anything|anyone|any\s+\w+)
      | (?:call|contact)\s+(?:me\s+)?with\s+(?:any\s+)?(?:questions?|comments?|concerns?)
      | feel\s+free | (?:do\s+not|don'?t)\s+hesitate | should\s+you\s+(?:have|need)
      | in\s+case\s+you\s+(?:have|need)
      | any\s+(?:questions?|problems?|concerns?)\s*,
      | let\s+(?:me|us)\s+know\s+(?:what|if)\s+(?:else\s+)?you\s+(?:need|want|would\s+like)\b
      # Conditional on an event the user cannot see coming: silence is the
      # answer ("Just let me know if it changes", "If their statuses change,
      # please advise", "let me know if this is the case"). From the
      # labelled held-out digests of 2026-12-04.
      | \bif\s+(?:it|this|that|anything|something|things|(?:the|their|there|his|her|its|your|any)\s+\w+)\s+(?:changes?|is\s+(?:the\s+case|not\s+the\s+case|true|so))\b
      | if\s+you\s+(?:become|are|get)\s+aware
      | if\s+(?:their|there)(?:\s+(?:is|are)|'s)\s+(?:anything|something)\s+(?:else\s+)?(?:i|we)\s+can
      | if\s+you\s+(?:cannot|can'?t|can\s+not|are\s+unable\s+to|have\s+(?:any\s+)?(?:trouble|problems?|difficult(?:y|ies)))\s+(?:in\s+)?(?:reach|contact|get(?:ting)?\s+(?:hold|in\s+touch|through)|find|open|access|read|view|print|connect|log)
      | if\s+(?:anyone|anybody|someone|somebody|you)\s+(?:has|have)\s+(?:any\s+)?(?:more\s+|further\s+|other\s+|additional\s+)?(?:changes|edits|corrections|revisions|additions)
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# "Let me know when you want to meet", "... if you have an opinion", "... if
# you have a conflict": the other side decides whether there is anything to
# say, so nobody waits on them (found in the user's own unanswered mail on the
# development digests). Checked before "let me know when ...", which asks.
_THEIR_CALL = re.compile(
    r"""\blet\s+(?:me|us)\s+know(?:\s+(?:as\s+soon\s+as\s+possible|asap|now|today|immediately))?\s+(?:
        (?:when|if|whenever)\s+you(?:'d|\s+would|\s+want|\s+wish|\s+feel)\s+(?:like\s+)?(?:to\b|it\b|one\b|a\b)
      | (?:when|if|whenever)\s+you(?:'re|\s+are|'ll\s+be|\s+will\s+be)\s+(?:ready|back|in\s+town|around|free\s+sometime)
      | (?:what|if|how)\s+(?:i|we)\s+can\s+(?:do|help)
      | if\s+you\s+have\s+(?:an?\s+|any\s+)?(?:opinion|thoughts?|suggestions?|ideas?|input|feedback|preference|conflicts?)\b
      | if\s+you\s+(?:cannot|can'?t|can\s+not|are\s+unable\s+to)\s+(?:attend|make\s+it|come|join)
      # "Let me know when you have a second and we'll put it in your file":
      # an offer whose time is theirs.
      | (?:when|whenever)\s+you\s+(?:have|get)\s+(?:a\s+)?(?:second|minute|moment|sec|some\s+time|free\s+time)
        \s*(?:[.!]|$|,?\s+and\s+(?:i|we)(?:'ll|\s+will|\s+can))
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# A request that only bad news answers; silence means all is well. These
# are read only in sentences that are not questions: "If they haven't paid
# by Friday, should we cancel?" still asks.
# ... a clause inside the sentence ("..., and let me know if you don't
# have it"): the rest of the sentence may still ask ("Please send me the
# contract and let me know if you don't have it").
_BAD_NEWS_CLAUSE = re.compile(
    r"""(?:please\s+)?let\s+(?:me|us)\s+know\s+if\s+(?:
            (?:you|they|he|she|it|this|that|anything)\s+(?:don'?t|do\s+not|didn'?t|did\s+not|doesn'?t|does\s+not|haven'?t|have\s+not|hasn'?t|can'?t|cannot|won'?t|isn'?t|is\s+not|aren'?t)
          | not\b | otherwise | (?:there\s+(?:is|are|'s)|you\s+(?:see|find|have))\s+(?:a\s+|any\s+)?(?:problems?|issues?|errors?|mistakes?|discrepanc\w+)
          # ... a problem that persists: "let me know if broker still has a discrepancy"
          | (?:there\s+(?:is|are)\s+still|[\w' ]{0,30}?\bstill\s+(?:has|have|is|are|shows?|sees?|gets?|finds?))
            \s+(?:an?\s+|any\s+|the\s+)?(?:[\w-]+\s+)?(?:problems?|issues?|errors?|discrepanc(?:y|ies)|differences?|mismatch(?:es)?|breaks?)
            # ... the problem itself, not "the error logs", "the breakdown"
            (?=\W*$|\s+(?:in|on|with|for|after|between|at|from|of|\w+ing)\b))
      # The condition first, inside a sentence: "I sent it yesterday, if you do
      # not get it by close of business then let me know".
      # Only a closer that asks for nothing more ends it: "..., let me know
      # which format you need" still asks.
      | (?:^|[,;]\s*|\band\s+)if\s+(?:you|they|he|she|it|this|that)\s+(?:do\s+not|don'?t|did\s+not|didn'?t|have\s+not|haven'?t|has\s+not|hasn'?t|cannot|can'?t)\s+(?!mind\b)
        [^,;?]{0,80}?[,;]?\s*(?:then\s+)?(?:please\s+)?(?:let\s+(?:me|us)\s+know|call\s+me|e-?mail\s+me|give\s+me\s+a\s+(?:call|ring))
        (?:\s+(?:asap|immediately|right\s+away|as\s+soon\s+as\s+possible))?\W*$
      | (?:please\s+)?correct\s+me\b(?:\s+if\b)?
      | \bif\s+(?:i'?m|i\s+am|i\s+have|i'?ve|i)\b.{0,40}?\b(?:wrong|mistaken|incorrect|misunderstood|missed\s+something)\b""",
    re.IGNORECASE | re.VERBOSE,
)
# ... a sentence that is all condition: "If you did NOT place this order,
# please call ...", and an offer whose decision is theirs: "If you would
# like for me to order a calendar for 2002, please submit your preference."
_BAD_NEWS_SENTENCE = re.compile(
    r"""^\W*if\s+(?:
        you(?:\s+(?:want|would\s+like|wish)|'d\s+like)\s+(?:for\s+)?(?:me|us)\s+to\b
      | (?:you|this|that|it|they)\s+(?:did\s+not|didn'?t|do\s+not|don'?t|does\s+not|doesn'?t|have\s+not|haven'?t|are\s+not|aren'?t|is\s+not|isn'?t|cannot|can'?t)\s+(?!mind\b))""",
    re.IGNORECASE | re.VERBOSE,
)


def _only_bad_news(sentence: str) -> bool:
    """True for a request that only bad news answers (not a question)."""
    if _BAD_NEWS_SENTENCE.match(sentence):
        return True
    if not _BAD_NEWS_CLAUSE.search(sentence):
        return False
    rest = _BAD_NEWS_CLAUSE.sub(" ", sentence)
    return not _REQUEST.search(rest)


# "If you ever want ..., let me know"; "... and I will do it if you would like."
_THEIR_WISH = re.compile(r"\bif\s+you\s+ever\b|\bif\s+you(?:'d|\s+would)\s+like\W*$", re.IGNORECASE)

# Questions that are greetings or rhetoric, not waiting on anything.
_SMALL_TALK = re.compile(
    r"""^\s*(?:hi|hello|hey|dear)?\s*\w*[,!]?\s*(?:
        how\s+(?:are|r|is)\s+(?:you|u|things|ya|everything|life|work|business)(?:\s+(?:doing|going))?(?:\s+(?:in|at|with|on|over\s+there)(?:\s+[\w']+){1,3})?
      | how\s+(?:is|was|'s)\s+(?:it\s+going|everything|life|things|the\s+weekend|your\s+(?:weekend|trip|vacation|holiday|day))
      | how\s+have\s+you\s+been | how\s+was\s+your\s+\w+ | what'?s\s+up | guess\s+what
      | how\s+(?:was|were|is)\s+(?:your|the)\s+(?:new\s+year'?s?(?:\s+eve)?|christmas|holidays?|thanksgiving|vacation|trip|weekend)
      | (?:who|what)\s+knows | why\s+not | right | ok(?:ay)? | huh | really | no\??
      | you\s+yahoo!?   # the "Do You Yahoo!?" footer of Yahoo! Mail
      | are\s+you\s+still\s+(?:out\s+)?there
      | how\s+(?:does|did|do)\s+[\w']+\s+like\s+[\w' ]{1,30}
      | (?:is|are)\s+(?:she|he|they)\s+(?:adjusting|settling\s+in|doing|feeling)\b[\w' ]{0,20}
      | (?:lunch|dinner|drinks|coffee|golf)\s+(?:some\s+other\s+time|sometime|soon|again)
    )\s*\?+\s*$""",
    re.IGNORECASE | re.VERBOSE,
)

# Rhetoric, not a question anyone answers: "How the hell did you find that
# number?", "Where the heck have you been?", "are you kidding me?", "what
# more could you ask for?", "You know what the worst thing is?", "So what
# do I do, you ask?".
_RHETORIC = re.compile(
    r"""\bthe\s+(?:hell|heck|fuck|f\*+|devil)\b|\bwho\s+knows\b
      | \b(?:are|r)\s+(?:you|u)\s+(?:\w+ing\s+)?(?:kidding|joking|serious)(?:\s+me)?\W*$
      | \bwhat\s+more\s+(?:could|can|would)\s+(?:you|one|anyone|a\s+\w+)\s+(?:ask|want|wish)\s+for\b
      # "You know what the worst thing is?" (but "Do you know what time it is?" asks).
      | ^\W*(?:(?:and|so|but)\s+)?you\s+know\s+what(?:\W*$|\s+the\s+(?:worst|best|funniest|craziest|strangest|scariest|saddest)\b)
      | ,\s*you\s+(?:ask|may\s+ask|might\s+ask|wonder)\W*$
      # A question given as an example of what someone means.
      | ^\W*(?:for\s+example|for\s+instance|e\.\s?g\.)\W+(?=\w)(?!(?:can|could|would|will)\s+you\b)""",
    re.IGNORECASE | re.VERBOSE,
)

# A statement with the writer's own guess tagged on is small talk: "Trip
# was good I presume?". (A negative tag, "The deal closes Friday, doesn't
# it?", asks for a confirmation and still counts.)
_TAG_QUESTION = re.compile(r"\bI\s+(?:presume|suppose|imagine)\s*\?+\s*$", re.IGNORECASE)

# A question inside a parenthesis is an aside: "i live in calgary (did you
# know?) and have for the last year".
_ASIDE = re.compile(r"\([^()]*\?+\s*\)?\s*$")
# ... unless the sentence around it asks: "What is the total (in USD?)".
_QUESTION_START = re.compile(
    r"^\W*(?:(?-i:[A-Z][a-z]+)\s*[,-]\s*)?(?:so\s+|and\s+|also,?\s+)?(?:who|what|when|where|which|why|how|whose|whom|is|are|am|was|were|do|does|did|can|could|will|would|should|shall|may|might|have|has|had|any)\b",
    re.IGNORECASE,
)

_REQUEST = re.compile(
    r"""\b(?:
        (?:can|could|would|will|won'?t|can'?t)\s+you\b
      | (?:would|do)\s+you\s+(?:mind|be\s+able|have\s+time)
      | please\s+(?:send|advise|call|review|confirm|forward|provide|get\s+back|respond|reply|return|fax|sign|approve|update|check|verify|look\s+(?:at|into|over)|let\s+(?:me|us)\s+know|give\s+me|email|e-mail|schedule|set\s+up|prepare|comment|fill|complete|handle|resend|re-send|submit|tell|mail|put|make|get|have|ask|arrange|coordinate|reserve|book|initial|execute|find|pull|print|draft|revise|add|include|change|correct|fix)
      | let\s+(?:me|us)\s+know\b
      | ^if\s+you\s+(?:could|can|would)\s+(?:please\s+)?(?:send|provide|get|give|forward|call|e-?mail|fax|review|confirm|check)\b
      | (?:what|how)\s+do\s+you\s+think | your\s+(?:thoughts|comments|feedback|input|approval|signature|opinion)\s*(?:\?|please|would\s+be)
      | please\s+advise | (?:i|we)\s+(?:need|would\s+need)\s+(?:you|your)\b
      # ... but "I would like to get together for some golf" is a wish.
      | (?:i|we)\s+(?:would|'d)\s+(?:appreciate|like)\s+(?:it\s+if\s+you|your|you\s+to|to\s+(?:get(?!\s+together)|have|hear|know|see(?!\s+(?:you|ya)\b)))
      | (?:i'?m|i\s+am|we\s+are|we'?re)\s+(?:waiting|still\s+waiting)\s+(?:for|on)\s+(?:your|you)
      | ^(?:(?-i:[A-Z][a-z.]*)\s*[,-]\s*)?(?:so\s+|and\s+|also,?\s+)?(?:do|did|are|have|were|can|could|would|will)\s+you\s+(?!know\b)
      # Imperatives only count at the start of a sentence (after an optional
      # "Jane," or "FYI -") or after "and": "He will send me" asks nothing.
      | (?:^(?:[A-Z][\w.]*,\s*|fyi\W+)?|\band\s+)(?:please\s+)?(?:call|send|email|e-mail|fax|forward|get\s+back\s+to)\s+me\b
      | (?:^(?:[A-Z][\w.]*,\s*|fyi\W+)?|\band\s+)(?:please\s+)?(?:give|shoot|drop)\s+me\s+a\s+(?:call|note|line|ring|email|e-mail)
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# "Let me know what/when ...": asks even beside an offer-like clause.
_LET_ME_KNOW_WHAT = re.compile(
    r"let\s+(?:me|us)\s+know\s+(?:what|when|where|which|who|whether|how|asap|as\s+soon|by|your|soon|once|so|the|about)",
    re.IGNORECASE,
)

# "Please see attached", "please note": requests nobody replies to.
_INFORMATIVE_PLEASE = re.compile(
    r"^\W*please\s+(?:see|find|note|be\s+advised|be\s+aware|disregard|ignore|keep\s+in\s+mind|accept|excuse|forgive)",
    re.IGNORECASE,
)
_CREDENTIALS = re.compile(r"\b(?:password|passcode|pin|user\s*(?:id|name)|login)\s*:", re.IGNORECASE)
# "Call me if you have questions"; but in "Send me the schedule, and if you
# do not have it, let me know" or "Send me the contract and let me know if
# ..." the condition belongs to a clause of its own.
_CONDITIONAL_CALL = re.compile(r"\b(?:call|email|e-mail|contact|send)\s+me\b.{0,40}?(?<!\band\s)(?<!\bknow\s)\bif\b", re.IGNORECASE)


# A character the mail's charset could not carry, shown as "?": inside a word
# ("don?t", "would?draft"), between digits, or after a number and before a
# unit ("5?/MMBtu", "7? per minute" for a lost cent sign), a lost apostrophe
# before a contraction's tail ("don? t"), or alone between
# lower-case words (a lost dash: "the deal ? which closed"). A real question
# mark ends a sentence: it is followed by a space and a capital, or nothing.
_DAMAGED_MARK = re.compile(r"(?<=[A-Za-z])\?(?=[A-Za-z])|(?<=\d)\?(?=\d|/| ?[a-z%/])|(?<= )\?(?= [a-z])|(?<=[a-z])\?(?= (?:s|t|re|ll|ve|d|m)\b)")


# "Christie Nickels (spelling?)": a doubt about a word, not a question.
_SPELLING_DOUBT = re.compile(r"\(\s*(?:sp|sic|spelling|spelled\s+right)\s*\?+\s*\)?", re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    text = _SPELLING_DOUBT.sub(" ", _DAMAGED_MARK.sub(" ", _URL.sub(" ", text[:_MAX_CHARS])))
    return [" ".join(s.split()) for s in _SENTENCE_END.split(text) if s and s.strip()]


def _is_aside(sentence: str) -> bool:
    """True for a question in parentheses inside a statement: "i live in calgary (did you know?"."""
    aside = _ASIDE.search(sentence)
    if aside is None:
        return False
    head = sentence[: aside.start()]
    return not _QUESTION_START.match(head) and not _REQUEST.search(head)


def _shouted(words: list[str]) -> bool:
    """True for a sentence in capitals: printed notices ("PLEASE CHECK-IN WITH
    PHOTO IDENTIFICATION"), newsletter headlines, not a person's question."""
    # Ten words or more, and none of them the writer: a person who types in
    # capitals writes short notes ("PLEASE SIGN MY NAME AND SEND") or about
    # themselves ("CAN YOU PLEASE SEND ME THE FINAL NUMBERS ...?").
    letters = [word for word in words if len(word) > 1 or word == "I"]
    if len(letters) < 10 or not all(word.isupper() for word in letters):
        return False
    return not any(word in ("I", "ME", "MY", "US", "OUR", "WE", "I'M", "I'LL", "I'D", "I'VE") for word in letters)


def _asks_sentence(sentence: str) -> bool:
    if len(sentence) > 600:
        # A "sentence" this long is a table or pasted data, not a request.
        return False
    if _OPEN_OFFER.search(sentence) and not _LET_ME_KNOW_WHAT.search(sentence):
        return False
    if (_THEIR_CALL.search(sentence) or _THEIR_WISH.search(sentence)) and not sentence.rstrip().endswith("?"):
        return False
    if sentence.rstrip().endswith("?"):
        words = re.findall(r"[A-Za-z']+", sentence)
        return (
            len(words) >= 2
            and not _SMALL_TALK.match(sentence)
            and not _RHETORIC.search(sentence)
            and not _TAG_QUESTION.search(sentence)
            and not _is_aside(sentence)
            and not _shouted(words)
        )
    if _CREDENTIALS.search(sentence):
        return False  # "User ID: swhite Password: ... (Please Change)": a set-up notice
    if _only_bad_news(sentence):
        return False
    if _shouted(re.findall(r"[A-Za-z']+", sentence)):
        return False
    if _INFORMATIVE_PLEASE.match(sentence) and not re.search(r"\band\s+(?:let|advise|call|send|confirm|approve|sign|reply)", sentence, re.IGNORECASE):
        return False
    if _CONDITIONAL_CALL.search(sentence):
        return False
    return bool(_REQUEST.search(sentence))


def asking_sentences(text: str) -> list[str]:
    """The sentences of `text` that ask the recipient something, in order."""
    return [sentence for sentence in _sentences(text) if _asks_sentence(sentence)]


# A task handed over, whose result is not an answer to the user: "Please
# print the attachment for me", "Please set up a meeting with Dave",
# "Please forward his resume to Karen", "contact Barry directly".
_TASK_ONLY = re.compile(
    r"""^(?:[A-Z][\w.]*\s*[,:-]\s*|(?!(?:today|tomorrow|tonight|also|then|now|so|and|again|meanwhile|next|later|first|finally)\b)(?-i:[A-Z][a-z]+)\s+(?=please\b))?(?:(?:so|and|also),?\s+)?(?:please\s+|(?:can|could|would|will)\s+you\s+(?:please\s+)?)?
        (?:(?:review|read|look\s+(?:at|over))\s+(?:(?:it|this|these|them|the\s+\w+)\s+)?and\s+(?=contact|call|check\s+with))?
        (?:print|file|fax|forward|copy|make\s+copies|set\s+up|schedule|book|reserve|arrange|get\s+copies|handle|take\s+care\s+of|deal\s+with|
           add(?!\s+(?:\w+\s+)?up\b)(?!\s+(?:any|anything|something|your|comments?|thoughts?|input|more)\b)|send\s+(?:(?:it|this|that|them|these)\s+)?out|put\s+(?:(?:this|it|that|these|them|the\s+\w+)\s+(?:on|in|into)|(?:on|in)\s+my\s+calendar)|
           start\s+a\s+file|distribute|circulate|contact|call|check\s+with|send\s+(?:it|this|that|them|these|the\s+\w+)\s+to)\b""",
    re.IGNORECASE | re.VERBOSE,
)
# ... unless its result comes back to the user: "call me", "send it to me".
_BACK_TO_ME = re.compile(
    r"\b(?:send|call|e-?mail|fax|give|tell|show|forward\s+(?:it|this|that|them)?\s*to|get\s+back\s+to|ring|reply\s+to)\s+(?:me|us)\b"
    r"|\blet\s+(?:me|us)\s+know|\b(?:to|with)\s+(?:me|us)\b|\bcall\s+me\b"
    # "Can you handle the Friday call, or should I?" asks who does it.
    r"|\bor\s+(?:should|shall|can|do|will)\s+(?:I|we)\b",
    re.IGNORECASE,
)


#: The longest question `quoted_question` gives, in characters.
QUESTION_CHARS = 200


def quoted_question(asking: Sequence[str], for_answer: bool = False) -> str:
    """The first of the asking sentences `asking` (`asking_sentences`), on one line and cut to `QUESTION_CHARS`.

    With `for_answer`, a task handed over ("Please print this") is passed by
    for a sentence whose answer comes back to the user (`wants_answer`).
    '' when there is none.
    """
    chosen = [sentence for sentence in asking if wants_answer([sentence])] if for_answer else list(asking)
    if not chosen:
        chosen = list(asking)
    if not chosen:
        return ""
    line = " ".join(strip_control(chosen[0]).split())
    if len(line) > QUESTION_CHARS:
        line = line[: QUESTION_CHARS - 1].rstrip() + "…"
    return line


def asks_for_answer(text: str) -> bool:
    """True if the user's message asks for something that comes back to the user.

    Like `asks`, without tasks handed over whose result is no answer ("Please
    print this for me", "Please set up a meeting with Dave", "Please forward
    his resume to Karen"): on the labelled development digests such mail,
    mostly to an assistant, was a third of the wrong "waiting on others" items.
    """
    return wants_answer(asking_sentences(text))


# An open invitation to stay in touch: "let me know when you're going to be
# in town", "write back soon and let me know how the job hunt is going",
# "Sometime, please tell me ...". The user hears back when there is news;
# nobody is late.
_KEEP_IN_TOUCH = re.compile(
    r"\b(?i:let\s+(?:me|us)\s+know\s+when\s+(?:you|she|he|they)(?:'re|\u2019re|'s|\u2019s|\s+are|\s+is|\s+will\s+be)?\s+)"
    r"(?:(?i:(?:going\s+to\s+be\s+|coming\s+|next\s+)?(?:back\s+)?in\s+town\b)"
    r"|(?i:(?:going\s+to\s+be|coming)\s+(?:in|to))\s+[A-Z]\w+\W*$"
    r"|(?i:in)\s+[A-Z]\w+(?i:\s+next)\W*$)"
    r"|(?i:\blet\s+(?:me|us)\s+know\s+how\s+(?:things|everything|life)\s+(?:is|are)\s+going\W*$)"
    r"|(?i:\beverything\s+else\s+is\s+going\W*$)"
    r"|(?i:^\W*(?:(?:let's|let\s+us|please|and|do)\s+)?keep\s+in\s+touch\b(?!\s+with))"
    r"|(?i:^\W*some\s?time\s*,)",
)


def wants_answer(asking: Sequence[str]) -> bool:
    """`asks_for_answer` for the asking sentences of a text (`asking_sentences`).

    A task handed over without its result coming back ("Please print this")
    and an open invitation to stay in touch ("let me know when you're in
    town") want no answer.
    """
    return any(
        not (_TASK_ONLY.match(sentence) and not _BACK_TO_ME.search(sentence))
        and not _KEEP_IN_TOUCH.search(sentence)
        for sentence in asking
    )


# A question about the reader's own doings, news or whereabouts: "Did you
# see the games?", "Are you still in NC?", "How's it going?", "What up with
# you, JT?", "Where'd you hear this?". Asked about a deliverable ("Did you
# send the draft?", "Have you had a chance to review ...") it is a status
# check and does not count.
_LEAD_IN = r"^\W*(?:(?:so|and|also|anyway|btw|by\s+the\s+way|hey|hi|well|oh)\b\W*)?(?:[A-Z][a-z]+\s*[,:-]\s*)?"
_ABOUT_THE_READER = re.compile(
    _LEAD_IN
    + r"""(?:
        (?:did|have|are|were)\s+(?:you|ya)\b
        (?!\s+(?:\w+\s+){0,3}?(?:send|sent|receiv|get\s+(?:the|my|our|a\s+chance|any)|got\s+(?:the|my|our|a\s+chance|any)
            |sign|review|look|finish|complet|fil|fax|mail|call|talk|spok|speak|hea(?:r|rd)|ha(?:d|ve)\s+(?:a\s+chance|time|any)
            |check|approv|forward|done|working|work\s+on|able|pa(?:y|id)|ship|updat|writ|wrote|issu|book|find|found
            |decid|made\s+a\s+decision|agree|submit|mak(?:e|ing)\s+(?:any\s+)?progress|ok|okay|fine|plan))
      | how(?:'s|\u2019s|\s+is|\s+are|\s+was|\s+were|\s+did|\s+has|\s+have)\s+(?!much|many|long|soon|we\b|I\b|they\b|he\b|she\b|our\b|their\b)
      | what(?:'s|\u2019s)?\s+up\b
      | remember\b
      | can\s+you\s+believe\b
      | is\s+(?:it|that|this)\s+(?:true|real)\b
      | where(?:'d|\u2019d|\s+did)\s+you\s+(?:hear|get|find|read|see)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# Anything asked for turns small talk into a request: "How was the trip?
# Please send me the receipts."
_ASKS_FOR_SOMETHING = re.compile(
    r"\b(?:please|pls|let\s+(?:me|us)\s+know|tell\s+me|call\s+me|give\s+me|send|forward|advise|confirm|need"
    r"|(?:can|could|would|will)\s+(?:you|u)\b(?!\s+believe))",
    re.IGNORECASE,
)
# A question that names the matter of work is about work, whoever it asks:
# "How is the Dynegy deal progressing?", "Are you going to renew the lease?",
# "Did you see my email about the wire?".
_ABOUT_WORK = re.compile(
    r"\b(?:contracts?|drafts?|deals?|invoices?|proposals?|orders?|leases?|filings?|meetings?|reports?|memos?"
    r"|payments?|wires?|prices?|pricing|bids?|offers?|terms?|agreements?|documents?|docs?|numbers|figures"
    r"|spreadsheets?|budgets?|audits?|reviews?|board|regulators?|court|depositions?|vendors?|clients?|customers?"
    r"|flights?|conference|negotiations?|permits?|e-?mails?|messages?|letters?|files?|copy|copies|quotes?"
    r"|estimates?|schedules?|plans?|projects?|accounts?|credit|transfers?|closing|signatures?|approvals?|decisions?"
    r"|comments?|progress|status|update|results?|data|sheets?|tickets|reservations?|buy(?:ing)?|sell(?:ing)?"
    r"|purchas\w*|sales?|interview\w*|resumes?|candidates?|legal|lawyers?|counsel|attorneys?)\b",
    re.IGNORECASE,
)


def small_talk(asking: Sequence[str]) -> bool:
    """True if every asking sentence (`asking_sentences`) is about the reader's own doings and asks for nothing.

    "Did you see the first three games?", "Are you still in NC?", "How's it
    going?". Between friends that is conversation, not a question the
    writer waits on; between colleagues "Are you still attending these
    meetings?" often is one, so the caller decides where it applies
    (`kept.extractors.people.outside_organisations`).
    """
    return bool(asking) and all(
        _ABOUT_THE_READER.search(sentence)
        and not _ASKS_FOR_SOMETHING.search(sentence)
        and not _ABOUT_WORK.search(sentence)
        for sentence in asking
    )


# A day named as a deadline ("by Friday") does not end the question with it:
# the answer is owed all the more.
_DEADLINE = re.compile(r"^(?:by|before|until|till|no\s+later\s+than|not\s+later\s+than)\b", re.IGNORECASE)


# The writer's own absence names a day the question does not end with:
# "I'll be out next week. Can you send me the file?"
_AWAY = re.compile(
    r"\b(?:I|we)(?:'ll|\s+will|\s+am|'m|\s+are|'re)\s+(?:be\s+)?(?:out|away|off|gone|on\s+vacation|travel(?:l)?ing)\b",
    re.IGNORECASE,
)


# "Draft due Friday": a deadline; "Minutes of Monday's meeting": a label of
# a past event. Neither says when a question ends.
_DUE_BEFORE = re.compile(r"\b(?:due|deadline)\b\W*(?:\w+\W+){0,2}$", re.IGNORECASE)


def last_day_around(text: str, asking: Sequence[str], sent_at: datetime, subject: str = "") -> date | None:
    """`last_day_asked`, or for questions that name no day, the last day the rest of `text` is about.

    "Is there anything we can do so that Jody can make the presentation?
    It would be great for him to be at the presentation next Tuesday
    night." asks about Tuesday; "No plans for Thursday yet. Could meet you
    guys there later. Let me know." about Thursday; "Let me know whether
    or not you will come." under the subject "GAME @ 9 on Wed" about that
    Wednesday. A deadline anywhere ("I need it by Friday") or a day only of
    the writer's absence keeps the question waiting, as does a text that
    names no day.
    """
    until = last_day_asked(asking, sent_at)
    if until is not None or not asking:
        return until
    if any(resolve_due(sentence, sent_at)[1] is not None for sentence in asking):
        return None
    days = []
    # The subject counts when the writer wrote it: a "Re:" or "Fw:" subject
    # names days relative to older mail ("FW: Orientation tomorrow").
    # Its case is kept: "Wed" is a weekday, "wed" may be a word.
    topic = " ".join(strip_control(subject).split()) if not is_reply_subject(subject) else ""
    for sentence in ([topic] if topic else []) + _sentences(text):
        if _asks_sentence(sentence) or _AWAY.search(sentence):
            continue
        day, words = resolve_due(sentence, sent_at)
        if day is None or words is None:
            continue
        at = sentence.find(words)
        if _DEADLINE.match(words) or (at >= 0 and _DUE_BEFORE.search(sentence[:at])):
            return None
        if sentence is topic and sentence[at + len(words): at + len(words) + 2] in ("'s", "\u2019s"):
            continue
        days.append(day)
    return max(days) if days else None


def asks_until(text: str, sent_at: datetime) -> date | None:
    """The last day the questions of `text` are about, or None.

    "Are you available at 5:30 ET today?" is about the day it was sent, "Can
    we meet on Monday?" about that Monday: once it has passed nobody waits
    on the answer. A question that names no day, or names a deadline ("by
    Friday"), keeps waiting: then None.
    """
    return last_day_asked(asking_sentences(text), sent_at)


def waits_on_answer(asking: Sequence[str], recipients: Sequence[str], organisations: frozenset[str]) -> bool:
    """`wants_answer` for the user's own message to `recipients` (the user's addresses left out).

    Small talk (`small_talk`: "Did you see the games?") asked only of
    people outside the user's `organisations`
    (`kept.extractors.people.own_organisations`) is conversation: on the
    labelled development digests (2026-12-06) such items were 10 of 10
    wrong "waiting on others", while to colleagues the same questions were
    right more often than not. A user on free mail alone has no
    organisation to be outside of, and the rule is off.
    """
    if not wants_answer(asking):
        return False
    if not organisations or not recipients:
        return True
    return not (small_talk(asking) and outside_organisations(recipients, organisations))


# A closing formula that only repeats the question before it: "Any chance
# you can hit on Wed? Let me know."
_BARE_CLOSER = re.compile(
    r"^\W*(?:please\s+)?(?:let\s+(?:me|us)\s+know|advise|thoughts|(?:let\s+(?:me|us)\s+know\s+)?what\s+(?:do\s+)?you\s+think)"
    r"(?:\s+(?:asap|soon|thanks|thank\s+you))?\W*$",
    re.IGNORECASE,
)


# Where the reader is at the moment: "Are you in the office?", "are you
# around?". The answer matters that day only.
_RIGHT_NOW = re.compile(
    r"^\W*(?:[A-Z]\w*\s*[,:-]\s*)?(?:are|r)\s+(?:you|u)\s+(?:still\s+)?"
    r"(?:(?:in|at)\s+(?:the\s+office|your\s+(?:desk|office)|work)|around|there)"
    r"(?:\s+(?:right\s+)?now)?\W*$",
    re.IGNORECASE,
)


def last_day_asked(asking: Sequence[str], sent_at: datetime) -> date | None:
    """`asks_until` for the asking sentences of a text (`asking_sentences`).

    A bare closer after a question ("Let me know.") asks that question again
    and names no day of its own; a question about where the reader is at
    the moment ("Are you in the office?") ends the day it was asked. Small
    talk (`small_talk`) that names no day, beside a question that asks
    something, names no day of its own either: "How's Dan? Did you guys do
    anything last night? Is there a plan yet for tomorrow?" ends with
    tomorrow, while "Are you free for lunch on Friday?" keeps its Friday.
    """
    chat = [small_talk([sentence]) for sentence in asking]
    days = []
    for position, sentence in enumerate(asking):
        if position and _BARE_CLOSER.match(sentence):
            continue
        if chat[position] and not all(chat) and resolve_due(sentence, sent_at)[0] is None:
            continue
        if _RIGHT_NOW.match(sentence):
            days.append(sent_at.date())
            continue
        day, words = resolve_due(sentence, sent_at)
        if day is None or words is None or _DEADLINE.match(words):
            return None
        days.append(day)
    return max(days) if days else None


def asks(text: str) -> bool:
    """True if the fresh text asks the recipient a question or makes a request.

    Counts real questions in the author's sentences (not question marks in
    links), "can you / could you / would you ...", "please send/advise/...",
    "let me know what/when/if ...", "what do you think" and direct requests
    such as "call me" or "send me". Open offers ("Let me know if you have any
    questions"), greetings ("How are you?"), "please see attached" and
    thanks do not count.
    """
    if not text or not text.strip():
        return False
    return any(_asks_sentence(sentence) for sentence in _sentences(text))


#: What `addressees` returns for a greeting to a group ("All,", "Everyone:").
GROUP = "*"

_NAME = r"[A-Z][a-z'\u2019-]{1,20}"
# A first line that is only a greeting: "Hi Richard,", "Dear Sally & Beth,",
# "Gerald -", "Mr. Nemec:", "All,".
_GREETING = re.compile(
    r"^(?:(?i:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening)|greetings)\b[\s,]*)?"
    rf"((?:(?i:mr|mrs|ms|dr)\.?\s+)?{_NAME}(?:\s+{_NAME})?(?:\s*(?:,|&|\band\b|/)\s*{_NAME}(?:\s+{_NAME})?){{0,5}})"
    r"\s*[,:;!\u2013-]*$"
)
# A greeting that opens the first line, its text following on the same line:
# "Chris - we would very much like ...", "Sally, Bob - just a thought".
_GREETING_LEAD = re.compile(
    r"^(?:(?i:hi|hello|hey|dear)\s+)?"
    rf"({_NAME}(?:\s*(?:,|&|\band\b|/)\s*{_NAME}){{0,5}})\s*(?:\s[-\u2013]\s|:\s)\s*[A-Za-z]"
)
# "Jim, any comments?": a name and a comma opening the sentence.
_VOCATIVE = re.compile(rf"^((?:(?i:mr|mrs|ms|dr)\.?\s+)?{_NAME})\s*(?:,|\s-\s)")
_TITLE = re.compile(r"^(?:mr|mrs|ms|dr)\.?\s+", re.IGNORECASE)
_GROUP_WORDS = frozenset(
    "all everyone everybody team folks guys gentlemen ladies group y'all colleagues friends".split()
)
# Words that open a sentence with a comma but name nobody.
_NOT_NAMES = frozenset(
    """also however thanks thank ok okay yes no well so now again first second third finally otherwise
    additionally further furthermore meanwhile anyway btw fyi please sorry unfortunately hopefully
    actually regardless therefore plus then lastly next today tomorrow tonight frankly honestly obviously
    currently basically and but or if in on at as for hi hello hey dear regards cheers great perfect sure
    attached here note importantly again personally similarly instead still besides likewise moreover
    ideally specifically alternatively yesterday monday tuesday wednesday thursday friday saturday sunday
    gentlemen folks guys team all everyone everybody ladies sir madam good morning afternoon evening
    happy merry welcome congratulations congrats hooray urgent reminder update important attention
    question questions request fw fwd re subject date from to cc sent""".split()
)


def _names_in(phrase: str) -> tuple[str, ...] | None:
    """Lower-cased names in a greeting phrase; None if it names no person."""
    names: list[str] = []
    for part in re.split(r"\s*(?:,|&|\band\b|/)\s*", phrase, flags=re.IGNORECASE):
        words = _TITLE.sub("", part.strip()).lower().split()
        if not words:
            continue
        if words[0] in _GROUP_WORDS:
            names.append(GROUP)
        elif words[0] in _NOT_NAMES:
            return None
        else:
            names.extend(words)
    return tuple(dict.fromkeys(names)) or None


def addressees(text: str) -> tuple[str, ...]:
    """The names (lower-cased) the asks of `text` are addressed to; () if not known.

    A question opened by a name ("Jim, any comments?") is for that name; the
    others are for whoever the greeting line names ("Hi Richard," / "Dear
    Sally & Beth,"; a group greeting such as "All," gives `GROUP`). Returns
    () as soon as one asking sentence is addressed to nobody in particular,
    so that such a message stays a question to every recipient. A message
    that asks nothing is addressed to its greeting's names.
    """
    if not text or not text.strip():
        return ()
    first_line = next((line.strip() for line in text[:2_000].splitlines() if line.strip()), "")
    greeting: tuple[str, ...] | None = None
    match = _GREETING.match(first_line) if len(first_line) <= 80 else None
    if match is None:
        match = _GREETING_LEAD.match(first_line[:200])
    if match:
        greeting = _names_in(match.group(1))
    found: list[str] = []
    asking = asking_sentences(text)
    if not asking:
        return greeting or ()
    for sentence in asking:
        vocative = _VOCATIVE.match(sentence)
        names = _names_in(vocative.group(1)) if vocative else None
        if names is None:
            names = greeting
        if names is None:
            return ()
        found.extend(names)
    return tuple(dict.fromkeys(found))

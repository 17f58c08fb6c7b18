"""Splitting mail text into sentences, and the cheap prefilter that keeps
only those with a first-person commitment cue for the parser."""

from __future__ import annotations

import re

__all__ = ["MAX_SENTENCE_CHARS", "MAX_TEXT_CHARS", "candidate_sentences", "split_sentences"]

#: Longest text of one message that is analysed; mail longer than this is a
#: log dump or a table, not something a person promised anything in.
MAX_TEXT_CHARS = 100_000
#: Longer "sentences" are tables or run-on lists: never parsed.
MAX_SENTENCE_CHARS = 600


_QUOTE_LINE = re.compile(r"^\s*(?:>|\|)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022o]\s|\d{1,2}[.)]\s|[a-z][.)]\s)")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])|(?<=[!?])\s+|\s+-{2,}\s+|\s*;\s+(?=I\b)")
_QUOTE_MARK = re.compile('["\u201c\u201d]')
_SENTENCE_END_KEEP = re.compile(f"({_SENTENCE_END.pattern})")
_WHITESPACE = re.compile(r"\s+")
# The word before a full stop that may be an abbreviation rather than the end
# of a sentence: "Ms", "e.g", "p.m", "U.S", an initial. Bounded: the
# splitter looks at most _ABBREVIATION_LOOK characters back and ahead.
_ABBREVIATION_LOOK = 16
_ABBREVIATION_TAIL = re.compile(r"(?:^|[\s(\[\"'/-])([A-Za-z]{1,7}(?:\.[A-Za-z]{1,2}){0,3})\.$")
#: A full stop after these never ends a sentence: a title comes before a
#: name ("I shall forward your message to Ms. Patrick"), the Latin ones
#: before an example.
_NEVER_FINAL = frozenset(
    "mr mrs ms messrs mssrs dr prof sen rep gov hon rev capt lt sgt approx appr vs cf viz e.g i.e".split()
)
#: A full stop after these ends a sentence unless a number follows
#: ("on Sept. 7", "No. 5", "Wed. 3/14") - or, for days, a month ("Fri. Dec. 7").
_BEFORE_NUMBER = frozenset(
    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun "
    "no nos ext fig vol pp sec art para".split()
)
_MONTH_AHEAD = re.compile(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b\.?")
#: "at 3 p.m. Central time" goes on; "at 3 p.m. Please call" is a new sentence.
_ZONE_AHEAD = re.compile(
    r"(?:Central|Eastern|Mountain|Pacific|Houston|London|New\s+York|[CEMP][SD]T|GMT|BST|CET)\b"
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "`": "'"})

#: Cheap cue for a first-person commitment; sentences without one never
#: reach the parser.
_CUE = re.compile(
    r"\b(?:i|we)\b(?:[^.!?]{0,40}?)(?:'ll\b|\b(?:will|shall|wil|going\s+to|gonna|plan|planning|intend)\b)"
    r"|\bwe\s+(?:\w+\s+)?(?:should|need|must|ought|have\s+to|got\s+to)\b"
    r"|\b(?:i|we)\s+should\s+be\s+able\b"
    r"|\blet(?:'s|\s+us)\b|^\W*lets\b|(?:\bbut\s+|[,;]\s*)lets\b(?!\s+(?:us|you|u|me|him|her|them|it|people|users)\b)|\blet\s+me\s+(?!know\b)"
    r"|^\W*(?:\w+\W+)?will\s+[a-z]"
    # "Redline of this document will follow."
    r"|\bwill\s+follow\b"
    # "Those items will be sent to you tomorrow."
    r"|\bwill\s+be\s+(?:sent|forwarded|faxed|e-?mailed|mailed|delivered|provided|distributed|circulated|overnighted)\b"
    # "I'd be happy to draft it", "I am glad to help", "I shall be honoured to serve", "I promise to".
    r"|\b(?:i|we)\b(?:'d|'m|'re|\s+(?:would|am|are|shall|will))(?:\s+be)?\s+"
    r"(?:happy|glad|delighted|pleased|willing|honou?red|thrilled)\s+to\b"
    r"|\b(?:i|we)\s+promise\b"
    # "I should have it today or tomorrow morning."
    r"|\b(?:i|we)\s+should\s+have\s+(?!been\b|[a-z]+ed\b)"
    # "... and will make a choice", "... a few comments - will stop by"
    r"|(?:\band|[-;\u2013\u2014])\s+will\s+[a-z]"
    # "Talk to you tomorrow", "No plans, call you later", "meet you there"
    r"|(?:^|[,;\-\u2013\u2014])\W*(?:call|ring|phone|meet|talk|speak)\s+(?:to\s+)?(?:you|u|ya)\s+"
    r"(?:tomorrow|tonight|today|there|later|this|next|at|in|on|after|before|first|(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b",
    re.IGNORECASE,
)


#: ... also after "but" or a comma: "I can not do lunch today, but lets take her out.", though
#: not the verb ("The portal, launched last week, lets us send invoices"); "let's us" is not English.
_BARE_LETS = re.compile(
    r"(^\W*|\bbut\s+|[,;]\s*)lets\b(?!\s+(?:us|you|u|me|him|her|them|it|people|users)\b)", re.IGNORECASE
)
#: "e-mail", "e:mail" (a Lotus Notes habit), "e mail": the tagger reads
#: "e:mail" as a noun and "e-mail" as an adjective, so "I will e:mail you"
#: had no verb to commit to.
_E_MAIL = re.compile(r"\b(e)[-: ]?(mail)", re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    """Split cleaned mail text into sentences, whitespace collapsed.

    Hard-wrapped lines of a paragraph are joined; list items and quoted
    lines (``>``) are kept apart, quoted lines dropped.
    """
    return [sentence for sentence, _spoken in _sentences(text)]


def _sentences(text: str) -> list[tuple[str, bool]]:
    """`split_sentences` with, for each sentence, whether it starts inside quotation marks.

    A sentence that starts inside a quotation closed later in its paragraph
    is someone else's speech - the dialogue of a pasted joke ("I'll give you
    back 10 years," said the monkey), a quoted message - never a promise of
    the author's.
    """
    sentences: list[tuple[str, bool]] = []
    for paragraph in _PARAGRAPH_BREAK.split(text[:MAX_TEXT_CHARS]):
        units: list[str] = []
        for line in paragraph.splitlines():
            if _QUOTE_LINE.match(line):
                continue
            # A line ending in a colon introduces a block (an address, a
            # list, a table) that is not part of its sentence.
            if not units or _LIST_ITEM.match(line) or units[-1].rstrip().endswith(":"):
                units.append(line)
            else:
                units[-1] += " " + line
        for unit in units:
            unit = _WHITESPACE.sub(" ", unit).strip()
            if not unit:
                continue
            spans = _speech_spans(unit)
            for part, start in _split_unit(unit):
                part = part.strip()
                if part:
                    sentences.append((part, any(opened < start < closed for opened, closed in spans)))
    return sentences


def _speech_spans(unit: str) -> list[tuple[int, int]]:
    """(opening, closing) positions of the quotations in `unit`.

    A straight quote opens after a space and before a word, and closes
    after a word and before a space or punctuation; one that fits neither
    (the inch mark of '12" pipe' outside a quotation) is ignored, and a
    quotation never closed counts for nothing.
    """
    if '"' not in unit and "\u201c" not in unit:
        return []
    spans: list[tuple[int, int]] = []
    opened: int | None = None
    for mark in _QUOTE_MARK.finditer(unit):
        index = mark.start()
        before = unit[index - 1] if index else " "
        after = unit[index + 1] if index + 1 < len(unit) else " "
        if opened is None:
            if mark.group() == "\u201c" or (mark.group() == '"' and before in " ([" and not after.isspace()):
                opened = index
        elif mark.group() == "\u201d" or (mark.group() == '"' and not before.isspace() and after in " .,;:!?)]"):
            spans.append((opened, index))
            opened = None
    return spans


def _split_unit(unit: str) -> list[tuple[str, int]]:
    """Split one whitespace-collapsed line or paragraph at sentence ends, not at abbreviations.

    Returns each sentence with its position in `unit`.
    """
    # Split in C keeping the separators, then glue back the few pieces
    # that end in an abbreviation: a Python loop over every match cost
    # more than the rest of the splitting.
    pieces = _SENTENCE_END_KEEP.split(unit)
    parts = [(pieces[0], 0)]
    position = len(pieces[0])
    for index in range(1, len(pieces) - 1, 2):
        separator, following = pieces[index] or "", pieces[index + 1]
        start = position + len(separator)
        last, last_start = parts[-1]
        if last.endswith(".") and separator[:1].isspace() and _abbreviation_before(last, following):
            parts[-1] = (last + separator + following, last_start)
        else:
            parts.append((following, start))
        position = start + len(following)
    return parts


def _abbreviation_before(text: str, ahead: str) -> bool:
    """True if the full stop ending `text` closes an abbreviation, judged by the text `ahead`."""
    found = _ABBREVIATION_TAIL.search(text[-_ABBREVIATION_LOOK:])
    if found is None:
        return False
    word = found.group(1)
    lowered = word.lower()
    ahead = ahead[:_ABBREVIATION_LOOK]
    if lowered in _NEVER_FINAL:
        return True
    if len(word) == 1:
        # An initial ("J. Smith"); a lone "I." is the pronoun ending a sentence.
        return word.isupper() and word != "I"
    if lowered in _BEFORE_NUMBER:
        return ahead[:1].isdigit() or (
            lowered[:3] in {"mon", "tue", "wed", "thu", "fri", "sat", "sun"} and bool(_MONTH_AHEAD.match(ahead))
        )
    if lowered in {"a.m", "p.m"}:
        return bool(_ZONE_AHEAD.match(ahead))
    return False


def candidate_sentences(text: str) -> list[str]:
    """The sentences of `text` worth parsing: those with a commitment cue."""
    return [
        sentence
        for sentence, spoken in _sentences(text)
        if not spoken and len(sentence) <= MAX_SENTENCE_CHARS and _CUE.search(sentence.translate(_APOSTROPHES))
    ]


def _parse_text(sentence: str) -> str:
    """The form of a sentence the parser sees: plain apostrophes, a final stop."""
    # "Lets meet" without its apostrophe parses as a plural noun subject.
    text = _BARE_LETS.sub(r"\1Let's", sentence.translate(_APOSTROPHES))
    text = _E_MAIL.sub(r"\1\2", text)
    return text if text[-1:] in ".!?" else text + "."

"""Reduce a mail body to its fresh text, and other text helpers.

A reply carries, besides what its author wrote, the whole conversation
before it: ``>``-quoted lines, ``-----Original Message-----`` blocks, Lotus
Notes forwards and header blocks, signatures and legal disclaimers. Promise
and question detection must see only what the author wrote in *this*
message, or a promise made months ago would be found again in every reply
that quotes it.

The rules work line by line and look at most a few lines ahead or back, so
the cost stays linear in the size of the body whatever it contains.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bs4 import Tag

__all__ = [
    "clean_body",
    "is_reply_subject",
    "split_fresh",
    "html_to_text",
    "normalize_subject",
    "strip_control",
]

# Longest line the rules look at; a longer one is author text or garbage,
# never a marker, and matching patterns against megabytes of it is waste.
_MARKER_LINE_MAX = 400

# Markers after which everything is older mail, never the author's text.
_CUT_MARKERS = re.compile(
    r"""^\s*(?:
        -{2,}\s*Original\s+Message\s*-{2,}            # Outlook
      | -{3,}\s*Forwarded\s+by\b                      # Lotus Notes
      | -{3,}\s*Forwarded\s+message\s*-{3,}           # Gmail
      | -{3,}\s*Message\s+transf[ée]r[ée]\s*-{3,}
      | -{3,}\s*Urspr[üu]ngliche\s+Nachricht\s*-{3,}
      | Begin\s+forwarded\s+message:
      | _{20,}\s*$                                    # Outlook Web reply rule
      | [^\s].{0,100}@.{0,60}\bon\s+\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AP]M)?\s*$
                                                    # Lotus: "Jane Doe@ENRON on 10/02/2000 09:12:40 AM"
      | -{3,}\s*(?:Original\s+message\s+follows|Transcript\s+of\s+session\s+follows
                  |The\s+following\s+addresses\s+had\s+permanent\s+fatal\s+errors)\s*-{3,}
      | The\s+original\s+message\s+was\s+received\s+at\b # a bounce the author pasted
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# "From: X Sent: Y To: Z Subject: W" flattened onto one line.
_FLAT_OUTLOOK_HEADER = re.compile(
    r"^\s*\*?From:\*?\s.{1,200}?\b(?:Sent|Date):\s.{1,100}?\b(?:To|Subject):",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(?:From|Von|De|Van)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_SENT = re.compile(r"^\s*\*?(?:Sent|Date|Gesendet|Datum|Envoy[ée])\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_TO_CC = re.compile(r"^\s*\*?(?:To|cc|An|[ÀA])\s*:", re.IGNORECASE)
_HEADER_SUBJECT = re.compile(r"^\s*\*?(?:Subject|Betreff|Objet)\s*:", re.IGNORECASE)

# Lines that sit right above a Lotus Notes "To:/cc:/Subject:" block.
_LOTUS_PREAMBLE = re.compile(
    r"""^\s*(?:
        [^\s@:][^@:]{0,80}@\s?[A-Za-z][\w.\-]*\s*$               # Jane Doe@ENRON
      | [^\s:][^:]{0,80}/[^:]{1,80}@[\w.\-]+\s*$                 # Jane Doe/HOU/ECT@ECT
      | .{0,120}?\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AP]M)?\s*$   # [Jane Doe   ]10/02/2000 09:12 AM
      | [^:<>]{0,80}<[^<>\s]+@[^<>\s]+>\s*$                     # Jane Doe <jane@example.com>
      | (?:From|Sent\ by):.{0,200}$                              # From:  Jane Doe   10/02/2000 ...
      | [A-Z][\w.&,\- ]{0,60}\b(?:Corp|Corporation|Inc|LLC|Ltd|Company)\.?\s*$
    )""",
    re.VERBOSE,
)
# "Kimberly Perkins" above a Lotus date line; only trusted right above it.
_BARE_NAME = re.compile(r"^\s*[^\s@:]{1,40}(?:\s[^\s@:]{1,40}){0,4}\s*$")
_BLANK = re.compile(r"^\s*$")
_DATE_TIME = r"\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AP]M)?"
# A Lotus date line on its own ("01/16/2001 04:40 PM"), a "From:" line
# ending in one, and a whole header block flattened onto one line.
_LOTUS_DATE_LINE = re.compile(rf"^\s*{_DATE_TIME}\s*$")
_LOTUS_FROM_DATE = re.compile(rf"(?:^|\s)From:\s.{{1,160}}?{_DATE_TIME}\s*$")
_LOTUS_FLAT = re.compile(rf"{_DATE_TIME}\s+(?:To|cc):", re.IGNORECASE)
# Lotus wraps a long sender line so the time of its date lands alone on the
# next line: "From: "Greg" <g@wt.net>      07/26/99" + "08:22 PM".
_BARE_TIME_LINE = re.compile(r"^\s*\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AP]M)?\s*$", re.IGNORECASE)
_ENDS_IN_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}\s*$")

# Pasted chat transcripts: "lynn8464 (11:11:28 AM): text" and
# "[10:02] Jane: text". Each turn is someone's chat line, never this
# message's own words; a wrapped turn continues on the following lines.
_CHAT_TURN_TIMED = re.compile(
    r"""^\s*(?:
        [^\s():\[\]]{1,40}(?:\ [^\s():\[\]]{1,40})?\s*\(\s*\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AP]\.?M\.?)?\s*\)\s*:
      | \[\s*\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AP]\.?M\.?)?\s*\]\s*[^\s:\[\]]{1,40}(?:\ [^\s:\[\]]{1,40})?\s*:
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# "Jane: text" without a time counts only in a run of alternating turns
# (see _drop_transcripts): one-word speakers, or a first and last name.
_CHAT_TURN_PLAIN = re.compile(r"^\s*([A-Za-z][\w.\-]{0,24}(?: [A-Z][\w.\-]{0,24})?)\s*:\s+\S")
# Field labels that look like speakers in an itinerary or a form.
_NOT_SPEAKERS = frozenset(
    "from to cc bcc sent date subject re fw fwd time place location where when what who why how note notes "
    "ps p.s q a attn attention ref phone tel fax cell mobile email e-mail address name title company "
    "dinner lunch breakfast cocktails reception hotel flight agenda topic purpose status action owner due "
    "price volume total delivery term comments answer question update issue item".split()
)
_CHAT_RUN_MIN = 4
_CHAT_WRAP_MIN_CHARS = 60

# "On Tue, 3 Oct 2000, Jane Doe wrote:" (possibly wrapped over two lines)
# and the bare "jane@example.com wrote:" that Enron replies carry.
_ATTRIBUTION = re.compile(
    r"^\s*(?:On\b.{0,250}|[^\s>].{0,150}?)\b(?:wrote|writes|schrieb|a\s+écrit|escribió)\s*:\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(r"^\s*On\b.{0,250}$", re.IGNORECASE)

_QUOTED = re.compile(r"^\s*>")

# Signatures: the "-- " delimiter, and sign-off words on a line of their own.
_SIG_DELIMITER = re.compile(r"^--\s*$|^-- \S")
_SIGN_OFF = re.compile(
    r"""^\s*(?:
        thanks(?:\s+(?:again|so\s+much|a\s+lot|in\s+advance))?
      | thank\s+you(?:\s+(?:again|so\s+much|very\s+much))?
      | many\s+thanks | thx | tia | cheers | best | all\s+the\s+best
      | (?:best|kind|warm|warmest|many)\s+(?:regards|wishes)
      | regards | sincerely | yours(?:\s+(?:truly|sincerely))? | respectfully
      | talk\s+(?:soon|to\s+you\s+soon) | take\s+care | ciao | cordially
      | mit\s+freundlichen\s+gr[üu](?:ß|ss)en | viele\s+gr[üu](?:ß|ss)e | gr[üu](?:ß|ss)e
    )\s*[,.!\-]*\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# A sign-off is only cut when what follows it is a short contact block.
_SIG_BLOCK_MAX_LINES = 8
_PHONE_LINE = re.compile(
    r"^\s*(?:(?:phone|tel|telephone|fax|cell|mobile|direct|office|pager|ph|[otfmc])\s*[:.#]?\s*)?"
    r"[+(]?\d[\d ()./\-]{6,}\d\s*(?:\(?(?:ext|x)\.?\s*\d+\)?)?\s*(?:\(?(?:office|cell|fax|mobile|home|direct)\)?)?\s*$",
    re.IGNORECASE,
)
_SIG_LINE_MAX_CHARS = 80

_MOBILE_FOOTER = re.compile(
    r"^\s*(?:Sent\s+(?:from|via|using)\s+(?:my\s+)?(?:i?Phone|iPad|BlackBerry|Android|mobile|Samsung|Galaxy|Windows\s+Phone|Outlook|Mail\s+for\s+Windows|Yahoo|AOL|Gmail|phone|tablet|device|wireless)\b.{0,80}"
    r"|Get\s+Outlook\s+for\s+(?:iOS|Android)\s*)$",
    re.IGNORECASE,
)

_DISCLAIMER = re.compile(
    r"""(?:
        \b(?:this|the)\s+(?:e-?mail|message|communication|transmission|information)\b
            .{0,250}\b(?:confidential|privileged|intended\s+(?:solely\s+|only\s+)?for|intended\s+recipient)
      | \bif\s+you\s+(?:are\s+not|have\s+received\s+this)\b.{0,120}\b(?:intended\s+recipient|in\s+error)
      | \bconfidentiality\s+notice\b
    )""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
_RULE_LINE = re.compile(r"^\s*[*=_\-~#]{5,}\s*$")

# Enron's archive replaced attachments with "<< File: name.doc >>" lines.
_FILE_MARKER = re.compile(r"<<\s*(?:File|Attachment)\s*:\s*([^<>\n]{1,200}?)\s*>>", re.IGNORECASE)
_FILE_MARKER_LINE = re.compile(r"^\s*(?:-\s*)?[^<>\n]{0,200}<<\s*(?:File|Attachment)\s*:[^<>\n]*>>\s*$", re.IGNORECASE)

# Control characters that have no business in text, and the bidirectional
# overrides used to disguise file names and links ("trojan source").
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb]"
)

# "Re:", "RE[2]:", "Fw:", "AW:" ...: a reply's or a forward's prefix.
_REPLY_PREFIX = r"(?:re|fwd?|aw|wg|sv|vs|antw|tr|rif|ref)\s*(?:\[\d+\]|\(\d+\))?\s*:"
_SUBJECT_PREFIX = re.compile(rf"^\s*(?:{_REPLY_PREFIX}|\[[^\]]{{0,80}}\])\s*", re.IGNORECASE)
_REPLY_START = re.compile(rf"^\s*{_REPLY_PREFIX}", re.IGNORECASE)

_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt fieldset figcaption figure footer "
    "form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody thead tfoot "
    "tr td th ul".split()
)
_DROP_TAGS = ("script", "style", "head", "title", "noscript", "template", "svg", "object", "iframe")


def strip_control(text: str) -> str:
    """Remove control, zero-width and bidi-override characters, keeping tabs and newlines."""
    return _CONTROL.sub("", text)


def is_reply_subject(subject: str) -> bool:
    """True if `subject` starts with a reply or forward prefix, after any ``[tags]``: "[EXTERNAL] RE: x"."""
    text = strip_control(subject[:1_000])
    while not _REPLY_START.match(text):
        stripped = _SUBJECT_PREFIX.sub("", text, count=1)
        if stripped == text:
            return False
        text = stripped
    return True


def normalize_subject(subject: str) -> str:
    """Return `subject` without reply/forward prefixes and ``[list]`` tags, for threading.

    Strips any number of ``Re:``, ``RE[2]:``, ``Fw:``, ``Fwd:``, ``AW:``,
    ``WG:``, ``SV:``, ``VS:``, ``Antw:`` prefixes and bracketed tags, collapses
    whitespace and lower-cases, so every message of a conversation maps to
    the same string.
    """
    text = " ".join(strip_control(subject).split())
    while True:
        stripped = _SUBJECT_PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return text.strip().lower()


def html_to_text(html: str) -> str:
    """Convert an HTML body to plain text.

    Scripts, styles and the head are dropped; block elements and ``<br>``
    become line breaks; ``<blockquote>`` content comes out ``>``-quoted so
    `clean_body` treats it as the quoted mail it is.
    """
    # Imported here: Beautiful Soup takes a twentieth of a second to
    # import, and a scan that finds no new HTML mail never needs it.
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    # Innermost quotes first, so nested quotes collect one ">" per level.
    for quote in reversed(soup.find_all("blockquote")):
        inner = _blocks_text(quote)
        quoted = "\n".join("> " + line if line.strip() else ">" for line in inner.splitlines())
        quote.replace_with("\n" + quoted + "\n")
    return _tidy_lines(_blocks_text(soup))


def _blocks_text(node: Tag) -> str:
    """Text of `node` with a line break around every block element."""
    parts: list[str] = []
    for element in node.descendants:
        name = getattr(element, "name", None)
        if name is None:
            parts.append(str(element))
        elif name in _BLOCK_TAGS:
            parts.append("\n")
    text = "".join(parts)
    # HTML collapses runs of whitespace inside a line; so do we.
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def _tidy_lines(text: str) -> str:
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def clean_body(text: str) -> str:
    """Return the fresh text of a plain-text mail body.

    Drops ``>``-quoted lines, everything from an ``-----Original Message-----``
    marker, a Lotus Notes forward or header block, an Outlook ``From:/Sent:``
    header block or an "On ..., X wrote:" line followed by unquoted text;
    signatures (after ``-- `` or a sign-off followed only by a short contact
    block), legal disclaimers and "Sent from my iPhone" lines. Line endings
    become ``\\n`` and runs of blank lines collapse to one.
    """
    return split_fresh(text)[0]


def split_fresh(text: str) -> tuple[str, tuple[str, ...]]:
    """Like `clean_body`, and also return the attachment names the fresh text mentions.

    Archives such as Enron's replace attachments with ``<< File: name >>``
    lines; only those in the fresh text belong to this message.
    """
    text = strip_control(text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.split("\n")
    lines = lines[: _find_cut(lines)]
    lines = _drop_quoted(lines)
    lines = _drop_transcripts(lines)
    lines = _cut_disclaimer(lines)
    lines = _cut_signature(lines)

    files: list[str] = []
    kept: list[str] = []
    for line in lines:
        if len(line) <= _MARKER_LINE_MAX and "<<" in line:
            for name in _FILE_MARKER.findall(line):
                if name not in files:
                    files.append(name)
            if _FILE_MARKER_LINE.match(line):
                continue
        if len(line) <= _MARKER_LINE_MAX and _MOBILE_FOOTER.match(line):
            continue
        kept.append(line.rstrip())
    # A rule at the very end is no text, most often the one a cut footer or
    # signature hung from ("-----" above "Sent from my BlackBerry"): left
    # in, it ends the last sentence ("I need your home cell or whatever
    # ------"). A rule inside the text stays.
    while kept and (not kept[-1].strip() or _RULE_LINE.match(kept[-1])):
        kept.pop()
    body = "\n".join(kept)
    body = re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", body)
    return body.strip("\n").strip(), tuple(files)


def _find_cut(lines: list[str]) -> int:
    """Index of the first line that belongs to older mail, or len(lines)."""
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if len(line) > _MARKER_LINE_MAX:
            # Flattened header blocks make long lines; look at their start only.
            if _LOTUS_FLAT.search(line[:_MARKER_LINE_MAX]) or _FLAT_OUTLOOK_HEADER.match(line[:_MARKER_LINE_MAX]):
                return index
            continue
        if _CUT_MARKERS.match(line) or _FLAT_OUTLOOK_HEADER.match(line):
            return index
        if _ENDS_IN_DATE.search(line) and index + 1 < len(lines) and _BARE_TIME_LINE.match(lines[index + 1]):
            joined = line.rstrip() + " " + lines[index + 1].strip()
            if _CUT_MARKERS.match(joined):
                return index
            if _LOTUS_FROM_DATE.search(joined) and _header_lines_follow(lines, index + 1):
                return _lotus_block_start(lines, index, include_self=True)
        if _HEADER_FROM.match(line) and _outlook_block_follows(lines, index):
            return index
        if _LOTUS_FLAT.search(line):
            return index
        if (_LOTUS_DATE_LINE.match(line) or _LOTUS_FROM_DATE.search(line)) and _header_lines_follow(lines, index):
            return _lotus_block_start(lines, index, include_self=True)
        if _HEADER_TO_CC.match(line) and _lotus_block_follows(lines, index):
            return _lotus_block_start(lines, index)
        if _is_attribution(lines, index):
            # "X wrote:" above ">"-quoted lines is bottom- or inline-quoting:
            # the quoted lines go, the author's answers between them stay.
            following = _next_nonblank(lines, index + 1 + _attribution_extra(lines, index))
            if following is None or not _QUOTED.match(lines[following]):
                return index
    return len(lines)


def _outlook_block_follows(lines: list[str], index: int) -> bool:
    """True if a From: line at `index` opens an Outlook-style header block."""
    window = lines[index + 1 : index + 7]
    has_sent = any(_HEADER_SENT.match(line) for line in window if len(line) <= _MARKER_LINE_MAX)
    has_rest = any(
        _HEADER_TO_CC.match(line) or _HEADER_SUBJECT.match(line)
        for line in window
        if len(line) <= _MARKER_LINE_MAX
    )
    return has_sent and has_rest


def _lotus_block_follows(lines: list[str], index: int) -> bool:
    """True if a To:/cc: line at `index` is followed by a Subject: line soon after."""
    # Long recipient lists wrap over dozens of lines, hence the generous window.
    return any(
        _HEADER_SUBJECT.match(line) for line in lines[index : index + 40] if len(line) <= _MARKER_LINE_MAX
    )


def _header_lines_follow(lines: list[str], index: int) -> bool:
    """True if To:/cc:/Subject:/Sent by: lines come within a few lines after `index`."""
    return any(
        _HEADER_TO_CC.match(line) or _HEADER_SUBJECT.match(line) or line.lstrip().startswith("Sent by:")
        for line in lines[index + 1 : index + 9]
        if len(line) <= _MARKER_LINE_MAX
    )


def _lotus_block_start(lines: list[str], index: int, *, include_self: bool = False) -> int:
    """Walk back from a To: (or date) line over the sender, date and blank lines above it."""
    start = index
    probe = index - 1
    while probe >= 0 and index - probe <= 8:
        line = lines[probe]
        if _BLANK.match(line):
            # The sender/date lines form one paragraph; a blank line above
            # them separates the header from the author's text.
            if start != index:
                break
            probe -= 1
            continue
        if len(line) <= _MARKER_LINE_MAX and (
            _LOTUS_PREAMBLE.match(line) or (_BARE_NAME.match(line) and lines[probe + 1].strip())
        ):
            start = probe
            probe -= 1
            continue
        break
    # A bare name line only belongs to the block if a date line is part of it;
    # otherwise it is more likely the author's own sign-off.
    block = lines[start : index + 1] if include_self else lines[start:index]
    if not any(re.search(r"\d{1,2}/\d{1,2}/\d{2,4}|@", line) for line in block):
        return index
    return start


def _is_attribution(lines: list[str], index: int) -> bool:
    line = lines[index]
    if _ATTRIBUTION.match(line):
        return True
    # "On Tue, Oct 3, 2000 at 9:12 AM, Jane Doe <jane@example.com>\nwrote:"
    if _ATTRIBUTION_START.match(line) and index + 1 < len(lines):
        joined = line.rstrip() + " " + lines[index + 1].strip()
        return len(lines[index + 1]) <= _MARKER_LINE_MAX and bool(_ATTRIBUTION.match(joined))
    return False


def _attribution_extra(lines: list[str], index: int) -> int:
    return 0 if _ATTRIBUTION.match(lines[index]) else 1


def _next_nonblank(lines: list[str], start: int) -> int | None:
    for index in range(start, len(lines)):
        if lines[index].strip():
            return index
    return None


def _drop_quoted(lines: list[str]) -> list[str]:
    """Remove ">"-quoted lines and the attribution lines that introduce them."""
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if _QUOTED.match(line):
            index += 1
            continue
        if len(line) <= _MARKER_LINE_MAX and line.strip() and _is_attribution(lines, index):
            index += 1 + _attribution_extra(lines, index)
            continue
        kept.append(line)
        index += 1
    return kept


def _drop_transcripts(lines: list[str]) -> list[str]:
    """Remove the turns of pasted chat transcripts, with the wrapped lines of each turn."""
    drop = [False] * len(lines)
    for index, line in enumerate(lines):
        # The substring tests are cheap and spare most lines the pattern.
        if ":" in line and len(line) <= _MARKER_LINE_MAX and _CHAT_TURN_TIMED.match(line):
            drop[index] = True
    _mark_plain_chat_runs(lines, drop)
    if not any(drop):
        return lines
    kept: list[str] = []
    previous_dropped = ""
    for index, line in enumerate(lines):
        if drop[index]:
            previous_dropped = line
            continue
        if previous_dropped and line.strip() and len(previous_dropped.rstrip()) >= _CHAT_WRAP_MIN_CHARS:
            # A long turn wrapped onto this line by the mail client.
            previous_dropped = line
            continue
        previous_dropped = ""
        kept.append(line)
    return kept


def _mark_plain_chat_runs(lines: list[str], drop: list[bool]) -> None:
    """Mark runs of "Name: text" lines where two speakers take turns, at least `_CHAT_RUN_MIN` lines long.

    People address several colleagues in one message ("Anthony: ...",
    "Jenny: ..."), each once, usually in paragraphs; a chat has two people
    answering each other line after line.
    """
    run: list[tuple[int, str]] = []

    def close() -> None:
        if not run:
            return
        speakers = [speaker for _, speaker in run]
        changes = sum(1 for a, b in zip(speakers, speakers[1:]) if a != b)
        if len(run) >= _CHAT_RUN_MIN and len(set(speakers)) == 2 and changes >= _CHAT_RUN_MIN - 1:
            for index, _ in run:
                drop[index] = True
        run.clear()

    for index, line in enumerate(lines):
        found = _CHAT_TURN_PLAIN.match(line) if ":" in line and len(line) <= _MARKER_LINE_MAX else None
        speaker = found.group(1).lower() if found else ""
        if found and speaker not in _NOT_SPEAKERS:
            run.append((index, speaker))
        elif run and line.strip() and not found and len(lines[run[-1][0]].rstrip()) >= _CHAT_WRAP_MIN_CHARS:
            continue  # the wrapped tail of the last turn
        else:
            close()
    close()


def _paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) line ranges of the blank-line separated paragraphs."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for index, line in enumerate(lines):
        if line.strip():
            if start is None:
                start = index
        elif start is not None:
            spans.append((start, index))
            start = None
    if start is not None:
        spans.append((start, len(lines)))
    return spans


def _cut_disclaimer(lines: list[str]) -> list[str]:
    """Cut from the first paragraph that reads like a legal disclaimer."""
    for start, end in _paragraphs(lines):
        paragraph = " ".join(line.strip() for line in lines[start:end])[:2000]
        if _DISCLAIMER.search(paragraph):
            # Disclaimers are written in the third person about "this
            # e-mail"; an author's sentence that mentions a confidential
            # message is short and carries "I"/"you" - keep those.
            if len(paragraph) < 120 and re.search(r"\b(?:I|we|you)\b", paragraph):
                continue
            cut = start
            while cut > 0 and (not lines[cut - 1].strip() or _RULE_LINE.match(lines[cut - 1])):
                cut -= 1
            return lines[:cut]
    return lines


def _cut_signature(lines: list[str]) -> list[str]:
    """Cut a "-- " signature, or a sign-off followed only by a short contact block."""
    for index, line in enumerate(lines):
        if _SIG_DELIMITER.match(line):
            return lines[:index]
    lines = _cut_contact_block(lines)
    # Search sign-offs from the end: the last one is the real one.
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if len(line) > _MARKER_LINE_MAX or not _SIGN_OFF.match(line):
            continue
        tail = [rest for rest in lines[index + 1 :] if rest.strip()]
        if len(tail) <= _SIG_BLOCK_MAX_LINES and all(_looks_like_contact(rest) for rest in tail):
            # Keep "Thanks!" itself: it is the author's text, and asks()
            # needs to see it to know the message ends with a thank-you.
            return lines[: index + 1]
        return lines
    return lines


def _cut_contact_block(lines: list[str]) -> list[str]:
    """Drop a trailing name/company/phone block that has no sign-off above it.

    Only the last paragraph goes, only when it holds a phone or fax number
    and nothing but contact-shaped lines, and never when it is the whole
    message.
    """
    spans = _paragraphs(lines)
    if len(spans) < 2:
        return lines
    start, end = spans[-1]
    block = lines[start:end]
    if len(block) > _SIG_BLOCK_MAX_LINES or not any(_PHONE_LINE.search(line) for line in block):
        return lines
    if all(_looks_like_contact(line) for line in block):
        # A sign-off heading the block is the author's; keep it (see below).
        return lines[: start + 1] if _SIGN_OFF.match(block[0]) else lines[:start]
    return lines


def _looks_like_contact(line: str) -> bool:
    """True for a short line of a name/title/phone/address block, not a sentence."""
    stripped = line.strip()
    if len(stripped) > _SIG_LINE_MAX_CHARS:
        return False
    if "?" in stripped:
        return False
    # Sentences end in a full stop after a lower-case word; contact lines don't.
    return not re.search(r"[a-z]{2,}[.!]\s*$", stripped) or bool(
        re.search(r"\b(?:Inc|Corp|Ltd|Co|St|Ave|Dr|Rd|Blvd|Ste)\.\s*$", stripped)
    )


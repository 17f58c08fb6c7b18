"""Sample candidate sentences for the hand-labelled promise dev set.

Reads the sent folders (``.Sent``) of the Enron dev mailboxes, keeps only the
author's own text (quoted replies, forwards and Lotus Notes header blocks are
cut), splits it into sentences and draws a reproducible sample:

* about 55% from sentences carrying a first-person-future cue (see
  ``FUTURE_CUE``), because promises are rare in a uniform sample and the set
  needs enough positives to measure recall;
* about 45% uniformly from every remaining fresh-text sentence, so the set
  also reflects what the extractor meets in ordinary mail.

The output is *unlabelled*: one JSON object per line with ``id``,
``sentence``, ``sent_at``, ``source``, plus ``stratum`` (``cue`` or
``random``) and ``path`` for traceability. Labels are added by hand; see
``tests/data/README-promises-dev.md``.

Usage::

    python benchmarks/build_devset_candidates.py \\
        --enron /tmp/enron --out /tmp/promises-dev-candidates.jsonl
"""

from __future__ import annotations

import argparse
import email
import email.policy
import email.utils
import json
import logging
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MAILBOXES = ("allen-p", "beck-s", "nemec-g")
DEFAULT_SEED = 20010314
MAX_SENTENCE_CHARS = 400

# Any of these lines marks the start of someone else's text; everything from
# there on is dropped. The Lotus Notes patterns matter most in this corpus,
# which has no In-Reply-To headers and rarely uses ">" quoting.
QUOTE_START = re.compile(
    r"""
    -{2,}\s*Original\s+Message\s*-{2,}          # Outlook reply
    | -{2,}\s*Forwarded\s+by                     # Lotus / Outlook forward
    | ^\s*From:\s                                # header block of a quote
    | ^\s*To:\s
    | ^\s*Sent:\s
    | ^\s*cc:\s
    | \d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(:\d{2})?\s*[AP]M   # Lotus "12/14/2000 05:55 PM"
    | ^\s*Please\s+respond\s+to\b
    | \bwrote:\s*$
    | ^\s*_{10,}\s*$                             # mailing-list footer rule
    """,
    re.IGNORECASE | re.VERBOSE,
)

# First-person-future cues used to build the cue stratum. Straight and curly
# apostrophes are both accepted.
_APOS = "['\u2019]"
FUTURE_CUE = re.compile(
    rf"""
    \b(?:I|we){_APOS}ll\b
    | \b(?:I|we)\s+will\b
    | \b(?:I|we)\s+shall\b
    | \b(?:I{_APOS}m|I\s+am|we{_APOS}re|we\s+are)\s+going\s+to\b
    | \blet\s+me\b
    | \blet{_APOS}s\b
    | \blet\s+us\b
    | \bwill\s+do\b
    | \bI\s+can\s+(?:send|get|forward|call|check|have)\b
    | \bI{_APOS}?d\s+be\s+(?:happy|glad)\s+to\b
    | \bI\s+would\s+be\s+(?:happy|glad)\s+to\b
    | \bI\s+(?:plan|intend)\s+to\b
    | ^\s*(?:Will|Shall)\s+\w+
    """,
    re.IGNORECASE | re.VERBOSE,
)

# Tokens after which a full stop does not end a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "jr", "sr", "st", "inc", "corp", "co", "ltd",
    "e.g", "i.e", "etc", "vs", "no", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "a.m", "p.m", "approx",
    "dept", "ext", "pg", "para", "sec",
}
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9$])")


@dataclass(frozen=True)
class Candidate:
    """One fresh-text sentence and where it came from."""

    mailbox: str
    path: str
    sent_at: str
    sentence: str


def fresh_text(body: str) -> str:
    """Return the author's own text of ``body``, without quotes or forwards.

    Lines starting with ``>`` are dropped; at the first line that opens a
    quoted or forwarded block the rest of the body is discarded. The line
    just before a Lotus Notes date line is usually the quoted author's name,
    so it goes too.
    """
    kept_lines: list[str] = []
    for line in body.splitlines():
        if QUOTE_START.search(line):
            if kept_lines and _looks_like_name(kept_lines[-1]):
                kept_lines.pop()
            break
        if line.lstrip().startswith(">"):
            continue
        kept_lines.append(line)
    return "\n".join(kept_lines)


def _looks_like_name(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and len(stripped.split()) <= 6 and not stripped.endswith((".", "?", "!", ":"))


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences with a deliberately simple splitter.

    Paragraphs (blank-line separated) never share a sentence; hard-wrapped
    lines inside a paragraph are joined first.
    """
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        joined = " ".join(part.strip() for part in paragraph.splitlines() if part.strip())
        if not joined:
            continue
        pieces = _SENTENCE_BREAK.split(joined)
        merged: list[str] = []
        for piece in pieces:
            if merged and _ends_with_abbreviation(merged[-1]):
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                merged.append(piece)
        sentences.extend(" ".join(s.split()) for s in merged)
    return sentences


def _ends_with_abbreviation(sentence: str) -> bool:
    last = sentence.rstrip().split()[-1] if sentence.strip() else ""
    token = last.rstrip(".").lower()
    # A single capital letter ("Greg W.") is an initial, not a sentence end.
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def _is_usable(sentence: str) -> bool:
    words = re.findall(r"[A-Za-z]+", sentence)
    return len(words) >= 2 and len(sentence) <= MAX_SENTENCE_CHARS


def message_body(message: email.message.Message) -> str:
    """Return the first text/plain part of ``message``, decoded leniently."""
    for part in message.walk():
        if part.get_content_type() != "text/plain":
            continue
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "us-ascii"
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:
            return payload.decode("latin-1", errors="replace")
    return ""


def iter_candidates(enron_root: Path, mailbox: str):
    """Yield every usable fresh-text sentence of one mailbox's sent folder."""
    sent = enron_root / mailbox / "Maildir" / ".Sent"
    for path in sorted(p for sub in ("cur", "new") for p in (sent / sub).glob("*")):
        try:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
            sent_at = email.utils.parsedate_to_datetime(message["Date"]).isoformat()
            body = message_body(message)
        except Exception:  # hostile input: one bad file must not stop sampling
            logger.warning("skipping unreadable message %s", path.name, exc_info=True)
            continue
        for sentence in split_sentences(fresh_text(body)):
            if _is_usable(sentence):
                yield Candidate(mailbox, str(path.relative_to(enron_root)), sent_at, sentence)


def sample(enron_root: Path, per_mailbox_cue: int, per_mailbox_random: int, seed: int):
    """Draw the cue and random strata for every mailbox; return dict rows."""
    rng = random.Random(seed)
    seen: set[str] = set()
    rows: list[dict] = []
    for mailbox in MAILBOXES:
        pool: list[Candidate] = []
        for candidate in iter_candidates(enron_root, mailbox):
            key = candidate.sentence.lower()
            if key in seen:
                continue
            seen.add(key)
            pool.append(candidate)
        cue_pool = [c for c in pool if FUTURE_CUE.search(c.sentence)]
        chosen_cue = rng.sample(cue_pool, min(per_mailbox_cue, len(cue_pool)))
        chosen_ids = {id(c) for c in chosen_cue}
        rest = [c for c in pool if id(c) not in chosen_ids]
        chosen_random = rng.sample(rest, min(per_mailbox_random, len(rest)))
        logger.info(
            "%s: %d fresh sentences, %d with a cue; took %d cue + %d random",
            mailbox, len(pool), len(cue_pool), len(chosen_cue), len(chosen_random),
        )
        picked = [(c, "cue") for c in chosen_cue] + [(c, "random") for c in chosen_random]
        # Order by message so neighbouring sentences are labelled together.
        picked.sort(key=lambda item: (item[0].path, item[0].sentence))
        for number, (candidate, stratum) in enumerate(picked, start=1):
            rows.append({
                "id": f"enron-{mailbox}-{number:04d}",
                "sentence": candidate.sentence,
                "sent_at": candidate.sent_at,
                "source": "enron",
                "stratum": stratum,
                "path": candidate.path,
            })
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enron", type=Path, default=Path("/tmp/enron"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/promises-dev-candidates.jsonl"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--cue-per-mailbox", type=int, default=80)
    parser.add_argument("--random-per-mailbox", type=int, default=65)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    rows = sample(args.enron, args.cue_per_mailbox, args.random_per_mailbox, args.seed)
    with args.out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    logger.info("wrote %d candidates to %s", len(rows), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

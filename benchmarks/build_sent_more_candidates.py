"""Sample more candidate sentences for hand-labelled promise training data.

Draws a fresh sample from the sent mail (``.Sent``) of the Enron mailboxes
beck-s and nemec-g, never repeating a sentence that is already in a labelled
set (``tests/data/promises-{dev,val,test}.jsonl`` by default).

Everything about sentence extraction is reused by import:
``message_body``, ``fresh_text``, ``split_sentences`` and ``FUTURE_CUE`` from
``build_devset_candidates.py``, the normalisation and exclusion helper
``load_excluded`` from ``build_valset_candidates.py``. Differences from those
samplers:

* messages that look automated (mailing-list / bulk headers, a no-reply or
  newsletter sender, an unsubscribe footer in the fresh text) are skipped;
* a sentence must have at least 4 words (``[A-Za-z]+`` runs) and at most
  400 characters;
* per mailbox 150 sentences, 60% (90) from the sentences with a
  first-person-future cue and 40% (60) uniformly from the rest; seed 34;
* duplicates (whitespace-normalised, lower-cased) are skipped across both
  mailboxes, as in the other samplers.

The output is unlabelled, one JSON object per line with ``id``
(``sent-more-NNNN``, numbered across both mailboxes in sample order),
``sentence``, ``sent_at``, ``source``, ``stratum``, ``mailbox`` and ``path``.
Labels are added by hand; see ``tests/data/README-promises-dev.md``.
The output is deterministic for a given corpus and excluded sets.

The committed ``tests/data/promises-sent-more.jsonl`` was drawn with the
default exclusion (dev, validation and test sets, the only labelled sets at
the time). The inbox sets (``promises-inbox-*.jsonl``) were committed later;
none of the 300 drawn sentences is in them, but they share 4 sentences with
this script's pool, so passing them via ``--exclude`` draws another sample.

Usage::

    python benchmarks/build_sent_more_candidates.py \\
        --enron /tmp/enron --out /tmp/promises-sent-more-candidates.jsonl
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_devset_candidates import (  # noqa: E402
    FUTURE_CUE,
    MAX_SENTENCE_CHARS,
    fresh_text,
    message_body,
    split_sentences,
)
from build_valset_candidates import _key, load_excluded  # noqa: E402

logger = logging.getLogger(__name__)

MAILBOXES = ("beck-s", "nemec-g")
DEFAULT_SEED = 34
PER_MAILBOX = 150
CUE_SHARE = 0.6
MIN_WORDS = 4
ID_PREFIX = "sent-more"
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
DEFAULT_EXCLUDE = tuple(DATA / f"promises-{name}.jsonl" for name in ("dev", "val", "test"))

_BULK_PRECEDENCE = re.compile(r"^\s*(bulk|list|junk)\b", re.IGNORECASE)
_AUTOMATED_SENDER = re.compile(
    r"(no-?reply|do-?not-?reply|newsletter|mailer-daemon|listserv|majordomo|bounce)",
    re.IGNORECASE,
)
_AUTOMATED_BODY = re.compile(
    r"(\bunsubscribe\b|to\s+be\s+removed\s+from\s+(?:this|our)\s+(?:list|mailing)"
    r"|you\s+are\s+receiving\s+this\s+(?:e-?mail|message|newsletter))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Candidate:
    """One fresh-text sentence and where it came from."""

    mailbox: str
    path: str
    sent_at: str
    sentence: str


def is_automated(message: email.message.Message, fresh: str) -> bool:
    """Return True for newsletters, mailing-list and other machine mail."""
    if any(message.get(h) for h in ("List-Id", "List-Unsubscribe", "List-Post")):
        return True
    if _BULK_PRECEDENCE.match(message.get("Precedence", "") or ""):
        return True
    auto = (message.get("Auto-Submitted", "") or "").strip().lower()
    if auto and auto != "no":
        return True
    if _AUTOMATED_SENDER.search(message.get("From", "") or ""):
        return True
    return bool(_AUTOMATED_BODY.search(fresh))


def _is_usable(sentence: str) -> bool:
    words = re.findall(r"[A-Za-z]+", sentence)
    return len(words) >= MIN_WORDS and len(sentence) <= MAX_SENTENCE_CHARS


def iter_candidates(enron_root: Path, mailbox: str, stats: dict):
    """Yield every usable fresh-text sentence of one mailbox's sent folder."""
    sent = enron_root / mailbox / "Maildir" / ".Sent"
    for path in sorted(p for sub in ("cur", "new") for p in (sent / sub).glob("*")):
        try:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
            sent_at = email.utils.parsedate_to_datetime(message["Date"]).isoformat()
            fresh = fresh_text(message_body(message))
        except Exception:  # hostile input: one bad file must not stop sampling
            logger.warning("skipping unreadable message %s", path.name, exc_info=True)
            continue
        if is_automated(message, fresh):
            stats["automated"] = stats.get("automated", 0) + 1
            continue
        for sentence in split_sentences(fresh):
            if _is_usable(sentence):
                yield Candidate(mailbox, str(path.relative_to(enron_root)), sent_at, sentence)


def sample(enron_root: Path, per_mailbox: int, seed: int, excluded: set[str]) -> list[dict]:
    """Draw the cue and random strata for every mailbox; return dict rows."""
    rng = random.Random(seed)
    n_cue = round(per_mailbox * CUE_SHARE)
    n_random = per_mailbox - n_cue
    seen: set[str] = set()
    rows: list[dict] = []
    for mailbox in MAILBOXES:
        stats: dict = {}
        pool: list[Candidate] = []
        dropped = 0
        for candidate in iter_candidates(enron_root, mailbox, stats):
            key = _key(candidate.sentence)
            if key in seen:
                continue
            seen.add(key)
            if key in excluded:
                dropped += 1
                continue
            pool.append(candidate)
        cue_pool = [c for c in pool if FUTURE_CUE.search(c.sentence)]
        chosen_cue = rng.sample(cue_pool, min(n_cue, len(cue_pool)))
        chosen_ids = {id(c) for c in chosen_cue}
        rest = [c for c in pool if id(c) not in chosen_ids]
        chosen_random = rng.sample(rest, min(n_random, len(rest)))
        logger.info(
            "%s: %d automated messages skipped; %d fresh sentences (%d labelled ones "
            "excluded), %d with a cue; took %d cue + %d random",
            mailbox, stats.get("automated", 0), len(pool), dropped, len(cue_pool),
            len(chosen_cue), len(chosen_random),
        )
        picked = [(c, "cue") for c in chosen_cue] + [(c, "random") for c in chosen_random]
        # Order by message so neighbouring sentences are labelled together.
        picked.sort(key=lambda item: (item[0].path, item[0].sentence))
        for candidate, stratum in picked:
            rows.append({
                "id": f"{ID_PREFIX}-{len(rows) + 1:04d}",
                "sentence": candidate.sentence,
                "sent_at": candidate.sent_at,
                "source": "enron",
                "stratum": stratum,
                "mailbox": mailbox,
                "path": candidate.path,
            })
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enron", type=Path, default=Path("/tmp/enron"))
    parser.add_argument("--exclude", type=Path, action="append",
                        help="labelled set whose sentences are excluded "
                             "(repeatable; default: the dev, validation and test sets)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/promises-sent-more-candidates.jsonl"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--per-mailbox", type=int, default=PER_MAILBOX)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    excluded: set[str] = set()
    for path in args.exclude or list(DEFAULT_EXCLUDE):
        keys = load_excluded(path)
        logger.info("%s: %d distinct sentences excluded", path.name, len(keys))
        excluded |= keys
    rows = sample(args.enron, args.per_mailbox, args.seed, excluded)
    with args.out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    logger.info("wrote %d candidates to %s", len(rows), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

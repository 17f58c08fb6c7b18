"""Sample candidate sentences for a hand-labelled promise set from received mail.

The dev, validation and test sets (``tests/data/promises-{dev,val,test}.jsonl``)
come from the *sent* folders of three Enron mailboxes, i.e. from three
authors. This set draws from the *received* mail (the top-level Maildir
folder, ``cur/`` and ``new/``, not ``.Sent``) of one mailbox, ``beck-s``, so
the same language phenomenon is seen from many different authors.

Reused unchanged by import:

* ``fresh_text``, ``split_sentences``, ``message_body`` and ``FUTURE_CUE`` from
  ``build_devset_candidates.py`` (quotes and forwards cut, sentence splitting,
  first text/plain part, the first-person-future cue regex);
* ``load_excluded`` from ``build_valset_candidates.py``: a sentence whose
  whitespace-normalised, lower-cased text equals one in the dev, validation
  or test set is never drawn.

Differences from the sent-mail samplers:

* automated messages are skipped: broadcast/system senders listed in
  ``AUTOMATED_SENDERS`` (Enron announcement mailboxes, Concur/iBuyit/SAP
  notifications, surveys, newsletters), the "Enron Mentions" press-clipping
  digests (``AUTOMATED_SUBJECTS``) and any message with a ``List-*`` or
  ``Precedence`` header or the word "unsubscribe" in its body;
* a sentence needs at least 4 words (``[A-Za-z]+`` tokens) and at most 400
  characters;
* exact duplicates (normalised, lower-cased) are drawn at most once;
* 300 sentences with seed 32: 60% (180) from sentences with a cue, 40% (120)
  uniformly from the remaining fresh sentences.

The exclusion list is the three fixed files above, not a glob over
``promises-*.jsonl``, so that the output stays deterministic while other
inbox sets (including this one) are added to ``tests/data``.

The output is unlabelled, one JSON object per line with ``id``
(``inbox-beck-s-NNNN``), ``sentence``, ``sent_at``, ``source``
(``enron-inbox``), ``stratum`` and ``path``. Labels are added by hand; see
``tests/data/README-promises-dev.md``.

Usage::

    python benchmarks/build_inbox_candidates_beck_s.py \\
        --enron /tmp/enron --out /tmp/promises-inbox-beck-s-candidates.jsonl
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
    fresh_text,
    message_body,
    split_sentences,
)
from build_valset_candidates import load_excluded  # noqa: E402

logger = logging.getLogger(__name__)

MAILBOX = "beck-s"
DEFAULT_SEED = 32
DEFAULT_TOTAL = 300
CUE_SHARE = 0.6
MIN_WORDS = 4
MAX_SENTENCE_CHARS = 400
DATA_DIR = Path(__file__).resolve().parent.parent / "tests" / "data"
EXCLUDED_SETS = ("promises-dev.jsonl", "promises-val.jsonl", "promises-test.jsonl")

# Broadcast and system senders of this mailbox (local part before "@").
AUTOMATED_SENDERS = re.compile(
    r"""^(?:
        40enron | administration\.enron | announcements\.enron
        | chairman\.enron | chairman\.ken | no\.address | jr\.\.legal
        | technology\.enron | notification\.isc | mbx_[a-z_]+
        | eserver | enron_update | ibuyit | perfmgmt | confirmit | clickathome
        | customersupport | customer\.care | energy_list | info | tribute
        | vireturn | tbnuser | rich\.christiansen
    )@""",
    re.IGNORECASE | re.VERBOSE,
)

# Press-clipping digests sent by people in the communications group.
AUTOMATED_SUBJECTS = re.compile(r"^\s*Enron\s+Mentions\b", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    """One fresh-text sentence of a received message and where it came from."""

    path: str
    sent_at: str
    sentence: str


def _key(sentence: str) -> str:
    return " ".join(sentence.split()).lower()


def is_automated(message: email.message.Message, body: str) -> bool:
    """True for newsletters, mailing lists, announcements and system mail."""
    sender = email.utils.parseaddr(message.get("From", ""))[1]
    if AUTOMATED_SENDERS.match(sender):
        return True
    if AUTOMATED_SUBJECTS.search(message.get("Subject", "")):
        return True
    if any(name.lower().startswith("list-") or name.lower() == "precedence" for name in message.keys()):
        return True
    return "unsubscribe" in body.lower()


def is_usable(sentence: str) -> bool:
    """At least ``MIN_WORDS`` words and at most ``MAX_SENTENCE_CHARS`` characters."""
    return len(re.findall(r"[A-Za-z]+", sentence)) >= MIN_WORDS and len(sentence) <= MAX_SENTENCE_CHARS


def iter_candidates(enron_root: Path, mailbox: str = MAILBOX):
    """Yield every usable fresh-text sentence of one mailbox's received mail."""
    inbox = enron_root / mailbox / "Maildir"
    skipped = 0
    for path in sorted(p for sub in ("cur", "new") for p in (inbox / sub).glob("*")):
        try:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
            sent_at = email.utils.parsedate_to_datetime(message["Date"]).isoformat()
            body = message_body(message)
        except Exception:  # hostile input: one bad file must not stop sampling
            logger.warning("skipping unreadable message %s", path.name, exc_info=True)
            continue
        if is_automated(message, body):
            skipped += 1
            continue
        for sentence in split_sentences(fresh_text(body)):
            if is_usable(sentence):
                yield Candidate(str(path.relative_to(enron_root)), sent_at, sentence)
    logger.info("%s: skipped %d automated messages", mailbox, skipped)


def sample(enron_root: Path, total: int, seed: int, excluded: set[str]) -> list[dict]:
    """Draw the cue and random strata; return dict rows ordered by message."""
    rng = random.Random(seed)
    seen: set[str] = set()
    pool: list[Candidate] = []
    dropped = 0
    for candidate in iter_candidates(enron_root):
        key = _key(candidate.sentence)
        if key in seen:
            continue
        seen.add(key)
        if key in excluded:
            dropped += 1
            continue
        pool.append(candidate)
    n_cue = round(total * CUE_SHARE)
    cue_pool = [c for c in pool if FUTURE_CUE.search(c.sentence)]
    chosen_cue = rng.sample(cue_pool, min(n_cue, len(cue_pool)))
    chosen_ids = {id(c) for c in chosen_cue}
    rest = [c for c in pool if id(c) not in chosen_ids]
    chosen_random = rng.sample(rest, min(total - len(chosen_cue), len(rest)))
    logger.info(
        "%s inbox: %d fresh sentences (%d already labelled excluded), %d with a cue; "
        "took %d cue + %d random",
        MAILBOX, len(pool), dropped, len(cue_pool), len(chosen_cue), len(chosen_random),
    )
    picked = [(c, "cue") for c in chosen_cue] + [(c, "random") for c in chosen_random]
    # Order by message so neighbouring sentences are labelled together.
    picked.sort(key=lambda item: (item[0].path, item[0].sentence))
    return [
        {
            "id": f"inbox-{MAILBOX}-{number:04d}",
            "sentence": candidate.sentence,
            "sent_at": candidate.sent_at,
            "source": "enron-inbox",
            "stratum": stratum,
            "path": candidate.path,
        }
        for number, (candidate, stratum) in enumerate(picked, start=1)
    ]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enron", type=Path, default=Path("/tmp/enron"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/promises-inbox-beck-s-candidates.jsonl"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--total", type=int, default=DEFAULT_TOTAL)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    excluded: set[str] = set()
    for name in EXCLUDED_SETS:
        excluded |= load_excluded(DATA_DIR / name)
    rows = sample(args.enron, args.total, args.seed, excluded)
    with args.out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    logger.info("wrote %d candidates to %s", len(rows), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sample candidate sentences from the RECEIVED mail of the nemec-g mailbox.

The dev, validation and test sets (``tests/data/promises-{dev,val,test}.jsonl``)
sample only sent mail, i.e. three authors. This set samples the inbox (the top
Maildir folder, ``cur/`` and ``new/``; not ``.Sent``) of ``nemec-g``, whose
messages were written by many different people to the mailbox owner: the same
language phenomenon, more authors.

Sentence cutting and splitting (``message_body``, ``fresh_text``,
``split_sentences``) and the cue regex (``FUTURE_CUE``) are imported unchanged
from ``build_devset_candidates.py``; the exclusion of sentences already in the
other promise sets uses ``load_excluded`` from ``build_valset_candidates.py``
(whitespace-normalised, lower-cased exact match). Differences from those
samplers:

* automated mail is skipped (corporate broadcasts, newsletters, mailing
  lists, notifications, vendor offers; see ``is_automated``);
* a sentence needs at least 4 words (and at most 400 characters);
* one mailbox, 300 sentences, seed 33: 60% (180) from sentences with a
  first-person-future cue and 40% (120) uniformly from the remaining fresh
  sentences.

The output is unlabelled: one JSON object per line with ``id``
(``inbox-nemec-g-NNNN``), ``sentence``, ``sent_at``, ``source``
(``enron-inbox``), ``stratum`` and ``path``. It is deterministic.

Usage::

    python benchmarks/build_inbox_candidates_nemec_g.py \\
        --enron /tmp/enron --out /tmp/promises-inbox-nemec-g-candidates.jsonl
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_devset_candidates import (  # noqa: E402
    FUTURE_CUE,
    MAX_SENTENCE_CHARS,
    fresh_text,
    message_body,
    split_sentences,
)
from build_valset_candidates import load_excluded  # noqa: E402

logger = logging.getLogger(__name__)

MAILBOX = "nemec-g"
DEFAULT_SEED = 33
DEFAULT_TOTAL = 300
CUE_SHARE = 0.6
MIN_WORDS = 4
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
DEFAULT_EXCLUDE = tuple(DATA / f"promises-{name}.jsonl" for name in ("dev", "val", "test"))

# Sender addresses of automated or broadcast mail.
_AUTOMATED_ADDRESS = re.compile(
    r"""
    ^(?:no\.address|40enron|announcements?\.|enron\.announcements|notifications?\.
       |public\.relations|resources\.human|chairman\.|officeofthechairman
       |outlook\.team|sap_security|confirmit|ready2go|talent|ecn\w*\.conf\.)
    | (?:^|[.@])(?:news|newsletter|enews|offers?|noreply|no-reply|mailer|mailman
       |listserv|bounce|reply|tickets-email|customerservice|support|marketing)[.@]
    | [.@]m0\.net$                                # bulk-mail service
    """,
    re.IGNORECASE | re.VERBOSE,
)
# Display names of broadcast senders (X-From).
_AUTOMATED_NAME = re.compile(
    r"office\s+of\s+the\s+chairman|announcement|public\s+relations|corporate\s+"
    r"(?:benefits|security|administrative)|wellness|esource|princeton\s+review"
    r"|chairman|ceo\b|executive\s+vice\s+president|human\s+resources|newsletter"
    r"|messaging\s+administration|\bpadi\b|datek",
    re.IGNORECASE,
)
# Company-wide distribution lists as recipients (X-To).
_BROADCAST_TO = re.compile(r"\ball\s+enron\b|\benron\s+everyone\b|all\s+employees", re.IGNORECASE)
# Unsubscribe footers of newsletters and bulk mail.
_BULK_FOOTER = re.compile(
    r"unsubscribe|to\s+be\s+removed\s+from|reply\s+with\s+the\s+word\s+'?remove"
    r"|prefer\s+that\s+these\s+e-?mails\s+not\s+continue",
    re.IGNORECASE,
)
# Lotus Notes personal addresses ("Paul T Lucci/DEN/ECT@ENRON") are people.
_LOTUS_PERSON = re.compile(r"\w/\w+/\w+@ENRON", re.IGNORECASE)
_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post")


def is_automated(message: email.message.Message, body: str = "") -> bool:
    """Return whether ``message`` looks like a broadcast, newsletter or list mail."""
    if any(message.get(header) for header in _LIST_HEADERS):
        return True
    if (message.get("Precedence") or "").strip().lower() in {"bulk", "list", "junk"}:
        return True
    address = email.utils.parseaddr(message.get("From") or "")[1].lower()
    x_from = message.get("X-From") or ""
    if _BULK_FOOTER.search(body) or _BROADCAST_TO.search(message.get("X-To") or ""):
        return True
    if _LOTUS_PERSON.search(x_from):
        return False
    if _AUTOMATED_ADDRESS.search(address):
        return True
    return bool(_AUTOMATED_NAME.search(x_from))


def _is_usable(sentence: str) -> bool:
    words = re.findall(r"[A-Za-z]+", sentence)
    return len(words) >= MIN_WORDS and len(sentence) <= MAX_SENTENCE_CHARS


def _key(sentence: str) -> str:
    return " ".join(sentence.split()).lower()


def iter_inbox_candidates(enron_root: Path, mailbox: str = MAILBOX):
    """Yield ``(path, sent_at, sentence)`` for every usable inbox sentence."""
    inbox = enron_root / mailbox / "Maildir"
    paths = sorted(p for sub in ("cur", "new") for p in (inbox / sub).glob("*") if p.is_file())
    skipped = 0
    for path in paths:
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
            if _is_usable(sentence):
                yield str(path.relative_to(enron_root)), sent_at, sentence
    logger.info("%s: %d messages, %d automated skipped", mailbox, len(paths), skipped)


def sample(enron_root: Path, total: int, seed: int, excluded: set[str]) -> list[dict]:
    """Draw the cue and random strata; return unlabelled dict rows."""
    rng = random.Random(seed)
    seen: set[str] = set()
    pool: list[tuple[str, str, str]] = []
    dropped = 0
    for path, sent_at, sentence in iter_inbox_candidates(enron_root):
        key = _key(sentence)
        if key in seen:
            continue
        seen.add(key)
        if key in excluded:
            dropped += 1
            continue
        pool.append((path, sent_at, sentence))
    n_cue = round(total * CUE_SHARE)
    cue_pool = [c for c in pool if FUTURE_CUE.search(c[2])]
    chosen_cue = rng.sample(cue_pool, min(n_cue, len(cue_pool)))
    chosen = set(chosen_cue)
    rest = [c for c in pool if c not in chosen]
    chosen_random = rng.sample(rest, min(total - len(chosen_cue), len(rest)))
    logger.info(
        "%s inbox: %d fresh sentences (%d already labelled excluded), %d with a cue; "
        "took %d cue + %d random",
        MAILBOX, len(pool), dropped, len(cue_pool), len(chosen_cue), len(chosen_random),
    )
    picked = [(c, "cue") for c in chosen_cue] + [(c, "random") for c in chosen_random]
    # Order by message so neighbouring sentences are labelled together.
    picked.sort(key=lambda item: (item[0][0], item[0][2]))
    return [
        {
            "id": f"inbox-{MAILBOX}-{number:04d}",
            "sentence": sentence,
            "sent_at": sent_at,
            "source": "enron-inbox",
            "stratum": stratum,
            "path": path,
        }
        for number, ((path, sent_at, sentence), stratum) in enumerate(picked, start=1)
    ]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enron", type=Path, default=Path("/tmp/enron"))
    parser.add_argument("--exclude", type=Path, nargs="*", default=list(DEFAULT_EXCLUDE),
                        help="labelled sets whose sentences are never drawn")
    parser.add_argument("--out", type=Path,
                        default=Path(f"/tmp/promises-inbox-{MAILBOX}-candidates.jsonl"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--total", type=int, default=DEFAULT_TOTAL)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    excluded: set[str] = set()
    for path in args.exclude:
        excluded |= load_excluded(path)
    rows = sample(args.enron, args.total, args.seed, excluded)
    with args.out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    logger.info("wrote %d candidates to %s", len(rows), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

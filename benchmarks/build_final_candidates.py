"""Sample candidate sentences for the hand-labelled promise FINAL CHECK set.

A small set reserved for one untuned measurement of the promise extractor.
Drawn from the sent mail (``.Sent``) of allen-p, beck-s and nemec-g, never
repeating a sentence (whitespace-normalised, lower-cased) that is in any
``tests/data/promises-*.jsonl`` file. Sentence extraction (``message_body``,
``fresh_text``, ``split_sentences``, ``FUTURE_CUE``, ``MAX_SENTENCE_CHARS``)
is imported from ``build_devset_candidates.py`` and ``load_excluded`` /
``_key`` from ``build_valset_candidates.py``.

* a sentence needs at least 4 words (``[A-Za-z]+`` runs), at most 400 chars;
* quota: allen-p 60, beck-s 70, nemec-g 70 (200); if allen-p's pool runs
  short of cue sentences, its quota shrinks to keep its 60% cue share and
  the missing sentences are made up from beck-s and nemec-g (half each);
* per mailbox 60% from sentences with a first-person-future cue, 40%
  uniformly from the rest; seed 4242; duplicates skipped across mailboxes.

Output: unlabelled JSON lines with ``id`` (``final-NNNN``), ``sentence``,
``sent_at``, ``source``, ``stratum``, ``mailbox``, ``path``. Deterministic.
The labelled result is ``tests/data/final-check.jsonl`` (deliberately not
named ``promises-*.jsonl`` so training never picks it up).

Usage::

    python benchmarks/build_final_candidates.py --enron /tmp/enron \\
        --out /tmp/final-candidates.jsonl
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
from build_valset_candidates import _key, load_excluded  # noqa: E402

logger = logging.getLogger(__name__)

QUOTA = {"allen-p": 60, "beck-s": 70, "nemec-g": 70}
DEFAULT_SEED = 4242
CUE_SHARE = 0.6
MIN_WORDS = 4
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _usable(sentence: str) -> bool:
    return (len(re.findall(r"[A-Za-z]+", sentence)) >= MIN_WORDS
            and len(sentence) <= MAX_SENTENCE_CHARS)


def pool_for(enron_root: Path, mailbox: str, seen: set[str], excluded: set[str]) -> list[dict]:
    sent = enron_root / mailbox / "Maildir" / ".Sent"
    pool = []
    for path in sorted(p for sub in ("cur", "new") for p in (sent / sub).glob("*")):
        try:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
            sent_at = email.utils.parsedate_to_datetime(message["Date"]).isoformat()
            fresh = fresh_text(message_body(message))
        except Exception:  # one bad file must not stop sampling
            continue
        for sentence in split_sentences(fresh):
            if not _usable(sentence):
                continue
            key = _key(sentence)
            if key in seen:
                continue
            seen.add(key)
            if key in excluded:
                continue
            pool.append({"mailbox": mailbox, "path": str(path.relative_to(enron_root)),
                         "sent_at": sent_at, "sentence": sentence})
    return pool


def draw(rng: random.Random, pool: list[dict], n: int) -> list[tuple[dict, str]]:
    n_cue = round(n * CUE_SHARE)
    cue_pool = [c for c in pool if FUTURE_CUE.search(c["sentence"])]
    cue = rng.sample(cue_pool, min(n_cue, len(cue_pool)))
    ids = {id(c) for c in cue}
    rest = [c for c in pool if id(c) not in ids]
    rnd = rng.sample(rest, min(n - len(cue), len(rest)))
    return [(c, "cue") for c in cue] + [(c, "random") for c in rnd]


def sample(enron_root: Path, seed: int, excluded: set[str]) -> list[dict]:
    rng = random.Random(seed)
    seen: set[str] = set()
    pools = {m: pool_for(enron_root, m, seen, excluded) for m in QUOTA}
    quota = dict(QUOTA)
    # allen-p may run out of cue sentences: shrink its quota so that its cue
    # share stays 60%, and make up the difference from beck-s and nemec-g.
    allen_cue = sum(1 for c in pools["allen-p"] if FUTURE_CUE.search(c["sentence"]))
    usable = min(len(pools["allen-p"]), int(allen_cue / CUE_SHARE))
    short = max(0, quota["allen-p"] - usable)
    quota["allen-p"] -= short
    quota["beck-s"] += (short + 1) // 2
    quota["nemec-g"] += short // 2
    picked = []
    for mailbox, n in quota.items():
        got = draw(rng, pools[mailbox], n)
        logger.info("%s: pool %d, took %d (%d cue)", mailbox, len(pools[mailbox]), len(got),
                    sum(1 for _, s in got if s == "cue"))
        got.sort(key=lambda item: (item[0]["path"], item[0]["sentence"]))
        picked.extend(got)
    rows = []
    for number, (c, stratum) in enumerate(picked, start=1):
        rows.append({"id": f"final-{number:04d}", "sentence": c["sentence"],
                     "sent_at": c["sent_at"], "source": "enron", "stratum": stratum,
                     "mailbox": c["mailbox"], "path": c["path"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enron", type=Path, default=Path("/tmp/enron"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/final-candidates.jsonl"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    excluded: set[str] = set()
    for path in sorted(DATA.glob("promises-*.jsonl")):
        excluded |= load_excluded(path)
    logger.info("%d labelled sentences excluded", len(excluded))
    rows = sample(args.enron, args.seed, excluded)
    with args.out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    logger.info("wrote %d candidates to %s", len(rows), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

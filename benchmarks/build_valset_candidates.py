"""Sample candidate sentences for the hand-labelled promise validation set.

The validation set is a second, independent sample of the same Enron sent
mail as the dev set (``tests/data/promises-dev.jsonl``), drawn with another
seed and excluding every sentence already in the dev set, so the extractor's
scores on it show how well it generalises beyond the sentences it was tuned on.

Sentence extraction and the cue regex are imported unchanged from
``build_devset_candidates.py``; only the seed, the sizes and the exclusion
differ:

* per mailbox, ``--cue-per-mailbox`` sentences (default 55) carrying a
  first-person-future cue and ``--random-per-mailbox`` (default 45) drawn
  uniformly from the remaining fresh sentences;
* a sentence whose whitespace-normalised, lower-cased text equals a dev-set
  sentence is never drawn (this covers every exact text match);
* duplicates across the three mailboxes are skipped as in the dev sampling.

The output is unlabelled, one JSON object per line with ``id``
(``val-<mailbox>-NNNN``), ``sentence``, ``sent_at``, ``source``, ``stratum``
and ``path``. Labels are added by hand; see ``tests/data/README-promises-dev.md``.

Usage::

    python benchmarks/build_valset_candidates.py \\
        --enron /tmp/enron --out /tmp/promises-val-candidates.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_devset_candidates import FUTURE_CUE, MAILBOXES, iter_candidates  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_SEED = 20260101
DEFAULT_DEV = Path(__file__).resolve().parent.parent / "tests" / "data" / "promises-dev.jsonl"


def _key(sentence: str) -> str:
    return " ".join(sentence.split()).lower()


def load_excluded(dev_path: Path) -> set[str]:
    """Return the normalised keys of every sentence in the dev set."""
    excluded: set[str] = set()
    with dev_path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                excluded.add(_key(json.loads(line)["sentence"]))
    return excluded


def sample(enron_root: Path, per_mailbox_cue: int, per_mailbox_random: int, seed: int,
           excluded: set[str]) -> list[dict]:
    """Draw the cue and random strata for every mailbox; return dict rows."""
    rng = random.Random(seed)
    seen: set[str] = set()
    rows: list[dict] = []
    for mailbox in MAILBOXES:
        pool = []
        dropped = 0
        for candidate in iter_candidates(enron_root, mailbox):
            key = _key(candidate.sentence)
            if key in seen:
                continue
            seen.add(key)
            if key in excluded:
                dropped += 1
                continue
            pool.append(candidate)
        cue_pool = [c for c in pool if FUTURE_CUE.search(c.sentence)]
        chosen_cue = rng.sample(cue_pool, min(per_mailbox_cue, len(cue_pool)))
        chosen_ids = {id(c) for c in chosen_cue}
        rest = [c for c in pool if id(c) not in chosen_ids]
        chosen_random = rng.sample(rest, min(per_mailbox_random, len(rest)))
        logger.info(
            "%s: %d fresh sentences (%d dev sentences excluded), %d with a cue; "
            "took %d cue + %d random",
            mailbox, len(pool), dropped, len(cue_pool), len(chosen_cue), len(chosen_random),
        )
        picked = [(c, "cue") for c in chosen_cue] + [(c, "random") for c in chosen_random]
        # Order by message so neighbouring sentences are labelled together.
        picked.sort(key=lambda item: (item[0].path, item[0].sentence))
        for number, (candidate, stratum) in enumerate(picked, start=1):
            rows.append({
                "id": f"val-{mailbox}-{number:04d}",
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
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV,
                        help="dev set whose sentences are excluded")
    parser.add_argument("--out", type=Path, default=Path("/tmp/promises-val-candidates.jsonl"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--cue-per-mailbox", type=int, default=55)
    parser.add_argument("--random-per-mailbox", type=int, default=45)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    excluded = load_excluded(args.dev)
    rows = sample(args.enron, args.cue_per_mailbox, args.random_per_mailbox, args.seed, excluded)
    with args.out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    logger.info("wrote %d candidates to %s", len(rows), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

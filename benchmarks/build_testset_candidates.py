"""Sample candidate sentences for the hand-labelled promise test set.

The test set is a third, independent sample of the same Enron sent mail as the
dev set (``tests/data/promises-dev.jsonl``) and the validation set
(``tests/data/promises-val.jsonl``). It is reserved for a final, untuned
measurement of the extractor: nobody should look at the extractor's output on
it before that measurement.

Everything is reused by import: sentence extraction and the cue regex come
from ``build_devset_candidates.py`` (via the validation sampler), the
stratified draw and the exclusion come from ``build_valset_candidates.py``.
Only the seed, the excluded sets and the id prefix differ:

* seed 777; per mailbox ``--cue-per-mailbox`` sentences (default 55) carrying
  a first-person-future cue and ``--random-per-mailbox`` (default 45) drawn
  uniformly from the remaining fresh sentences;
* a sentence whose whitespace-normalised, lower-cased text equals a sentence
  of the dev set *or* the validation set is never drawn;
* duplicates across the three mailboxes are skipped as in the dev sampling.

The output is unlabelled, one JSON object per line with ``id``
(``test-<mailbox>-NNNN``), ``sentence``, ``sent_at``, ``source``, ``stratum``
and ``path``. Labels are added by hand; see ``tests/data/README-promises-dev.md``.

Usage::

    python benchmarks/build_testset_candidates.py \\
        --enron /tmp/enron --out /tmp/promises-test-candidates.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_valset_candidates import load_excluded, sample  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_SEED = 777
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
DEFAULT_EXCLUDE = (DATA / "promises-dev.jsonl", DATA / "promises-val.jsonl")
ID_PREFIX = "test"


def build(enron_root: Path, per_mailbox_cue: int, per_mailbox_random: int, seed: int,
          exclude_paths: list[Path]) -> list[dict]:
    """Return the test candidates, excluding every sentence of ``exclude_paths``."""
    excluded: set[str] = set()
    for path in exclude_paths:
        keys = load_excluded(path)
        logger.info("%s: %d distinct sentences excluded", path.name, len(keys))
        excluded |= keys
    rows = sample(enron_root, per_mailbox_cue, per_mailbox_random, seed, excluded)
    for row in rows:
        # The validation sampler names rows "val-<mailbox>-NNNN".
        prefix, rest = row["id"].split("-", 1)
        assert prefix == "val", row["id"]
        row["id"] = f"{ID_PREFIX}-{rest}"
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enron", type=Path, default=Path("/tmp/enron"))
    parser.add_argument("--exclude", type=Path, action="append",
                        help="labelled set whose sentences are excluded "
                             "(repeatable; default: the dev and validation sets)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/promises-test-candidates.jsonl"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--cue-per-mailbox", type=int, default=55)
    parser.add_argument("--random-per-mailbox", type=int, default=45)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    exclude = args.exclude or list(DEFAULT_EXCLUDE)
    rows = build(args.enron, args.cue_per_mailbox, args.random_per_mailbox, args.seed, exclude)
    with args.out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    logger.info("wrote %d candidates to %s", len(rows), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

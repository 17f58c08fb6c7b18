"""The interface of the extractors: what the scanner asks of a promise extractor.

Vocabulary
----------
fresh text
    What a message says itself: its body with quoted replies, forwarded
    parts and the signature cut away (`kept.extractors.cleaning`).
candidate
    A `kept.models.PromiseCandidate`: a sentence the extractor believes
    is a promise, with its action, due date, confidence and the rule that
    found it. The scanner turns candidates into stored `Promise` records;
    the extractor never sees the store.

The extractors are pure: records and text in, findings out. Nothing in
`kept.extractors` imports the store, the mail sources, the digest or the
daemon (tests/test_architecture.py checks it). Besides promises they are
plain functions of records: `asks` (questions), `waiting` (who waits on
whom), `introductions`, `leads`, `fulfilment`, `contacts`, `rhythm`.

`kept.extractors.promises.PromiseExtractor` is the implementation kept
ships; tests use small finders of their own that return fixed candidates.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from kept.models import PromiseCandidate

__all__ = ["CandidateFinder"]


class CandidateFinder(Protocol):
    """What the scanner needs of a promise extractor."""

    def extract_many(
        self, items: Iterable[tuple[str, datetime | None]]
    ) -> Iterable[list[PromiseCandidate]]:
        """The promise candidates in each (fresh text, sent at) item: one list per item, in order."""

"""The index of open promises a scan keeps, so each sent message finds the ones it may keep."""

from __future__ import annotations

from collections.abc import Iterable

from kept.extractors.fulfilment import name_tokens
from kept.models import Promise

__all__ = ["OpenPromises"]


class OpenPromises:
    """Open promises by thread and by counterparty, so a sent message finds the ones it may keep.

    Looking through every promise for every sent message made a backfill
    quadratic; this index is built once per pass and kept up to date by the
    scanner as it stores and closes promises. `revision` is the store's
    promise revision it matches (`kept.storage.base.promise_revision`).
    """

    def __init__(self, promises: Iterable[Promise], revision: str | None) -> None:
        self.revision = revision
        self._promises: dict[str, Promise] = {}
        self._by_thread: dict[str, set[str]] = {}
        self._by_party: dict[str, set[str]] = {}
        self._by_name: dict[str, set[str]] = {}
        for promise in promises:
            self.add(promise)

    def add(self, promise: Promise) -> None:
        """Index an open promise."""
        self._promises[promise.id] = promise
        self._by_thread.setdefault(promise.thread_key, set()).add(promise.id)
        for party in promise.counterparties:
            self._by_party.setdefault(party, set()).add(promise.id)
        for name in name_tokens(promise.named_person):
            self._by_name.setdefault(name, set()).add(promise.id)

    def discard(self, promise: Promise) -> None:
        """Forget a promise that is no longer open."""
        if self._promises.pop(promise.id, None) is None:
            return
        self._by_thread.get(promise.thread_key, set()).discard(promise.id)
        for party in promise.counterparties:
            self._by_party.get(party, set()).discard(promise.id)
        for name in name_tokens(promise.named_person):
            self._by_name.get(name, set()).discard(promise.id)

    def related(self, thread_key: str, recipients: set[str], names: Iterable[str] = ()) -> list[Promise]:
        """Open promises in this thread, made to any of `recipients` or naming one of `names`, oldest first."""
        ids = set(self._by_thread.get(thread_key, ()))
        for recipient in recipients:
            ids |= self._by_party.get(recipient, set())
        for name in names:
            ids |= self._by_name.get(name, set())
        return sorted((self._promises[i] for i in ids), key=lambda p: (p.made_at, p.id))

"""What the TinyDB store looks up without decoding every document: threads, and who a document names.

Threads: the scanner asks, for each new message, which thread holds the
message it replies to and which threads have its subject. A
`kept.storage.memory.ThreadIndex` answers both; `LazyThreadIndex` holds
the one of the main file's in-memory copy. Opening the main file does not
decode its threads: the index is built from their lines the first time a
thread is looked up (at 200,000 messages that is about 70,000 threads, and
would be most of the cost of opening), so a scan that finds nothing new
never pays for it.

People: `address_pattern` matches an address as a whole address in any
case, and `text_of` is the text of a document it is searched in, for
``kept forget``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kept.storage.files import damaged
from kept.storage.lines import Stored, as_document
from kept.storage.memory import ThreadIndex

__all__ = ["LazyThreadIndex", "address_pattern", "text_of", "thread_entry"]

logger = logging.getLogger(__name__)


def thread_entry(document: Mapping[str, Any]) -> tuple[str, str, str, tuple[str, ...]]:
    """What the thread index needs of a thread document: key, account, subject, message ids.

    :raises KeyError, TypeError: if the document lacks one of them.
    """
    return (
        document["key"],
        document["account"],
        document["subject"],
        tuple([message["message_id"] for message in document["messages"]]),
    )


class LazyThreadIndex:
    """The thread index of the main file's in-memory copy, built from its thread lines on first use."""

    def __init__(self) -> None:
        self._index = ThreadIndex()
        self._built = False

    @property
    def built(self) -> bool:
        """True once the index holds every thread of the in-memory copy."""
        return self._built

    def clear(self) -> None:
        """Forget every thread (the in-memory copy was dropped)."""
        self._index.clear()
        self._built = False

    def mark_built(self) -> None:
        """Record that every thread was entered already (a new database, or one decoded whole)."""
        self._built = True

    def add(self, document: Mapping[str, Any]) -> None:
        """Enter (or re-enter) a thread document.

        :raises KeyError, TypeError: if it lacks a field.
        """
        key, account, subject, message_ids = thread_entry(document)
        self._index.add(key, account, subject, message_ids)

    def get(self, threads: Mapping[str, Stored], path: Path) -> ThreadIndex:
        """The index of `threads` (the in-memory copy's), built from their lines on first use.

        :raises StorageError: if a thread line of the database at `path` is damaged.
        """
        if not self._built:
            started = time.perf_counter()
            try:
                for stored in threads.values():
                    self.add(as_document(stored))
            except (ValueError, RecursionError, KeyError, TypeError) as error:
                self._index.clear()
                raise damaged(path, f"a thread is unreadable ({error!r})") from error
            self._built = True
            logger.debug("Indexed %d threads in %.2f s", len(threads), time.perf_counter() - started)
        return self._index


def address_pattern(address: str) -> re.Pattern[str]:
    """Matches `address` as a whole address (any case), not inside a longer one."""
    return re.compile(rf"(?<![\w.+-]){re.escape(address.strip().lower())}(?![\w-]|\.\w)", re.IGNORECASE)


def text_of(document: Mapping[str, Any]) -> str:
    """A document as the text `address_pattern` is searched in (JSON, non-ASCII as it is)."""
    return json.dumps(document, ensure_ascii=False)

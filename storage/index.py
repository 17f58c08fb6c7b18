"""What the TinyDB store looks up without decoding every document: threads, and who a document names.

Threads: the scanner asks, for each new message, which thread holds the
message it replies to and which threads have its subject. A
`kept.storage.memory.ThreadIndex` answers both; `LazyThreadIndex` holds
the one of the main file's in-memory copy. Opening the main file does not
decode its threads: the index is built from their lines the first time a
thread is looked up (at 200,000 messages that is about 70,000 threads, and
would be most of the cost of opening), so a scan that finds nothing new
never pays for it.

People, for ``kept forget``: `Person` finds a person's address (as a whole
address, in any case) and the names their mail gives them in a text, and
`names_for` collects those names from stored documents; `text_of` is the
text of a document they are searched in.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from kept.storage.files import damaged
from kept.storage.lines import Stored, as_document
from kept.storage.memory import ThreadIndex

__all__ = ["MIN_NAME_WORDS", "LazyThreadIndex", "Person", "address_pattern", "names_for", "text_of", "thread_entry"]

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


def text_of(document: Any) -> str:
    """A document (or any JSON value) as the text `address_pattern` is searched in (JSON, non-ASCII as it is)."""
    return json.dumps(document, ensure_ascii=False)


#: A name is searched for only with at least this many words: a one-word
#: display name ("Ann", "Support") would find far more than the person.
MIN_NAME_WORDS = 2


class Person:
    """Someone ``kept forget`` erases: an address, and the names their mail gives them.

    `mentions` is true of a text holding the address as a whole address in
    any case (``ann@x.org`` is not in ``joann@x.org``), or one of the names
    as whole words in any case, any run of white space between them. Names
    of fewer than `MIN_NAME_WORDS` words, and names holding an ``@``, are
    not searched for.
    """

    def __init__(self, address: str, names: Iterable[str] = ()) -> None:
        self.address = address.strip().lower()
        searched = {" ".join(name.split()) for name in names if _searchable(name)}
        #: The names searched for, sorted.
        self.names = tuple(sorted(searched, key=lambda name: (name.lower(), name)))
        patterns = [address_pattern(self.address).pattern]
        patterns += [r"(?<!\w)" + r"\s+".join(map(re.escape, name.split())) + r"(?!\w)" for name in self.names]
        self._pattern = re.compile("|".join(patterns), re.IGNORECASE)

    def __repr__(self) -> str:
        return f"Person({self.address!r}, {len(self.names)} names)"

    def mentions(self, text: str) -> bool:
        """True if `text` holds the address or one of the names."""
        return self._pattern.search(text) is not None

    def mentioned_in(self, document: Any) -> bool:
        """True if a document (or any JSON value) holds the address or one of the names."""
        return self.mentions(text_of(document))


def _searchable(name: str) -> bool:
    return "@" not in name and len(re.findall(r"\w+", name)) >= MIN_NAME_WORDS


def names_for(address: str, document: Any) -> Iterator[str]:
    """The display names `document` gives the address, wherever it pairs them.

    Three pairings are stored: ``{"name": ..., "email": ...}`` (a message's
    From, To and Cc), ``from_name`` with ``from_email`` (a lead) and the
    parallel lists ``names`` and ``people`` (an introduction).
    """
    address = address.strip().lower()
    if isinstance(document, list):
        for item in document:
            yield from names_for(address, item)
        return
    if not isinstance(document, dict):
        return
    for name_key, email_key in (("name", "email"), ("from_name", "from_email")):
        name, email = document.get(name_key), document.get(email_key)
        if isinstance(name, str) and isinstance(email, str) and name and email.lower() == address:
            yield name
    people, names = document.get("people"), document.get("names")
    if isinstance(people, list) and isinstance(names, list):
        for email, name in zip(people, names, strict=False):
            if isinstance(name, str) and isinstance(email, str) and email.lower() == address:
                yield name
    for value in document.values():
        if isinstance(value, (dict, list)):
            yield from names_for(address, value)

"""The people of the stored mail: `kept.extractors.people` over what the store holds.

The extractors only see records; this is where the digest (and the
commands that show people) feed them the stored messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from kept.extractors.people import People, build_people
from kept.models import MailMessage, Thread
from kept.storage.base import Store

__all__ = ["people_from_store", "stored_messages"]


def stored_messages(store: Store, threads: Iterable[Thread]) -> Iterator[MailMessage]:
    """The stored record of every message of `threads`, each once."""
    seen: set[str] = set()
    for thread in threads:
        for item in thread.messages:
            if item.message_id in seen:
                continue
            seen.add(item.message_id)
            message = store.get_message(thread.account, item.message_id)
            if message is not None:
                yield message


def people_from_store(store: Store, threads: Iterable[Thread], me: Iterable[str]) -> People:
    """`build_people` over the stored messages of `threads`."""
    return build_people(stored_messages(store, threads), me)

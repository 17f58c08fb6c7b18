"""The database ``kept rebuild`` set aside, read for what it should carry over.

``kept rebuild`` moves the database aside (`kept.storage.tinydb_store.set_aside`)
because it may be damaged, then reads all mail again. What the mail cannot
tell it again, what the user told kept and what kept told the user, it
takes from the main file set aside: its meta values and its promises,
conversations, introductions and leads. The file is read as plain JSON
(`kept.storage.main_file.read_tables`), never opened as a database: a
missing message file, a missing marker or a record that no longer decodes
must not stop the rebuild. Records that do not decode are counted and left
out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kept.models import Introduction, Lead, Promise, Thread
from kept.storage.main_file import read_tables
from kept.storage.serialize import from_json

__all__ = ["SetAside", "read_set_aside"]

logger = logging.getLogger(__name__)

_R = TypeVar("_R")


@dataclass
class SetAside:
    """What a set-aside main file holds besides mail: meta values and the records the user acts on.

    :ivar unreadable: how many records did not decode and were left out.
    """

    meta: dict[str, Any] = field(default_factory=dict)
    promises: list[Promise] = field(default_factory=list)
    threads: list[Thread] = field(default_factory=list)
    introductions: list[Introduction] = field(default_factory=list)
    leads: list[Lead] = field(default_factory=list)
    unreadable: int = 0


def read_set_aside(path: Path) -> SetAside:
    """Read the main database file `path` (set aside by ``kept rebuild``) as plain JSON.

    :raises StorageError: when the file cannot be read, is not JSON or holds
        no meta table (then nothing in it can be trusted).
    """
    data = read_tables(path)
    found = SetAside(meta=data["meta"])

    def records(table: str, kind: type[_R], check: Callable[[_R], bool]) -> list[_R]:
        documents = data.get(table)
        if not isinstance(documents, dict):
            return []
        decoded: list[_R] = []
        for key, document in documents.items():
            try:
                record = from_json(kind, document)
                if not check(record):
                    raise ValueError("wrong field types")
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                found.unreadable += 1
                logger.warning("%s: %s %.40r does not read as a record (%s); left out", path, table, key, error)
                continue
            decoded.append(record)
        return decoded

    found.promises = records("promises", Promise, lambda p: _texts(p.id, p.account, p.message_id, p.sentence, p.status))
    found.threads = records("threads", Thread, lambda t: _texts(t.key, t.account, t.status)
                            and all(isinstance(m.message_id, str) for m in t.messages))
    found.introductions = records("introductions", Introduction, lambda i: _texts(i.id, i.account, i.status))
    found.leads = records("leads", Lead, lambda lead: _texts(lead.id, lead.account, lead.status))
    return found


def _texts(*values: object) -> bool:
    return all(isinstance(value, str) for value in values)

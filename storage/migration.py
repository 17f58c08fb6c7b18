"""Schema versions of the TinyDB store's main file: which it opens, and how older ones take the current layout.

=======  ==================================================================
schema   layout
=======  ==================================================================
1        one JSON object on one line, as TinyDB writes it; every message in
         the main file
2        one document per line (`kept.storage.lines`); older messages in
         the message file (`kept.storage.message_file`)
3        2, and the party index (the table ``parties``,
         `kept.storage.parties`)
=======  ==================================================================

A file of an older schema opens as it is (`load_one_object` reads it);
its messages are hot until the first commit that changes something writes
the current layout (`upgrade`), and it has no party index until that
commit builds one. A file of a newer schema is refused (`check_version`):
this kept would not understand it and might drop what it does not know,
or (a kept of schema 2) store messages without counting them in the
party index.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from kept.errors import StorageError
from kept.storage.base import SCHEMA_VERSION
from kept.storage.files import damaged
from kept.storage.lines import COMPACT_TABLES, Change, Stored, Tables, member_line, meta_value
from kept.storage.parties import TABLE as PARTIES

__all__ = ["PARTY_INDEX_SCHEMA", "check_version", "has_party_index", "load_one_object", "upgrade"]

#: The first schema whose main file holds the party index.
PARTY_INDEX_SCHEMA = 3

#: Checks a document the store relies on and indexes it (see `kept.storage.main_file`).
Check = Callable[[str, dict[str, Any]], None]


def load_one_object(text: bytes, path: Path, tables: Iterable[str], check: Check) -> Tables:
    """The tables of a main file that is one JSON object, as TinyDB writes it (schema 1, or edited by hand).

    Every document of the compact tables is passed to `check` (which
    indexes the threads) and kept as its member line.

    :raises StorageError: if it is not a JSON object of tables of documents.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise damaged(path, f"it is not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise damaged(path, "it does not hold a JSON object")
    for name in tables:
        table = data.setdefault(name, {})
        if not isinstance(table, dict) or not all(isinstance(doc, dict) for doc in table.values()):
            raise damaged(path, f"its table {name!r} is not a table of documents")
    try:
        for name in COMPACT_TABLES:
            table = data[name]
            for key, document in table.items():
                check(name, document)
                # Replacing values keeps the keys (and the file's order).
                table[key] = member_line(key, document)
    except (KeyError, TypeError) as error:
        raise damaged(path, f"a document lacks a field ({error!r})") from error
    return cast(Tables, data)


def check_version(meta: Mapping[str, Stored], path: Path) -> None:
    """Refuse a main file without a schema version, or of a schema newer than this kept's.

    :raises StorageError: if so.
    """
    version = meta_value(meta.get("schema_version"))
    if type(version) is not int or version < 1:
        raise damaged(path, "it has no schema version")
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"the database {path} was written by a newer kept "
            f"(schema {version}; this kept understands up to {SCHEMA_VERSION})",
            hint="upgrade kept, or point it at another database",
        )


def has_party_index(meta: Mapping[str, Stored]) -> bool:
    """True if the main file whose meta table is `meta` holds the party index (schema 3 on)."""
    version = meta_value(meta.get("schema_version"))
    return type(version) is int and version >= PARTY_INDEX_SCHEMA


def upgrade(data: Tables, journal: list[Change], party_index: Callable[[], dict[str, Stored]]) -> None:
    """Bring the in-memory copy to the current schema before it is written, journaling the change.

    A file from an older kept takes the current layout with the commit that
    calls this; one without a party index gets the table `party_index`
    builds from its messages (the commit holds the lock, so no other
    process stores a message meanwhile, and each builds it at most once).
    """
    meta = data["meta"]
    if meta_value(meta.get("schema_version")) == SCHEMA_VERSION:
        return
    if not has_party_index(meta):
        data[PARTIES] = party_index()
    journal.append(("meta", "schema_version", meta.get("schema_version")))
    meta["schema_version"] = {"value": SCHEMA_VERSION}

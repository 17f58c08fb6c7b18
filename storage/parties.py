"""The party index of the TinyDB store: each distinct From, To and Cc of the stored messages, with how many have it.

`kept.storage.base.Store.party_counts` reads it. The people of the mail
(`kept.extractors.people`) need only this multiset, and it is small: a
generated mailbox of 200,000 messages has 16,734 distinct parties, where
reading the messages themselves means decoding 200,000 documents from the
message file.

It is the main file's table ``parties`` (`kept.storage.main_file`), one
line per account and parties::

    ,"parties":{
    "[\\"work\\",[\\"Ann Lee\\",\\"ann@x.org\\"],[[\\"\\",\\"me@y.org\\"]],[]]":{"count":12}
    }

The document id (`party_key`) is the JSON array ``[account, from, to,
cc]``, an address as ``[name, email]`` and an unreadable From as null; the
document holds the number of messages, at least 1 (an entry that would
reach 0 is deleted). Like messages and threads, the lines are kept as
their text in memory and decoded when read (`kept.storage.lines`). The key
is JSON with non-ASCII characters as they are, so that the line escapes a
name only once, as a message's line does: ``kept forget`` searching a
copy's bytes reads both alike.

The store changes it in the transaction that changes the messages
(`add`): it is written in the same commit, and survives a crash, or does
not, with them. A main file of schema 2 or older has no index; the commit
that upgrades it builds one from every stored message (`build`, called by
`kept.storage.migration.upgrade`), with the database locked, and until
then the store counts the messages themselves.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from kept.models import Address
from kept.storage.base import Parties
from kept.storage.files import damaged
from kept.storage.lines import Stored, as_document, member_document, member_line, split_member
from kept.storage.message_file import MessageFile

__all__ = ["TABLE", "Table", "add", "build", "counts", "exported", "parties_of", "party_key", "stored_parties"]

logger = logging.getLogger(__name__)

#: The main file's table of the index.
TABLE = "parties"

#: Encodes document ids: compact, non-ASCII as it is (the line's own encoding escapes it).
_KEY_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

#: json's own scanners (C), called directly as `kept.storage.lines` does: the
#: digest decodes every key. `_scanstring` decodes the string after the quote
#: at the given index, `_scan_once` the value at it; both also give where it ends.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class Table(Protocol):
    """What the index needs of a table of the main file (`kept.storage.main_file.KeyedTable`)."""

    def raw(self, key: str) -> Stored | None:
        """The stored document, or None."""

    def put(self, key: str, document: Stored) -> Stored | None:
        """Store `document` under `key`, journaled."""

    def delete(self, key: str) -> Stored | None:
        """Remove the document under `key`, journaled."""


def parties_of(document: Mapping[str, Any]) -> Parties:
    """From, To and Cc of a message document: only its address fields are decoded.

    :raises ValueError: if one of them does not read as addresses.
    """
    sender = document.get("from_addr")
    to, cc = document.get("to", []), document.get("cc", [])
    if not isinstance(to, list) or not isinstance(cc, list):
        raise ValueError(f"MailMessage: unreadable recipients {to!r} {cc!r}")
    return (
        None if sender is None else _address(sender),
        tuple(_address(entry) for entry in to),
        tuple(_address(entry) for entry in cc),
    )


def _address(value: Any) -> Address:
    name, email = (value.get("name"), value.get("email")) if isinstance(value, dict) else (None, None)
    if not isinstance(name, str) or not isinstance(email, str):
        raise ValueError(f"MailMessage: unreadable address {value!r}")
    return Address(name, email)


def stored_parties(
    archive: MessageFile, hot: Mapping[str, Stored], path: Path, account: str | None = None
) -> Iterator[tuple[str, Parties]]:
    """(account, parties) of every stored message (of `account`): the message file's, then the hot ones.

    The message file is read a line at a time; a message stored anew since
    it moved there is read from the main file's `hot` messages instead.
    `path` is the main file's, for errors.

    :raises StorageError: if a message is damaged.
    """
    documents = [as_document(stored) for stored in hot.values()]
    fresh = {(document.get("account"), document.get("message_id")) for document in documents}
    for message_account, message_id, member in archive.members():
        if (account is not None and message_account != account) or (message_account, message_id) in fresh:
            continue
        try:
            yield message_account, parties_of(member_document(member))
        except ValueError as error:
            raise damaged(path, f"{archive.path} holds a damaged line ({error})") from error
    for document in documents:
        if account is None or document.get("account") == account:
            try:
                yield document["account"], parties_of(document)
            except ValueError as error:
                raise damaged(path, str(error)) from error


def party_key(account: str, parties: Parties) -> str:
    """The document id of `account`'s entry for `parties` (see the module docstring)."""
    sender, to, cc = parties
    return _KEY_ENCODER.encode([
        account,
        None if sender is None else [sender.name, sender.email],
        [[a.name, a.email] for a in to],
        [[a.name, a.email] for a in cc],
    ])


#: How `_count_line` writes a count: ``{"count":12}``.
_COUNT_START = '{"count":'


def _count_line(key: str, count: int) -> str:
    return member_line(key, {"count": count})


def _count(stored: Stored) -> int:
    """The count of an entry, a member line or (from a hand-edited file) a document.

    :raises ValueError: if it holds no positive count.
    """
    if isinstance(stored, str):
        text = split_member(stored)[1]
        # The line as `_count_line` writes it, read without the JSON decoder: the digest reads every one.
        digits = text[len(_COUNT_START) : -1]
        if text.startswith(_COUNT_START) and text.endswith("}") and digits.isdigit() and digits.isascii():
            count = int(digits)
        else:
            count = _count_of(json.loads(text))
    else:
        count = _count_of(stored)
    if count < 1:
        raise ValueError(f"not a party count: {str(stored)[:80]!r}")
    return count


def _count_of(document: Any) -> int:
    count = document.get("count") if isinstance(document, dict) else None
    if type(count) is not int:
        raise ValueError(f"not a party count: {str(document)[:80]!r}")
    return count


def add(table: Table, account: str, parties: Parties, change: int, path: Path) -> None:
    """Add `change` (negative: take it away) to the count of `account`'s `parties`, journaled in `table`.

    An entry whose count reaches 0 is deleted. One that would go below 0
    (the index disagrees with the messages, which should not happen) is
    deleted too, with a warning.

    :raises StorageError: if the entry is damaged.
    """
    key = party_key(account, parties)
    stored = table.raw(key)
    try:
        count = (0 if stored is None else _count(stored)) + change
    except ValueError as error:
        raise damaged(path, f"its party index holds a damaged entry ({error})") from error
    if count > 0:
        table.put(key, _count_line(key, count))
        return
    if count < 0:
        logger.warning("The party index of %s counted fewer messages than were removed; fixed", path)
    if stored is not None:
        table.delete(key)


def build(entries: Iterable[tuple[str, Parties]]) -> dict[str, Stored]:
    """The table of the index of the messages whose (account, parties) are `entries` (`stored_parties`)."""
    counted = Counter(party_key(account, parties) for account, parties in entries)
    return {key: _count_line(key, count) for key, count in counted.items()}


def counts(table: Mapping[str, Stored], path: Path, account: str | None = None) -> Iterator[tuple[Parties, int]]:
    """The parties of the index `table` (of `account`) with their counts, each once (the accounts' added up).

    Equal addresses come as one `Address` object, which the people's
    builder handles faster and which holds a large index in less memory.

    :raises StorageError: if an entry is damaged.
    """
    # The key after its account -> (parties, count): equal text is equal parties, and hashing a
    # string (which caches its hash) is faster than hashing a tuple of addresses.
    found: dict[str, list[Any]] = {}
    addresses: dict[tuple[str, str], Address] = {}

    def address(value: Any) -> Address:
        pair = tuple(value) if type(value) is list else ()
        known = addresses.get(pair)
        if known is None:
            if len(pair) != 2 or type(pair[0]) is not str or type(pair[1]) is not str:
                raise ValueError(f"not an address: {value!r}")
            known = addresses[pair] = Address(*pair)
        return known

    for key, stored in table.items():
        try:
            if not key.startswith('["'):
                raise ValueError(f"not a party key: {key[:80]!r}")
            entry_account, end = _scanstring(key, 2)
            if account is not None and entry_account != account:
                continue  # the rest of the key left undecoded
            rest = key[end:]
            seen = found.get(rest)
            if seen is not None:
                seen[1] += _count(stored)
                continue
            entry, stop = _scan_once(key, 0)
            if not (stop == len(key) and type(entry) is list and len(entry) == 4):
                raise ValueError(f"not a party key: {key[:80]!r}")
            _, sender, to, cc = entry
            if type(to) is not list or type(cc) is not list:
                raise ValueError(f"not a party key: {key[:80]!r}")
            parties = (None if sender is None else address(sender), tuple(map(address, to)), tuple(map(address, cc)))
            found[rest] = [parties, _count(stored)]
        except (ValueError, RecursionError, TypeError, StopIteration) as error:
            raise damaged(path, f"its party index holds a damaged entry ({error!r})") from error
    return ((parties, count) for parties, count in found.values())


def exported(items: Iterable[tuple[str, Stored]], path: Path) -> Iterator[dict[str, Any]]:
    """The index's entries as ``kept export`` shows them: the parties its keys hold, spelled out.

    Each is ``{"account": ..., "from_addr": ..., "to": [...], "cc": [...],
    "count": n}``, the addresses as a message record's (``{"name": ...,
    "email": ...}``), so that the export shows every name and address
    kept holds in the fields it uses everywhere else.

    :raises StorageError: if an entry is damaged.
    """
    for key, stored in items:
        try:
            entry = json.loads(key)
            if not (type(entry) is list and len(entry) == 4 and type(entry[2]) is list and type(entry[3]) is list):
                raise ValueError(f"not a party key: {key[:80]!r}")
            account, sender, to, cc = entry
            document = {
                "account": account,
                "from_addr": None if sender is None else _address_document(sender),
                "to": [_address_document(address) for address in to],
                "cc": [_address_document(address) for address in cc],
                "count": _count(stored),
            }
        except (ValueError, RecursionError, TypeError) as error:
            raise damaged(path, f"its party index holds a damaged entry ({error!r})") from error
        yield document


def _address_document(value: Any) -> dict[str, str]:
    if not (type(value) is list and len(value) == 2):
        raise ValueError(f"not an address: {value!r}")
    return {"name": value[0], "email": value[1]}

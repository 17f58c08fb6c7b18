"""The line layout both files of the TinyDB store share, and its codec.

Both files (`kept.storage.main_file`, `kept.storage.message_file`) are
TinyDB's own layout (table name -> document id -> document), written one
document per line so that a line can be read on its own::

    {"messages":{
    "[\\"work\\", \\"<id@host>\\"]":{...MailMessage without body...}
    ,"[\\"work\\", \\"<id2@host>\\"]":{...}
    }
    ,"threads":{
    "<thread key>":{...Thread...}
    }
    ,"promises":{...}  (and introductions, leads, cursors, parties)
    ,"meta":{
    "schema_version":{"value":3}
    ,"message_archive":{"value":{"generation":7,"end":123456789}}
    }
    }

A document's line without its leading comma and newline is its *member
line*, ``"key":{...}``. In memory, thread, promise, hot message and
party index documents are kept as their member lines (a dict of strings
costs about four times its JSON) and decoded when read. This module owns
that text form: encoding a member line, splitting and parsing document
lines, and the types of the in-memory copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "COMPACT_TABLES",
    "Change",
    "ENCODER",
    "Stored",
    "Tables",
    "as_document",
    "member_document",
    "member_line",
    "meta_value",
    "pair_key",
    "parse_line",
    "split_line",
    "split_member",
    "table_name",
]

#: Encodes every line: compact, and ASCII only, so lone surrogates from broken charsets stay writable.
ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))

#: json's own string scanner (C): decodes the JSON string starting after the
#: quote at the given index, returning it and the index after its closing quote.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

#: json's own value scanner (C): decodes the JSON value at the given index,
#: returning it and the index after it. Called directly, it skips the
#: per-call work of `json.loads`, which is a third of reading 70,000 threads.
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

#: The tables held in memory as the JSON text of their lines (see the module docstring).
COMPACT_TABLES = frozenset({"messages", "threads", "promises", "parties"})

#: A stored document: a dict, or (in a compact table) the text of its line, ``"key":{...}``.
Stored = dict[str, Any] | str

#: The in-memory copy of the main file: table -> document id -> stored document.
Tables = dict[str, dict[str, Stored]]

#: One journaled change of the in-memory copy: (table, document id, what was
#: there before or None). The pseudo-table ``"archive"`` journals messages
#: taken out of the message file's index; the previous value is their index entry.
Change = tuple[str, str, "Stored | int | None"]


def pair_key(first: str, second: str) -> str:
    """A document id for a two-part natural key; JSON keeps it unambiguous.

    ``json.dumps([first, second])``; written out directly when neither part
    has a character JSON escapes (printable ASCII but for ``"`` and ``\\``,
    as Message-IDs and account names are): the digest makes two for each of
    the 13,580 messages it reads at 200,000 messages, and a scan one for
    each message it meets.
    """
    if _plain(first) and _plain(second):
        return f'["{first}", "{second}"]'
    return json.dumps([first, second])


def _plain(text: str) -> bool:
    """True if json.dumps writes `text` as it is, between quotes."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def member_line(key: str, document: Mapping[str, Any]) -> str:
    """One table member as the text of its line: ``"key":{...}``."""
    return f"{ENCODER.encode(key)}:{ENCODER.encode(document)}"


def split_member(text: str) -> tuple[str, str]:
    """A member line's (document id, document JSON text).

    :raises ValueError: if `text` is not ``"key":...``.
    """
    if not text.startswith('"'):
        raise ValueError(f"not a table member: {text[:80]!r}")
    key, end = _scanstring(text, 1)
    if text[end : end + 1] != ":":
        raise ValueError(f"not a table member: {text[:80]!r}")
    return key, text[end + 1 :]


def parse_line(line: str, *, first: bool) -> tuple[str, dict[str, Any], str]:
    """A document line as (document id, document, member line): ``"key":{...}\\n``, after a comma unless first.

    :raises ValueError: if it is anything else.
    """
    start = 0 if first else 1
    if not line.endswith("\n") or (not first and not line.startswith(",")) or line[start : start + 1] != '"':
        raise ValueError(f"not a document line: {line[:80]!r}")
    key, end = _scanstring(line, start + 1)
    if line[end : end + 1] != ":":
        raise ValueError(f"not a document line: {line[:80]!r}")
    try:
        document, stop = _scan_once(line, end + 1)
    except StopIteration as error:
        raise ValueError(f"no document in line {line[:80]!r}") from error
    if stop != len(line) - 1 or not isinstance(document, dict):
        raise ValueError(f"not a document line: {line[:80]!r}")
    return key, document, line[start:-1]


def split_line(line: str, *, first: bool) -> tuple[str, str]:
    """A document line as (document id, member line), its document left unparsed.

    :raises ValueError: if it does not start like a document line.
    """
    start = 0 if first else 1
    if not line.endswith("\n") or (not first and not line.startswith(",")) or line[start : start + 1] != '"':
        raise ValueError(f"not a document line: {line[:80]!r}")
    # As `split_member` does, without copying the document's text twice:
    # a store splits every thread line of the file when it first uses them.
    key, end = _scanstring(line, start + 1)
    if line[end : end + 1] != ":":
        raise ValueError(f"not a document line: {line[:80]!r}")
    return key, line[start:-1]


def member_document(text: str) -> dict[str, Any]:
    """The document of a member line, decoded.

    :raises ValueError: if it holds no document.
    """
    if not text.startswith('"'):
        raise ValueError(f"not a table member: {text[:80]!r}")
    _, end = _scanstring(text, 1)
    if text[end : end + 1] != ":":
        raise ValueError(f"not a table member: {text[:80]!r}")
    # Scanned where it starts, without copying the text after the key (the
    # digest decodes every thread); a line as `member_line` writes it ends
    # with its document. Anything else is read by json.loads, which says
    # what is wrong with it.
    try:
        document, stop = _scan_once(text, end + 1)
    except StopIteration:
        stop = -1
    if stop != len(text):
        document = json.loads(text[end + 1 :])
    if not isinstance(document, dict):
        raise ValueError(f"not a document: {text[:80]!r}")
    return document


def as_document(stored: Stored) -> dict[str, Any]:
    """A stored document as a dict (compact-table documents are member lines)."""
    return member_document(stored) if isinstance(stored, str) else stored


def meta_value(document: Any) -> Any:
    """The value of a meta document ``{"value": ...}``, or None."""
    return document.get("value") if isinstance(document, dict) else None


def table_name(line: bytes, *, first: bool) -> str | None:
    """The table a line opens (``{"name":{`` first, ``,"name":{`` after), or None."""
    if not (line.startswith(b"{" if first else b",") and line.endswith(b':{\n')):
        return None
    try:
        name = json.loads(line[1:-3])
    except ValueError:
        return None
    return name if isinstance(name, str) else None

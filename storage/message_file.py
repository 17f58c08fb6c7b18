"""The message file of a TinyDB store, ``kept.messages.json``: message records moved out of the main file.

Message records are most of what kept stores, and a scan only asks whether
a message exists. So the main file (``kept.json``,
`kept.storage.main_file`) holds only the messages stored since the last
move (the *hot* messages); once `kept.storage.main_file.HOT_MESSAGES` of
them have gathered, a commit moves them here. This file is never parsed
whole: at start-up only its last line is read, whose index (each message's
byte offset and role) is decoded when a message is first looked up, and a
message is read from the one line it is on. ``export`` and ``forget`` read
it through, a line at a time.

A commit that moves messages is made in three steps, and the rename of the
main file is the one that counts:

1. the new message file is written as ``kept.messages.json.next`` (the old
   file's documents copied byte for byte, or without the removed ones, then
   the hot messages, then the index) and fsynced with its directory;
2. the main file is written as always; its meta ``message_archive``
   (`ARCHIVE_META`) names the new file's *generation* and where its index
   starts;
3. ``.next`` is renamed over ``kept.messages.json``.

On opening, the message file whose index carries the generation (and the
database id) the main file names is the one used: a ``.next`` that carries it
is renamed into place (the crash came between steps 2 and 3), a ``.next``
that does not is deleted (the crash came before step 2, so the main file
still holds those messages as hot ones). A message file that is missing or
does not match is reported as damaged, with ``kept rebuild`` as the fix.

The file has the table ``messages`` (lines as in `kept.storage.lines`) and,
on its last line, a table ``meta`` whose document ``archive`` holds the
database id, the generation and the index (account -> message id ->
offset * 2 + 1 if sent)::

    {"messages":{
    "[\\"work\\", \\"<id@host>\\"]":{...}
    ,...
    },"meta":{"archive":{"database_id":"...","generation":7,"messages":180000,"index":{"work":{"<id@host>":28,...}}}}}
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, cast

from kept.errors import StorageError
from kept.storage.files import (
    REBUILD_HINT,
    copy_prefix,
    damaged,
    fsync_directory,
    next_path,
    read_line,
    read_lines,
)
from kept.storage.lines import ENCODER, pair_key, split_member

__all__ = ["ARCHIVE_META", "MessageFile", "Outgoing"]

logger = logging.getLogger(__name__)

#: Meta key of the main file's pointer to the message file.
ARCHIVE_META = "message_archive"

#: A hot message on its way to the message file: (account, message id, role, member line).
Outgoing = tuple[str, str, str, str]

#: The start of the ``archive`` document as `MessageFile.write_next` writes
#: it, up to its index: what `MessageFile.load` checks is read from here.
_TRAILER_HEAD = re.compile(
    rb'\{"database_id":(?P<database_id>"(?:[^"\\]|\\.)*"),"generation":(?P<generation>[1-9][0-9]{0,17}),'
    rb'"messages":[0-9]{1,18},"index":'
)


class _Decoded(NamedTuple):
    """An index decoded with the rest of its document, not yet checked."""

    value: Any


class _Undecoded(NamedTuple):
    """An index not decoded yet: the last line of the file from `MessageFile.TRAILER` on, and where the index starts in it."""

    line: bytes
    start: int


class _Trailer(NamedTuple):
    """The ``archive`` document of a message file: whose it is, its generation, its index."""

    database_id: Any
    generation: Any
    pending_index: _Decoded | _Undecoded


class MessageFile:
    """The message file: message records moved out of the main file, and their index.

    The index maps account -> message id -> ``offset * 2 + (1 if sent)``,
    where offset is the byte position of the message's line; it is read
    from the file's last line when the main file is loaded, and written
    there anew with every generation of the file. See the module docstring
    for the layout and the crash-safe way a new generation replaces the old.

    Loading checks which file belongs to the database at once, but decodes
    the index itself only when something first needs it (`index`): a scan
    that finds nothing new, and a command that reads no message, never do.
    At 1,000,000 messages the index is 40 MB of JSON.
    """

    HEAD = b'{"messages":{\n'
    TRAILER = b'},"meta":{"archive":'
    TAIL = b"}}\n"

    def __init__(self, path: Path, main_path: Path) -> None:
        self.path = path
        self.next_path = next_path(path)
        self.main_path = main_path
        self._index: dict[str, dict[str, int]] = {}
        # The file's index as `_trailer` left it (undecoded, or decoded but
        # not yet checked), until `index` first needs it.
        self._pending_index: _Decoded | _Undecoded | None = None
        self.generation = 0
        self.end = len(self.HEAD)
        # Set when an index entry was removed: the next write must leave its line out.
        self.dirty = False
        # Descriptor of the current generation (whatever its name), read with pread only.
        self._reader: int | None = None
        # .next holds the current generation and still has to be renamed into place.
        self._written = False

    # -- reading ----------------------------------------------------------

    @property
    def index(self) -> dict[str, dict[str, int]]:
        """Account -> message id -> index entry; decoded from the file at first use.

        :raises StorageError: if the file's index is damaged (every use
            reports it, until `load` or `reset`).
        """
        if self._pending_index is not None:
            self._index = self._checked_index(self._pending_index)
            self._pending_index = None
        return self._index

    @index.setter
    def index(self, index: dict[str, dict[str, int]]) -> None:
        self._index, self._pending_index = index, None

    def decode_index(self) -> None:
        """Decode and check the index now, if it is still pending (before a write that needs it).

        :raises StorageError: if it is damaged.
        """
        self.index  # noqa: B018 - the property decodes it

    def _checked_index(self, pending: _Decoded | _Undecoded) -> dict[str, dict[str, int]]:
        """The index `_trailer` left pending, decoded and checked.

        Text is decoded as UTF-8, as the whole line would be: `json.loads`
        given bytes guesses UTF-16 or -32 from NUL bytes. An index that
        does not decode on its own (a key after it, from another writer)
        is read from the whole document.

        :raises StorageError: if it is not a table of accounts.
        """
        index: Any = None
        if isinstance(pending, _Decoded):
            index = pending.value
        else:
            line, start = pending
            end = len(line) - len(self.TAIL) - 1
            try:
                index = json.loads(line[start:end].decode("utf-8"))
            except (ValueError, RecursionError):
                document = self._document(line)
                index = document.get("index") if document is not None else None
        if not (
            isinstance(index, dict)
            and all(isinstance(ids, dict) for ids in index.values())
            and all(type(entry) is int for ids in index.values() for entry in ids.values())
        ):
            raise damaged(self.main_path, f"the index of {self.path} is not a table of accounts")
        return index

    def reset(self) -> None:
        """Forget the index; `load` reads it again."""
        if self._reader is not None:
            os.close(self._reader)
            self._reader = None
        self.index = {}
        self.generation = 0
        self.end = len(self.HEAD)
        self.dirty = False
        self._written = False

    def load(self, database_id: str, pointer: Any) -> None:
        """Open the message file the main file's `pointer` names (meta ``message_archive``), and read its index.

        Called with the database locked. Finishes an archive write that
        was cut short after the main file was written, and deletes one cut
        short before.

        :raises StorageError: if the file is missing, damaged or belongs to another database.
        """
        self.reset()
        if pointer is None:
            # No message was ever moved; a .next is an unfinished first move.
            self._remove_unfinished()
            return
        if not (
            isinstance(pointer, dict)
            and type(pointer.get("generation")) is int
            and type(pointer.get("end")) is int
            and pointer["generation"] > 0
            and pointer["end"] >= len(self.HEAD)
        ):
            raise damaged(self.main_path, f"its meta {ARCHIVE_META!r} is not a message file pointer")
        generation, end = pointer["generation"], pointer["end"]
        trailer = self._trailer(self.path, end)
        if not self._matches(trailer, database_id, generation):
            trailer = self._trailer(self.next_path, end)
            if not self._matches(trailer, database_id, generation):
                raise StorageError(
                    f"the database {self.main_path} is damaged: its message file {self.path} is missing "
                    f"or does not belong to it (generation {generation} expected)",
                    hint=f"restore both files from the same backup, or {REBUILD_HINT}",
                )
            logger.info("Finishing an interrupted write of %s", self.path)
            try:
                os.replace(self.next_path, self.path)
            except OSError as error:
                raise StorageError(
                    f"cannot finish an interrupted write of {self.path}: {error.strerror or error}",
                    hint="fix the directory's permissions, then retry",
                ) from error
            fsync_directory(self.path.parent)
        else:
            self._remove_unfinished()
        assert trailer is not None
        try:
            self._reader = os.open(self.path, os.O_RDONLY)
        except OSError as error:
            raise StorageError(f"cannot read the message file {self.path}: {error.strerror}") from error
        self._index, self._pending_index = {}, trailer.pending_index
        self.generation = generation
        self.end = end

    def _remove_unfinished(self) -> None:
        try:
            os.unlink(self.next_path)
        except FileNotFoundError:
            return
        except OSError as error:
            logger.warning("Cannot remove %s, left by an interrupted write: %s", self.next_path, error.strerror)
            return
        logger.info("Removed %s, left by an interrupted write", self.next_path)

    def _trailer(self, path: Path, end: int) -> _Trailer | None:
        """The ``archive`` document on the last line of `path`, which must start at `end`; None if there is none.

        Its index is left undecoded when the document starts as
        `write_next` writes it (`_TRAILER_HEAD`), and that start says
        whose file it is; any other document is decoded whole. Either way
        its index is checked when first used (`index`).
        """
        try:
            with open(path, "rb") as file:
                file.seek(end)
                text = file.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageError(f"cannot read the message file {path}: {error.strerror}") from error
        if not (text.startswith(self.TRAILER) and text.endswith(self.TAIL)):
            return None
        head = _TRAILER_HEAD.match(text, len(self.TRAILER))
        if head is not None and text.endswith(b"}" + self.TAIL):
            try:
                database_id = json.loads(head["database_id"].decode("utf-8"))
            except ValueError:
                return None
            return _Trailer(database_id, int(head["generation"]), _Undecoded(text, head.end()))
        trailer = self._document(text)
        if trailer is None:
            return None
        return _Trailer(trailer.get("database_id"), trailer.get("generation"), _Decoded(trailer.get("index")))

    @classmethod
    def _document(cls, line: bytes) -> dict[str, Any] | None:
        """The ``archive`` document of a last line (`TRAILER` ... `TAIL`) decoded whole, or None if it is not one."""
        try:
            document = json.loads(line[len(cls.TRAILER) : -len(cls.TAIL)].decode("utf-8"))
        except (ValueError, RecursionError):
            return None
        return document if isinstance(document, dict) else None

    @staticmethod
    def _matches(trailer: _Trailer | None, database_id: str, generation: int) -> bool:
        return (
            trailer is not None
            and trailer.database_id == database_id
            and type(trailer.generation) is int
            and trailer.generation == generation
        )

    def entry(self, account: str, message_id: str) -> int | None:
        """The message's index entry (``offset * 2 + sent``), or None if it is not in the file."""
        ids = self.index.get(account)
        return None if ids is None else ids.get(message_id)

    def read(self, account: str, message_id: str) -> str | None:
        """The member line of a message in the file, or None."""
        entry = self.entry(account, message_id)
        if entry is None:
            return None
        assert self._reader is not None
        if not len(self.HEAD) <= entry >> 1 < self.end:
            raise damaged(self.main_path, f"the index of {self.path} points outside its messages")
        try:
            line = read_line(self._reader, entry >> 1, self.end)
        except OSError as error:
            raise StorageError(f"cannot read the message file {self.path}: {error.strerror or error}") from error
        try:
            member = line.decode("utf-8").rstrip("\n").removeprefix(",")
            key, _ = split_member(member)
        except ValueError as error:
            raise damaged(self.main_path, f"{self.path} does not hold a message where its index says") from error
        if key != pair_key(account, message_id):
            raise damaged(self.main_path, f"{self.path} holds another message where its index says")
        return member

    def members(self) -> Iterator[tuple[str, str, str]]:
        """Every message the file holds as (account, message id, member line), in file order.

        The file is read a megabyte at a time. Lines of messages taken out
        of the index since the file was written are skipped.

        :raises StorageError: if a line is damaged, or an index entry names
            no line (a rewrite would otherwise drop its message unseen).
        """
        if not self.generation:
            return
        assert self._reader is not None
        expected = sum(len(ids) for ids in self.index.values())
        found = 0
        try:
            for offset, line in read_lines(self._reader, len(self.HEAD), self.end):
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("the file ends before its index")
                    member = line[:-1].decode("utf-8").removeprefix(",")
                    account, message_id = json.loads(split_member(member)[0])
                    entry = self.entry(account, message_id)
                except (ValueError, TypeError, RecursionError) as error:
                    raise damaged(self.main_path, f"{self.path} holds a damaged line ({error})") from error
                if entry is not None and entry >> 1 == offset:
                    found += 1
                    yield account, message_id, member
        except OSError as error:
            raise StorageError(f"cannot read the message file {self.path}: {error.strerror or error}") from error
        if found != expected:
            raise damaged(self.main_path, f"the index of {self.path} names {expected - found} messages it does not hold")

    def role_counts(self) -> Counter[tuple[str, str]]:
        """How many messages of each (account, role) the file holds."""
        counts: Counter[tuple[str, str]] = Counter()
        for account, ids in self.index.items():
            sent = sum(entry & 1 for entry in ids.values())
            counts[account, "sent"] += sent
            counts[account, "received"] += len(ids) - sent
        return counts

    # -- changing ---------------------------------------------------------

    def remove(self, account: str, message_id: str) -> int | None:
        """Take a message out of the index (its line goes at the next write); return its entry."""
        ids = self.index.get(account)
        entry = None if ids is None else ids.pop(message_id, None)
        if entry is not None:
            self.dirty = True
        return entry

    def restore(self, account: str, message_id: str, entry: int) -> None:
        """Put back an entry `remove` took out (a transaction was undone)."""
        self.index.setdefault(account, {})[message_id] = entry

    def write_next(self, outgoing: list[Outgoing], database_id: str) -> dict[str, int]:
        """Write the next generation of the file as ``.next``: what it holds now plus `outgoing`.

        Messages removed from the index, and those `outgoing` replaces,
        are left out. The index in memory describes the new file when this
        returns; if it raises, the caller must `reset` (the old file is
        untouched).

        :returns: the pointer the main file must store (meta ``message_archive``).
        :raises OSError: if writing failed (the disk is full, say).
        """
        replaced = {(account, message_id) for account, message_id, _, _ in outgoing if self.entry(account, message_id) is not None}
        copy = bool(self.generation) and not self.dirty and not replaced
        if self._written:
            # The last generation never got its name (see `promote`); it must
            # have it before .next is reused. Another kept process opening
            # the database may have given it already, and then left a .next
            # of its own (a move whose main file write failed), which the
            # main file does not name: only our own file is renamed.
            assert self._reader is not None
            ours = os.fstat(self._reader)
            try:
                pending = os.stat(self.next_path)
            except FileNotFoundError:
                pending = None
            if pending is not None and (pending.st_dev, pending.st_ino) == (ours.st_dev, ours.st_ino):
                os.replace(self.next_path, self.path)
                fsync_directory(self.path.parent)
            self._written = False
        try:
            os.unlink(self.next_path)
        except FileNotFoundError:
            pass
        descriptor = os.open(self.next_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if copy:
                # Only new messages: the lines so far stay where they are.
                assert self._reader is not None
                copy_prefix(self._reader, descriptor, self.end)
                os.lseek(descriptor, self.end, os.SEEK_SET)
                index, position = self.index, self.end
            else:
                os.write(descriptor, self.HEAD)
                index, position = {}, len(self.HEAD)
            with os.fdopen(os.dup(descriptor), "wb") as file:
                count = sum(len(ids) for ids in index.values())
                if not copy:
                    for account, message_id, member in self.members():
                        if (account, message_id) in replaced:
                            continue
                        entry = cast(int, self.entry(account, message_id))
                        line = f"{',' if count else ''}{member}\n".encode()
                        index.setdefault(account, {})[message_id] = position << 1 | entry & 1
                        file.write(line)
                        position += len(line)
                        count += 1
                for account, message_id, role, member in outgoing:
                    line = f"{',' if count else ''}{member}\n".encode()
                    index.setdefault(account, {})[message_id] = position << 1 | (role == "sent")
                    file.write(line)
                    position += len(line)
                    count += 1
                generation = self.generation + 1
                state = {"database_id": database_id, "generation": generation, "messages": count, "index": index}
                file.write(self.TRAILER + ENCODER.encode(state).encode("ascii") + self.TAIL)
                file.flush()
                os.fsync(file.fileno())
        except BaseException:
            os.close(descriptor)
            try:
                os.unlink(self.next_path)
            except OSError:
                pass
            raise
        # Read from the new file from now on, whatever its name.
        if self._reader is not None:
            os.close(self._reader)
        self._reader = descriptor
        fsync_directory(self.path.parent)
        self.index, self.generation, self.end = index, generation, position
        self.dirty = False
        self._written = True
        return {"generation": generation, "end": position}

    def promote(self) -> None:
        """Rename the ``.next`` written by `write_next` into place, now that the main file points to it."""
        if not self._written:
            return
        try:
            os.replace(self.next_path, self.path)
        except OSError as error:
            # The main file already points to the new generation: the next
            # write, or whoever opens the database next, finishes the rename.
            logger.warning("Cannot rename %s to %s: %s", self.next_path, self.path, error.strerror or error)
            return
        self._written = False
        fsync_directory(self.path.parent)

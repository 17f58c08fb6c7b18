"""The interface every mail source implements.

Vocabulary
----------
account
    The name of the ``[accounts.NAME]`` section a source reads for.
folder
    A mail folder as the source names it: ``"INBOX"``, ``".Sent"``,
    ``"Sent Items"``.
role
    What a folder holds for kept: ``"sent"`` (mail the user wrote) or
    ``"received"`` (everything else).
cursor
    A small JSON-serialisable ``dict`` that says how far a folder has been
    read. Only the source that made a cursor understands it (IMAP keeps
    UIDVALIDITY and the last UID; Maildir keeps the keys it has handed out).
    The scanner stores the cursor of a batch only *after* the batch's records
    are stored, so a crash re-reads a batch rather than losing it.
batch
    Up to ``batch_size`` raw messages of one folder plus the cursor to store
    once they are stored. ``reset=True`` on a batch says the folder's old
    cursor no longer holds (the IMAP UIDVALIDITY changed) and the folder is
    being read again from the start; message ids keep that free of duplicates.

Sources are strictly read-only: they never set or clear a flag, move, delete
or append anything. A source is used as a context manager::

    with source:
        for folder in source.folders():
            for batch in source.fetch(folder, cursor):
                ...

internal date
    `RawMessage.internal_date`: when the message arrived, by the source's
    own record, in UTC (IMAP INTERNALDATE, the Maildir delivery time in the
    file name or else the file's modification time, Exchange's received
    time). It dates a message whose Date header is missing or absurd. A
    source hands over None rather than raise on a value it cannot convert
    (`utc_or_none`): one message must never stop a folder.

Errors: `kept.errors.AuthenticationError` when the server refuses the login,
`kept.errors.SourceError` for anything retrying later may fix (network,
server down, folder gone).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from kept.models import RawMessage, Role

Cursor = dict[str, Any]


def utc_or_none(moment: datetime | float | None) -> datetime | None:
    """`moment` (a datetime, naive taken as UTC, or a Unix time) in UTC; None if it cannot be one.

    A server or a file system may hand over any time at all ("31-Dec-9999
    23:59:59 -0100" overflows on the way to UTC); that message then simply
    has no internal date.
    """
    if moment is None:
        return None
    try:
        if isinstance(moment, datetime):
            if moment.tzinfo is None:
                return moment.replace(tzinfo=timezone.utc)
            return moment.astimezone(timezone.utc)
        return datetime.fromtimestamp(moment, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Folder:
    """A folder and the role it plays.

    :ivar name: the folder's name in the source.
    :ivar role: ``"sent"`` or ``"received"``.
    """

    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Batch:
    """Messages read from one folder in one go.

    :ivar folder: where they came from.
    :ivar messages: the raw messages, oldest first where the source knows.
    :ivar cursor: store this after the messages are stored.
    :ivar reset: True if the previous cursor was invalid and the folder is
        being read from the start.
    """

    folder: Folder
    messages: tuple[RawMessage, ...]
    cursor: Cursor
    reset: bool = False


@runtime_checkable
class MailSource(Protocol):
    """Where kept reads an account's mail from. See the module docstring for the terms."""

    account: str

    def __enter__(self) -> "MailSource":
        """Connect and log in. Raises AuthenticationError or SourceError."""

    def __exit__(self, *exc_info: object) -> None:
        """Disconnect; never raises."""

    def folders(self) -> list[Folder]:
        """The folders to read, each with its role; the sent folder is found here."""

    def pending(self, folder: Folder, cursor: Cursor | None) -> int:
        """How many messages a `fetch` with this cursor would return (for progress bars)."""

    def fetch(
        self, folder: Folder, cursor: Cursor | None, batch_size: int = 200
    ) -> Iterator[Batch]:
        """Yield the messages added since `cursor` (all of them for None), in batches."""

"""An in-memory mail source, the twin of `ImapSource` for unit tests.

It keeps folders as lists of messages numbered like IMAP does (a UIDVALIDITY
per folder and ascending UIDs), so its cursors behave the same way:
``{"uidvalidity": int, "last_uid": int}``. `MemorySource.reset_uidvalidity`
plays the server that renumbers a folder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from kept.errors import KeptError, SourceError
from kept.mailboxes.base import Batch, Cursor, Folder
from kept.models import RawMessage

logger = logging.getLogger(__name__)

DEFAULT_FOLDERS = (Folder("INBOX", "received"), Folder("Sent", "sent"))


@dataclass
class _MemoryFolder:
    """One folder's messages and numbering."""

    uidvalidity: int
    next_uid: int = 1
    # uid -> message, in the order the messages were added
    messages: dict[int, RawMessage] = field(default_factory=dict)


class MemorySource:
    """A `kept.mailboxes.base.MailSource` holding its mail in memory.

    :param account: the account name the source reads for.
    :param folders: the folders it starts with; more appear when `add` names
        a new one. Defaults to ``INBOX`` (received) and ``Sent`` (sent).

    Set `fail_on_enter` to an exception to make the next ``with source:``
    raise it (a server that is down or refuses the login).
    """

    def __init__(self, account: str, folders: Iterable[Folder] = DEFAULT_FOLDERS) -> None:
        self.account = account
        self.fail_on_enter: KeptError | None = None
        self._folders: dict[Folder, _MemoryFolder] = {}
        self._open = False
        # Distinct per folder and per renumbering, like a real server's.
        self._uidvalidity_counter = 1000
        for folder in folders:
            self._folder_state(folder)

    def add(self, folder: Folder, data: bytes, internal_date: datetime | None = None) -> str:
        """Put a message into `folder` (created if new) and return its UID as a string."""
        state = self._folder_state(folder)
        uid = state.next_uid
        state.next_uid += 1
        state.messages[uid] = RawMessage(uid=str(uid), data=bytes(data), internal_date=internal_date)
        return str(uid)

    def remove(self, folder: Folder, uid: str) -> None:
        """Delete one message, as another mail client might (UIDs are never reused)."""
        del self._folders[folder].messages[int(uid)]

    def reset_uidvalidity(self, folder: Folder) -> None:
        """Renumber `folder` from UID 1 under a new UIDVALIDITY.

        A cursor taken before this no longer holds: the next fetch with it
        yields batches with ``reset=True`` that read the whole folder again.
        """
        state = self._folders[folder]
        old = list(state.messages.values())
        self._uidvalidity_counter += 1
        state.uidvalidity = self._uidvalidity_counter
        state.messages = {}
        state.next_uid = 1
        for message in old:
            self.add(folder, message.data, message.internal_date)

    def __enter__(self) -> MemorySource:
        if self.fail_on_enter is not None:
            error, self.fail_on_enter = self.fail_on_enter, None
            raise error
        self._open = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._open = False

    def folders(self) -> list[Folder]:
        """The folders, in the order they were first named."""
        self._require_open()
        return list(self._folders)

    def pending(self, folder: Folder, cursor: Cursor | None) -> int:
        """How many messages `fetch` would return for this cursor."""
        self._require_open()
        uids, _reset = self._uids_after(folder, cursor)
        return len(uids)

    def fetch(
        self, folder: Folder, cursor: Cursor | None, batch_size: int = 200
    ) -> Iterator[Batch]:
        """Yield the messages added since `cursor`, `batch_size` at a time."""
        self._require_open()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        state = self._folders.get(folder)
        if state is None:
            raise SourceError(f"{self.account}: folder {folder.name!r} does not exist")
        uids, reset = self._uids_after(folder, cursor)
        if not uids and reset:
            # The scanner must still learn the new numbering of an empty folder.
            yield Batch(folder, (), {"uidvalidity": state.uidvalidity, "last_uid": 0}, reset=True)
            return
        for start in range(0, len(uids), batch_size):
            chunk = uids[start : start + batch_size]
            messages = tuple(state.messages[uid] for uid in chunk)
            new_cursor = {"uidvalidity": state.uidvalidity, "last_uid": chunk[-1]}
            yield Batch(folder, messages, new_cursor, reset=reset)

    def _folder_state(self, folder: Folder) -> _MemoryFolder:
        state = self._folders.get(folder)
        if state is None:
            self._uidvalidity_counter += 1
            state = self._folders[folder] = _MemoryFolder(uidvalidity=self._uidvalidity_counter)
        return state

    def _uids_after(self, folder: Folder, cursor: Cursor | None) -> tuple[list[int], bool]:
        """The UIDs past `cursor` and whether the cursor had to be thrown away."""
        state = self._folders.get(folder)
        if state is None:
            raise SourceError(f"{self.account}: folder {folder.name!r} does not exist")
        last_uid = 0
        reset = False
        if cursor is not None:
            if cursor.get("uidvalidity") == state.uidvalidity and isinstance(
                cursor.get("last_uid"), int
            ):
                last_uid = cursor["last_uid"]
            else:
                reset = True
        return sorted(uid for uid in state.messages if uid > last_uid), reset

    def _require_open(self) -> None:
        if not self._open:
            raise SourceError(f"{self.account}: source used outside its 'with' block")

"""Read a local Maildir (as synced by mbsync, offlineimap or Lotus exports).

The source never changes the Maildir: it does not move messages from new/ to
cur/, does not touch flags or file names, and only opens files for reading.

Maildir keys are stable for the life of a message (a flag change or a move
from new/ to cur/ only changes the part after the colon), so the cursor is
the set of keys already handed out: ``{"seen": [sorted keys]}``. That
finds newly synced mail whatever time stamp the syncing tool gave its file.

Listing a folder of 200,000 messages takes most of a second, and a pass
that finds nothing new would list it every time. So the cursor of a pass
that handed out all there was also holds the modification times of
``cur/`` and ``new/`` as they were before the listing, and when that
was: ``"dirs": [cur_ns, new_ns], "listed_at": unix_time``. Adding,
removing or renaming a file changes its directory's time, so while both
are unchanged there is nothing new and the folder is not listed. Two
guards keep a file from being missed:

* a time is recorded only if it was at least `SETTLED_SECONDS` old when
  it was read: on a file system with coarse time stamps (ext3 and HFS+
  keep seconds, FAT two) a file added in the same tick leaves it as it
  was, and that tick must be over before the listing starts;
* the folder is listed anyway once `RELIST_SECONDS` have passed since the
  last listing (or the clock went back): a file server whose clock lags
  ours can make a fresh time look settled.
"""

from __future__ import annotations

import logging
import mailbox
import os
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from kept.errors import SourceError
from kept.mailboxes.base import Batch, Cursor, Folder, utc_or_none
from kept.models import RawMessage
from kept.settings import MaildirAccount

logger = logging.getLogger(__name__)

# The name the top folder (``inbox = ""``) is shown and stored under.
TOP_FOLDER_NAME = "INBOX"

#: How old a directory's modification time must be, when read, before the
#: cursor trusts it (see the module docstring).
SETTLED_SECONDS = 2.0
#: The longest a folder goes unlisted on the strength of its times.
RELIST_SECONDS = 3600.0

# A Maildir file name starts with the Unix time of its delivery
# ("1000228352.M1P2.host:2,S"); a copy without -p keeps it, not the mtime.
_DELIVERY_TIME = re.compile(r"^(\d{9,10})(?:\.|$)")


def delivery_time(key: str, mtime: float | None) -> datetime | None:
    """When the message with this Maildir key arrived: the time its name starts with, else the file's mtime."""
    match = _DELIVERY_TIME.match(key)
    if match is not None:
        delivered = utc_or_none(float(match.group(1)))
        if delivered is not None:
            return delivered
    return utc_or_none(mtime)


def _directory_times(box: mailbox.Maildir) -> list[int] | None:
    """The modification times of the folder's cur/ and new/ in nanoseconds, or None if one cannot be read."""
    try:
        return [os.stat(os.path.join(box._path, sub)).st_mtime_ns for sub in ("cur", "new")]  # noqa: SLF001
    except OSError:
        return None


def _settled(dirs: list[int], read_at: float) -> bool:
    """True if every time was at least `SETTLED_SECONDS` in the past at `read_at` (and none in the future)."""
    return read_at - max(dirs) / 1e9 >= SETTLED_SECONDS


class MaildirSource:
    """A `kept.mailboxes.base.MailSource` for one `MaildirAccount`."""

    def __init__(self, account: MaildirAccount) -> None:
        self.account = account.name
        self._config = account
        self._boxes: dict[str, mailbox.Maildir] = {}
        # folder name -> {key: file path relative to the folder}, from the last listing
        self._listed: dict[str, dict[str, str]] = {}
        # folder name -> (sub-directory, role), in the order folders() lists them
        self._layout: dict[str, tuple[str, str]] = {}
        configured = [(account.inbox, "received"), (account.sent, "sent")]
        configured += [(subdir, "received") for subdir in account.received_folders]
        for subdir, role in configured:
            self._layout.setdefault(subdir or TOP_FOLDER_NAME, (subdir, role))

    def __enter__(self) -> MaildirSource:
        if not Path(self._config.path).is_dir():
            raise SourceError(
                f"{self.account}: Maildir {str(self._config.path)!r} does not exist or is not a folder"
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._boxes.clear()
        self._listed.clear()

    def folders(self) -> list[Folder]:
        """The inbox, the sent folder and the extra received folders.

        Raises SourceError naming the folder when a configured one is missing.
        """
        result = []
        for name, (subdir, role) in self._layout.items():
            self._open_box(name, subdir)
            result.append(Folder(name, role))  # type: ignore[arg-type]
        return result

    def pending(self, folder: Folder, cursor: Cursor | None) -> int:
        """How many messages `fetch` would return for this cursor."""
        box = self._box(folder)
        if self._unchanged(cursor, _directory_times(box), time.time()):
            return 0
        seen, _reset = self._seen_keys(folder, box, cursor)
        return sum(1 for key in self._keys(folder, box) if key not in seen)

    def fetch(
        self, folder: Folder, cursor: Cursor | None, batch_size: int = 200
    ) -> Iterator[Batch]:
        """Yield messages whose keys the cursor has not seen, oldest file first."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        box = self._box(folder)
        # Taken before the listing: a file added during it changes the time again.
        read_at = time.time()
        dirs = _directory_times(box)
        if self._unchanged(cursor, dirs, read_at):
            return
        keys = self._keys(folder, box)
        seen, reset = self._seen_keys(folder, box, cursor, keys)
        # Forget keys whose files are gone so the cursor stays the size of
        # the folder; Maildir keys are never reused, so nothing is lost.
        present = set(keys)
        handed_out = {key for key in seen if key in present}
        new = [(self._mtime(folder, box, key), key) for key in keys if key not in seen]
        new.sort(key=lambda pair: (pair[0] is None, pair[0] or 0.0, pair[1]))
        # Only the cursor of the batch that hands out the last new message
        # may say the folder was read as it is now (a pass stopped earlier
        # must list it again).
        settled: dict[str, object] = (
            {"dirs": dirs, "listed_at": read_at} if dirs is not None and _settled(dirs, read_at) else {}
        )
        if not new:
            # The folder was listed: what there is to vouch for goes in the cursor.
            if reset or settled:
                yield Batch(folder, (), {"seen": sorted(handed_out), **settled}, reset=reset)
            return
        for start in range(0, len(new), batch_size):
            messages = []
            for mtime, key in new[start : start + batch_size]:
                handed_out.add(key)
                message = self._read(folder, box, key, mtime)
                if message is not None:
                    messages.append(message)
            last = start + batch_size >= len(new)
            yield Batch(folder, tuple(messages), {"seen": sorted(handed_out), **(settled if last else {})}, reset=reset)

    @staticmethod
    def _unchanged(cursor: Cursor | None, dirs: list[int] | None, now: float) -> bool:
        """True if the cursor's folder times (module docstring) show nothing added, removed or renamed since.

        `dirs` are the folder's times now; a listing older than `RELIST_SECONDS` vouches for nothing.
        """
        if cursor is None or dirs is None or not isinstance(cursor.get("seen"), list):
            return False
        listed_at = cursor.get("listed_at")
        if not isinstance(listed_at, (int, float)) or not 0 <= now - listed_at < RELIST_SECONDS:
            return False
        return cursor.get("dirs") == dirs

    def _open_box(self, name: str, subdir: str) -> mailbox.Maildir:
        path = Path(self._config.path) / subdir if subdir else Path(self._config.path)
        if not all((path / part).is_dir() for part in ("cur", "new")):
            raise SourceError(
                f"{self.account}: Maildir folder {subdir or TOP_FOLDER_NAME!r} not found "
                f"(no cur/ and new/ in {str(path)!r}); check the account's inbox, sent "
                "and received_folders settings"
            )
        # create=False: reading must never make directories; factory=None:
        # we only read raw bytes, parsing happens later.
        box = mailbox.Maildir(str(path), factory=None, create=False)
        self._boxes[name] = box
        return box

    def _box(self, folder: Folder) -> mailbox.Maildir:
        box = self._boxes.get(folder.name)
        if box is None:
            if folder.name not in self._layout:
                raise SourceError(f"{self.account}: {folder.name!r} is not one of this account's folders")
            box = self._open_box(folder.name, self._layout[folder.name][0])
        return box

    def _keys(self, folder: Folder, box: mailbox.Maildir) -> list[str]:
        """The keys of the folder's messages, listed without a system call per file.

        `mailbox.Maildir.keys` stats every file twice (is it a folder? is
        it still there?): 400,000 calls for a pass over a 200,000-message
        folder that finds nothing new. The directory entry's type answers
        the first; a file that goes away before it is read is looked up
        again, or skipped, when it is read (`_path_of`, `_read`).
        """
        listed: dict[str, str] = {}
        try:
            for subdir in ("cur", "new"):  # the order mailbox.Maildir lists them in
                # A plain concatenation: os.path.join per file costs as much as the listing.
                prefix = subdir + os.sep
                with os.scandir(os.path.join(box._path, subdir)) as entries:  # noqa: SLF001
                    for entry in entries:
                        # Dot files are a file system's or a client's own (.DS_Store, .nfs1234).
                        if entry.name.startswith(".") or entry.is_dir():
                            continue
                        listed[entry.name.split(box.colon)[0]] = prefix + entry.name
        except OSError as error:
            raise SourceError(f"{self.account}: cannot list {folder.name!r}: {error}") from error
        self._listed[folder.name] = listed
        return list(listed)

    def _seen_keys(
        self,
        folder: Folder,
        box: mailbox.Maildir,
        cursor: Cursor | None,
        keys: list[str] | None = None,
    ) -> tuple[set[str], bool]:
        """The keys the cursor says were handed out, and whether it had to be dropped.

        A cursor is dropped when it is not one of ours, or when none of its
        keys exist any more while the folder holds mail: the folder was
        replaced wholesale (a sync tool started over), the Maildir form of an
        IMAP UIDVALIDITY change.
        """
        if cursor is None:
            return set(), False
        seen = cursor.get("seen")
        if not isinstance(seen, list) or not all(isinstance(key, str) for key in seen):
            logger.warning("%s: unreadable cursor for %s, reading the folder again", self.account, folder.name)
            return set(), True
        if keys is None:
            keys = self._keys(folder, box)
        seen_set = set(seen)
        if seen_set and keys and seen_set.isdisjoint(keys):
            logger.info("%s: folder %s was replaced, reading it again", self.account, folder.name)
            return set(), True
        return seen_set, False

    def _mtime(self, folder: Folder, box: mailbox.Maildir, key: str) -> float | None:
        try:
            return os.stat(self._path_of(folder, box, key)).st_mtime
        except (KeyError, OSError):
            return None

    def _path_of(self, folder: Folder, box: mailbox.Maildir, key: str) -> str:
        """The file of the message with this key: where the last listing saw it, if it is still there.

        :raises KeyError: if no file of the folder has this key any more.
        """
        relative = self._listed.get(folder.name, {}).get(key)
        if relative is not None:
            path = os.path.join(box._path, relative)  # noqa: SLF001
            if os.path.exists(path):
                return path
        # A sync tool renamed it since (a flag changed, new/ -> cur/):
        # mailbox.Maildir's own lookup lists the folder again. It has no
        # public key -> path lookup, and typeshed leaves this private one out.
        return os.path.join(box._path, box._lookup(key))  # type: ignore[attr-defined]  # noqa: SLF001

    def _read(
        self, folder: Folder, box: mailbox.Maildir, key: str, mtime: float | None
    ) -> RawMessage | None:
        """The message's exact bytes, or None if its file vanished or cannot be read."""
        try:
            with open(self._path_of(folder, box, key), "rb") as handle:
                data = handle.read()
        except (KeyError, OSError) as error:
            # A sync tool may delete or rename a file between listing and
            # reading; one unreadable file must not stop the scan.
            logger.warning("%s: skipping %s/%s: %s", self.account, folder.name, key, error)
            return None
        return RawMessage(uid=key, data=data, internal_date=delivery_time(key, mtime))

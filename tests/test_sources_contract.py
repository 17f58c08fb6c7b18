"""The contract every mail source keeps, run against each implementation.

`SourceContract` holds the tests; each subclass supplies two fixtures:

``make_source``
    a callable returning a new, unopened `MailSource` for the account.
``mail``
    a `MailSetup`: puts messages into the account's inbox or sent folder and
    invalidates a folder's numbering (IMAP UIDVALIDITY change or its
    equivalent), from outside the source under test.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from kept.errors import SourceError
from kept.mailboxes.base import Batch, Folder, MailSource
from kept.mailboxes.factory import source_for
from kept.mailboxes.maildir import MaildirSource
from kept.mailboxes.memory import MemorySource
from kept.settings import MaildirAccount


def make_message(number: int, role: str = "received") -> bytes:
    """A small, distinct message with CRLF line ends and one 8-bit byte."""
    return (
        f"From: {'me' if role == 'sent' else 'them'}@example.org\r\n"
        f"To: {'them' if role == 'sent' else 'me'}@example.org\r\n"
        f"Subject: message {number}\r\n"
        f"Message-ID: <m{number}.{role}@example.org>\r\n"
        "Content-Type: text/plain; charset=latin-1\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"Body of message {number}, caf\xe9.\r\n"
    ).encode("latin-1")


class MailSetup:
    """How a contract test changes an account's mail behind the source's back."""

    folder_names: dict[str, str]

    def add(self, role: str, data: bytes) -> None:
        raise NotImplementedError

    def renumber(self, role: str) -> None:
        raise NotImplementedError


def folder_of(source: MailSource, role: str) -> Folder:
    (folder,) = [f for f in source.folders() if f.role == role][:1]
    return folder


def read_all(source: MailSource, folder: Folder, cursor, batch_size: int = 200) -> list[Batch]:
    return list(source.fetch(folder, cursor, batch_size=batch_size))


def data_of(batches: list[Batch]) -> list[bytes]:
    return [message.data for batch in batches for message in batch.messages]


class SourceContract:
    """Tests every `MailSource` passes. Subclasses provide `make_source` and `mail`."""

    def test_is_a_mail_source(self, make_source: Callable[[], MailSource]) -> None:
        source = make_source()
        assert isinstance(source, MailSource)
        assert isinstance(source.account, str) and source.account

    def test_folders_and_roles(self, make_source, mail: MailSetup) -> None:
        with make_source() as source:
            folders = source.folders()
        roles = {folder.role for folder in folders}
        assert roles == {"sent", "received"}
        assert Folder(mail.folder_names["received"], "received") in folders
        assert Folder(mail.folder_names["sent"], "sent") in folders
        assert len(set(folders)) == len(folders)

    def test_empty_folder_yields_nothing(self, make_source) -> None:
        with make_source() as source:
            folder = folder_of(source, "sent")
            assert source.pending(folder, None) == 0
            assert data_of(read_all(source, folder, None)) == []

    def test_fetches_every_message_with_exact_bytes(self, make_source, mail: MailSetup) -> None:
        received = [make_message(n) for n in range(3)]
        sent = [make_message(n, "sent") for n in range(2)]
        for data in received:
            mail.add("received", data)
        for data in sent:
            mail.add("sent", data)
        with make_source() as source:
            assert data_of(read_all(source, folder_of(source, "received"), None)) == received
            assert data_of(read_all(source, folder_of(source, "sent"), None)) == sent
            for batch in read_all(source, folder_of(source, "received"), None):
                assert not batch.reset
                assert len({m.uid for m in batch.messages}) == len(batch.messages)
                for message in batch.messages:
                    assert message.internal_date is None or message.internal_date.tzinfo is not None

    def test_batch_size_is_respected(self, make_source, mail: MailSetup) -> None:
        messages = [make_message(n) for n in range(5)]
        for data in messages:
            mail.add("received", data)
        with make_source() as source:
            folder = folder_of(source, "received")
            batches = read_all(source, folder, None, batch_size=2)
            assert [len(batch.messages) for batch in batches] == [2, 2, 1]
            assert data_of(batches) == messages
            assert all(batch.folder == folder for batch in batches)
            # A scan that stopped after the first batch resumes where it stopped.
            rest = read_all(source, folder, batches[0].cursor, batch_size=2)
            assert data_of(rest) == messages[2:]

    def test_incremental_fetch_across_sessions(self, make_source, mail: MailSetup) -> None:
        for n in range(3):
            mail.add("received", make_message(n))
        with make_source() as source:
            folder = folder_of(source, "received")
            cursor = read_all(source, folder, None)[-1].cursor
        # The scanner stores cursors as JSON; they must survive that.
        cursor = json.loads(json.dumps(cursor))
        with make_source() as source:
            assert source.pending(folder, cursor) == 0
            assert read_all(source, folder, cursor) == []
        new = [make_message(10), make_message(11)]
        for data in new:
            mail.add("received", data)
        with make_source() as source:
            assert source.pending(folder, cursor) == 2
            batches = read_all(source, folder, cursor)
            assert data_of(batches) == new
            assert not any(batch.reset for batch in batches)
            assert read_all(source, folder, batches[-1].cursor) == []

    def test_pending_counts(self, make_source, mail: MailSetup) -> None:
        for n in range(4):
            mail.add("sent", make_message(n, "sent"))
        with make_source() as source:
            folder = folder_of(source, "sent")
            assert source.pending(folder, None) == 4
            first = read_all(source, folder, None, batch_size=3)[0]
            assert source.pending(folder, first.cursor) == 1
            assert source.pending(folder_of(source, "received"), None) == 0

    def test_renumbered_folder_is_read_again_with_reset(self, make_source, mail: MailSetup) -> None:
        messages = [make_message(n) for n in range(3)]
        for data in messages:
            mail.add("received", data)
        with make_source() as source:
            folder = folder_of(source, "received")
            cursor = read_all(source, folder, None)[-1].cursor
        mail.renumber("received")
        with make_source() as source:
            assert source.pending(folder, cursor) == 3
            batches = read_all(source, folder, cursor, batch_size=2)
            assert batches and all(batch.reset for batch in batches)
            assert sorted(data_of(batches)) == sorted(messages)
            # The new cursor holds again.
            assert read_all(source, folder, batches[-1].cursor) == []

    def test_unusable_cursor_means_full_read(self, make_source, mail: MailSetup) -> None:
        mail.add("received", make_message(1))
        with make_source() as source:
            folder = folder_of(source, "received")
            batches = read_all(source, folder, {"something": "else"})
            assert data_of(batches) == [make_message(1)]
            assert all(batch.reset for batch in batches)


# -- memory ---------------------------------------------------------------


class MemorySetup(MailSetup):
    def __init__(self, source: MemorySource) -> None:
        self.source = source
        self.folder_names = {"received": "INBOX", "sent": "Sent"}

    def add(self, role: str, data: bytes) -> None:
        self.source.add(Folder(self.folder_names[role], role), data)  # type: ignore[arg-type]

    def renumber(self, role: str) -> None:
        self.source.reset_uidvalidity(Folder(self.folder_names[role], role))  # type: ignore[arg-type]


class TestMemorySource(SourceContract):
    @pytest.fixture
    def memory(self) -> MemorySource:
        return MemorySource("memory")

    @pytest.fixture
    def make_source(self, memory: MemorySource):
        return lambda: memory

    @pytest.fixture
    def mail(self, memory: MemorySource) -> MailSetup:
        return MemorySetup(memory)

    def test_outside_with_block_is_an_error(self, memory: MemorySource) -> None:
        with pytest.raises(SourceError):
            memory.folders()

    def test_fail_on_enter(self, memory: MemorySource) -> None:
        memory.fail_on_enter = SourceError("server down")
        with pytest.raises(SourceError, match="server down"):
            memory.__enter__()
        with memory:
            assert memory.folders()


# -- Maildir --------------------------------------------------------------


class MaildirSetup(MailSetup):
    """Writes message files the way a sync tool does, directly into new/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder_names = {"received": "INBOX", "sent": ".Sent"}
        self.subdirs = {"received": root, "sent": root / ".Sent"}
        self._serial = 0
        # Start in the past so every file gets a distinct, increasing mtime.
        self._clock = time.time() - 10_000

    def add(self, role: str, data: bytes) -> None:
        self._serial += 1
        name = f"{int(self._clock)}.M{self._serial}P{os.getpid()}.kepttest"
        # Alternate new/ and cur/ (with flags) as a real Maildir has both.
        if self._serial % 2:
            path = self.subdirs[role] / "new" / name
        else:
            path = self.subdirs[role] / "cur" / f"{name}:2,S"
        path.write_bytes(data)
        self._clock += 10
        os.utime(path, (self._clock, self._clock))

    def renumber(self, role: str) -> None:
        # A sync tool starting over downloads everything under new names.
        for sub in ("new", "cur"):
            for path in sorted((self.subdirs[role] / sub).iterdir()):
                stat = path.stat()
                renamed = path.with_name("resync-" + path.name)
                path.rename(renamed)
                os.utime(renamed, (stat.st_atime, stat.st_mtime))


def make_maildir(root: Path) -> None:
    for folder in (root, root / ".Sent"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)


class TestMaildirSource(SourceContract):
    @pytest.fixture
    def account(self, tmp_path: Path) -> MaildirAccount:
        make_maildir(tmp_path / "Maildir")
        return MaildirAccount(name="local", path=tmp_path / "Maildir")

    @pytest.fixture
    def make_source(self, account: MaildirAccount):
        return lambda: source_for(account)

    @pytest.fixture
    def mail(self, account: MaildirAccount) -> MailSetup:
        return MaildirSetup(account.path)

    def test_factory_picks_maildir(self, account: MaildirAccount) -> None:
        assert isinstance(source_for(account), MaildirSource)

    def test_reading_changes_nothing_on_disk(self, account: MaildirAccount, mail: MaildirSetup) -> None:
        for n in range(4):
            mail.add("received", make_message(n))

        def snapshot() -> dict[str, tuple[int, float]]:
            return {
                str(path.relative_to(account.path)): (path.stat().st_size, path.stat().st_mtime)
                for path in sorted(account.path.rglob("*"))
            }

        before = snapshot()
        with MaildirSource(account) as source:
            for folder in source.folders():
                read_all(source, folder, None, batch_size=1)
        assert snapshot() == before
        assert any(name.startswith("new/") for name in before)

    def test_missing_folder_is_a_source_error(self, account: MaildirAccount) -> None:
        broken = MaildirAccount(name="local", path=account.path, received_folders=(".Archive",))
        with MaildirSource(broken) as source, pytest.raises(SourceError, match=r"\.Archive"):
            source.folders()

    def test_missing_maildir_is_a_source_error(self, tmp_path: Path) -> None:
        account = MaildirAccount(name="gone", path=tmp_path / "nowhere")
        with pytest.raises(SourceError, match="nowhere"):
            MaildirSource(account).__enter__()
        assert not (tmp_path / "nowhere").exists()

    def test_new_mail_with_an_old_file_time_is_found(
        self, account: MaildirAccount, mail: MaildirSetup
    ) -> None:
        mail.add("received", make_message(1))
        with MaildirSource(account) as source:
            folder = folder_of(source, "received")
            cursor = read_all(source, folder, None)[-1].cursor
        late = account.path / "cur" / "100.M1P1.synced-late:2,"
        late.write_bytes(make_message(2))
        os.utime(late, (100, 100))
        with MaildirSource(account) as source:
            batches = read_all(source, folder, cursor)
        assert data_of(batches) == [make_message(2)]
        assert batches[0].messages[0].internal_date == datetime.fromtimestamp(100, tz=timezone.utc)

    def test_internal_date_is_the_delivery_time_in_the_name(self, account: MaildirAccount) -> None:
        # A copy without -p gives every file today's time; the name keeps when it was delivered.
        (account.path / "cur" / "1000228352.M1P1.host:2,S").write_bytes(make_message(1))
        (account.path / "cur" / "sync-tool-name:2,S").write_bytes(make_message(2))
        os.utime(account.path / "cur" / "sync-tool-name:2,S", (1_000_000_000, 1_000_000_000))
        with MaildirSource(account) as source:
            messages = [m for b in read_all(source, folder_of(source, "received"), None) for m in b.messages]
        dates = {m.uid: m.internal_date for m in messages}
        assert dates == {"1000228352.M1P1.host": datetime.fromtimestamp(1000228352, tz=timezone.utc),
                         "sync-tool-name": datetime.fromtimestamp(1_000_000_000, tz=timezone.utc)}

    def test_flag_change_by_another_client_is_not_new_mail(
        self, account: MaildirAccount, mail: MaildirSetup
    ) -> None:
        mail.add("received", make_message(1))
        with MaildirSource(account) as source:
            folder = folder_of(source, "received")
            cursor = read_all(source, folder, None)[-1].cursor
        # A mail client reads it: new/KEY -> cur/KEY:2,S
        (path,) = (account.path / "new").iterdir()
        path.rename(account.path / "cur" / (path.name + ":2,S"))
        with MaildirSource(account) as source:
            assert read_all(source, folder, cursor) == []

    @staticmethod
    def _read_while(
        account: MaildirAccount, mail: MaildirSetup, change: Callable[[Batch], None]
    ) -> tuple[Batch, list[Batch]]:
        """Two messages read one per batch, with `change` done to the folder between the first and the rest."""
        mail.add("received", make_message(1))
        mail.add("received", make_message(2))
        with MaildirSource(account) as source:
            batches = source.fetch(folder_of(source, "received"), None, batch_size=1)
            first = next(batches)
            change(first)
            return first, list(batches)

    def test_file_renamed_after_listing_is_still_read(
        self, account: MaildirAccount, mail: MaildirSetup
    ) -> None:
        # Another client reads the message (new/ -> cur/ with a flag) after
        # kept listed the folder and before it opened the file.
        def rename(_first: Batch) -> None:
            unread = list((account.path / "new").iterdir())
            flagged = list((account.path / "cur").iterdir())
            for path in unread:
                path.rename(account.path / "cur" / (path.name + ":2,S"))
            for path in flagged:
                path.rename(path.with_name(path.name.replace(":2,S", ":2,RS")))

        first, rest = self._read_while(account, mail, rename)
        assert sorted(data_of([first, *rest])) == sorted([make_message(1), make_message(2)])

    def test_dot_files_are_not_messages(self, account: MaildirAccount, mail: MaildirSetup) -> None:
        mail.add("received", make_message(1))
        (account.path / "cur" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
        (account.path / "new" / ".nfs000000001").write_bytes(make_message(2))
        with MaildirSource(account) as source:
            assert data_of(read_all(source, folder_of(source, "received"), None)) == [make_message(1)]

    def test_file_deleted_after_listing_is_skipped(
        self, account: MaildirAccount, mail: MaildirSetup, caplog: pytest.LogCaptureFixture
    ) -> None:
        def delete_the_rest(first: Batch) -> None:
            for sub in ("new", "cur"):
                for path in list((account.path / sub).iterdir()):
                    if path.read_bytes() not in data_of([first]):
                        path.unlink()

        first, rest = self._read_while(account, mail, delete_the_rest)
        assert data_of([first, *rest]) == data_of([first])
        assert "skipping" in caplog.text

    @staticmethod
    def _settle(account: MaildirAccount, seconds: float = 100) -> None:
        """Date the inbox's cur/ and new/ `seconds` back, as if nothing had changed in them since."""
        then = time.time() - seconds
        for sub in ("cur", "new"):
            os.utime(account.path / sub, (then, then))

    def test_a_folder_unchanged_since_it_was_read_is_not_listed(
        self, account: MaildirAccount, mail: MaildirSetup, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for n in range(3):
            mail.add("received", make_message(n))
        self._settle(account)
        with MaildirSource(account) as source:
            folder = folder_of(source, "received")
            batches = read_all(source, folder, None, batch_size=2)
        # Only the batch that hands out the last message vouches for the folder.
        assert "dirs" not in batches[0].cursor and "dirs" in batches[-1].cursor
        cursor = json.loads(json.dumps(batches[-1].cursor))

        listings = []
        real_scandir = os.scandir
        monkeypatch.setattr(os, "scandir", lambda path: listings.append(path) or real_scandir(path))
        with MaildirSource(account) as source:
            assert source.pending(folder, cursor) == 0
            assert read_all(source, folder, cursor) == []
        assert listings == []

        # A delivery changes new/'s time: the folder is listed and the message found.
        mail.add("received", make_message(7))
        with MaildirSource(account) as source:
            assert data_of(read_all(source, folder, cursor)) == [make_message(7)]
        assert listings

    def test_a_pass_stopped_early_lists_the_folder_again(self, account: MaildirAccount, mail: MaildirSetup) -> None:
        for n in range(3):
            mail.add("received", make_message(n))
        self._settle(account)
        with MaildirSource(account) as source:
            folder = folder_of(source, "received")
            first = next(iter(source.fetch(folder, None, batch_size=1)))
            rest = read_all(source, folder, first.cursor)
        assert data_of([first, *rest]) == [make_message(n) for n in range(3)]

    def test_a_folder_time_of_the_last_seconds_is_not_trusted(
        self, account: MaildirAccount, mail: MaildirSetup
    ) -> None:
        mail.add("received", make_message(1))  # new/ changed just now
        with MaildirSource(account) as source:
            folder = folder_of(source, "received")
            cursor = read_all(source, folder, None)[-1].cursor
            assert "dirs" not in cursor
            assert read_all(source, folder, cursor) == []
        # Once it has settled, a pass with nothing new records it in a batch of no messages.
        self._settle(account)
        with MaildirSource(account) as source:
            (batch,) = read_all(source, folder, cursor)
            assert batch.messages == () and batch.cursor["seen"] == cursor["seen"] and "dirs" in batch.cursor
            assert not batch.reset
            assert read_all(source, folder, batch.cursor) == []

    def test_a_file_added_in_the_same_tick_during_a_slow_listing_is_not_missed(
        self, account: MaildirAccount, mail: MaildirSetup, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A file system that keeps whole seconds: cur/ changed one second
        # before the pass began, and a file delivered while new/ is listed
        # (three seconds later by the clock) leaves cur/'s time as it was.
        from kept.mailboxes import maildir

        mail.add("received", make_message(1))
        tick = int(time.time()) - 1
        for sub in ("cur", "new"):
            os.utime(account.path / sub, (tick, tick))
        clock = [time.time()]
        monkeypatch.setattr(maildir.time, "time", lambda: clock[0])
        real_scandir = os.scandir

        def scandir(path):
            if str(path).endswith("new") and clock[0] < tick + 3:
                (account.path / "cur" / "late.M2.host:2,S").write_bytes(make_message(2))
                os.utime(account.path / "cur", (tick, tick))
                clock[0] += 3
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
        with MaildirSource(account) as source:
            folder = folder_of(source, "received")
            batches = read_all(source, folder, None)
            assert "dirs" not in batches[-1].cursor
            later = read_all(source, folder, batches[-1].cursor)
        assert sorted(data_of(batches + later)) == sorted([make_message(1), make_message(2)])

    def test_a_folder_is_listed_again_after_an_hour_whatever_its_times(
        self, account: MaildirAccount, mail: MaildirSetup, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A file server whose clock lags ours can make a fresh time look settled.
        from kept.mailboxes import maildir

        mail.add("received", make_message(1))
        self._settle(account)
        with MaildirSource(account) as source:
            folder = folder_of(source, "received")
            cursor = read_all(source, folder, None)[-1].cursor
        assert "dirs" in cursor
        listed_at = cursor["listed_at"]
        monkeypatch.setattr(maildir.time, "time", lambda: listed_at + maildir.RELIST_SECONDS + 1)
        with MaildirSource(account) as source:
            (batch,) = read_all(source, folder, cursor)
        assert batch.messages == () and batch.cursor["listed_at"] == listed_at + maildir.RELIST_SECONDS + 1

    def test_deleted_messages_leave_the_cursor(self, account: MaildirAccount, mail: MaildirSetup) -> None:
        for n in range(3):
            mail.add("received", make_message(n))
        (account.path / "new").joinpath(next((account.path / "new").iterdir()).name).unlink()
        mail.add("received", make_message(9))
        with MaildirSource(account) as source:
            folder = folder_of(source, "received")
            cursor = read_all(source, folder, None)[-1].cursor
        assert len(cursor["seen"]) == 3
        assert cursor["seen"] == sorted(cursor["seen"])


# -- IMAP against Dovecot ---------------------------------------------------


class ImapSetup(MailSetup):
    def __init__(self, server, user) -> None:
        self.server = server
        self.user = user
        self.folder_names = {"received": "INBOX", "sent": "Sent"}
        server.create_folder(user, "Sent")

    def add(self, role: str, data: bytes) -> None:
        self.server.append(self.user, self.folder_names[role], data)

    def renumber(self, role: str) -> None:
        self.server.change_uidvalidity(self.user, self.folder_names[role])


@pytest.mark.dovecot
class TestImapSource(SourceContract):
    @pytest.fixture
    def mail(self, dovecot_server, dovecot_user) -> MailSetup:
        return ImapSetup(dovecot_server, dovecot_user)

    @pytest.fixture
    def make_source(self, dovecot_server, dovecot_user, mail):
        account = dovecot_server.account(dovecot_user)
        return lambda: source_for(account)


# -- Exchange (EWS) against the local fake server ------------------------------


class ExchangeSetup(MailSetup):
    """Delivers into the fake EWS mailbox; 'renumber' makes the server forget sync states."""

    distinguished = {"received": "inbox", "sent": "sentitems"}

    def __init__(self, server) -> None:
        self.server = server
        self.folder_names = {"received": "Inbox", "sent": "Sent Items"}

    def add(self, role: str, data: bytes) -> None:
        self.server.add(self.distinguished[role], data)

    def renumber(self, role: str) -> None:
        self.server.invalidate_sync_state(self.distinguished[role])


class TestExchangeSource(SourceContract):
    @pytest.fixture
    def ews_server(self):
        from ews_server import EwsServer

        server = EwsServer().start()
        yield server
        server.stop()

    @pytest.fixture
    def mail(self, ews_server) -> MailSetup:
        return ExchangeSetup(ews_server)

    @pytest.fixture
    def make_source(self, ews_server, monkeypatch):
        from kept.settings import ExchangeAccount

        monkeypatch.setenv("KEPT_TEST_EWS_PASSWORD", ews_server.password)
        account = ExchangeAccount(
            name="exchange",
            email=ews_server.email,
            username=ews_server.username,
            auth="basic",
            service_endpoint=ews_server.url,
            password_env="KEPT_TEST_EWS_PASSWORD",
            timeout=10.0,
        )
        yield lambda: source_for(account)
        # Whatever the contract test did, it never asked the server to change anything.
        assert ews_server.refused == []

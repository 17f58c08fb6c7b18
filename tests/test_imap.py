"""IMAP-only behaviour against a real Dovecot, and where passwords come from.

The contract every source keeps is in test_sources_contract.py; this module
covers what only IMAP has: the read-only guarantee on a real server, finding
the sent folder, TLS, login and network failures.
"""

from __future__ import annotations

import logging
import socket
import sys
from datetime import datetime, timedelta, timezone

import pytest

from kept.errors import AuthenticationError, SourceError, UserError
from kept.mailboxes.base import Folder
import kept.mailboxes.imap as imap_module
from kept.mailboxes.factory import source_for
from kept.mailboxes.imap import ImapSource
from kept.secrets import password_for
from kept.settings import ImapAccount
from test_sources_contract import make_message

FLAG_SETS = [(b"\\Seen",), (b"\\Flagged",), (b"\\Answered",), (), (b"\\Seen", b"\\Flagged", b"$Label1")]


def fetch_everything(source: ImapSource, batch_size: int = 2) -> dict[str, list[bytes]]:
    result: dict[str, list[bytes]] = {}
    for folder in source.folders():
        for batch in source.fetch(folder, None, batch_size=batch_size):
            result.setdefault(folder.name, []).extend(m.data for m in batch.messages)
    return result


@pytest.mark.dovecot
def record_searches(source: ImapSource, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The criteria of every SEARCH `source` sends from now on, in order (the searches still run)."""
    searched: list[list[str]] = []
    client = source._require_client()
    real_search = client.search
    monkeypatch.setattr(client, "search", lambda criteria: searched.append(criteria) or real_search(criteria))
    return searched


class TestAgainstDovecot:
    def test_reading_never_changes_flags(self, dovecot_server, dovecot_user) -> None:
        dovecot_server.create_folder(dovecot_user, "Sent")
        for folder in ("INBOX", "Sent"):
            for number, flags in enumerate(FLAG_SETS):
                dovecot_server.append(dovecot_user, folder, make_message(number), flags=flags)
        before = {folder: dovecot_server.flags(dovecot_user, folder) for folder in ("INBOX", "Sent")}
        # The test is only worth something if unread mail is among it.
        assert any(b"\\Seen" not in flags for flags in before["INBOX"].values())

        account = dovecot_server.account(dovecot_user)
        with source_for(account) as source:
            fetched = fetch_everything(source)
            for folder in source.folders():
                source.pending(folder, None)
        after = {folder: dovecot_server.flags(dovecot_user, folder) for folder in ("INBOX", "Sent")}

        assert fetched == {"INBOX": [make_message(n) for n in range(len(FLAG_SETS))],
                           "Sent": [make_message(n) for n in range(len(FLAG_SETS))]}
        assert after == before

    def test_internal_date_is_the_servers(self, dovecot_server, dovecot_user) -> None:
        when = datetime(2001, 5, 14, 16, 39, tzinfo=timezone(timedelta(hours=-7)))
        dovecot_server.append(dovecot_user, "INBOX", make_message(1), internal_date=when)
        dovecot_server.create_folder(dovecot_user, "Sent")
        with source_for(dovecot_server.account(dovecot_user)) as source:
            (batch,) = source.fetch(source.folders()[0], None)
        assert batch.messages[0].internal_date == when
        assert batch.messages[0].internal_date.utcoffset() == timedelta(0)

    def test_sent_folder_found_by_special_use(self, dovecot_server, dovecot_user) -> None:
        # "Gesendet" carries \Sent in the server config; "Sent Items" is only a name.
        dovecot_server.create_folder(dovecot_user, "Sent Items")
        dovecot_server.create_folder(dovecot_user, "Gesendet")
        with source_for(dovecot_server.account(dovecot_user)) as source:
            roles = {folder.name: folder.role for folder in source.folders()}
        assert roles == {"INBOX": "received", "Gesendet": "sent"}

    def test_sent_folder_found_by_name(self, dovecot_server, dovecot_user) -> None:
        dovecot_server.create_folder(dovecot_user, "Archive")
        dovecot_server.create_folder(dovecot_user, "sent items")
        account = dovecot_server.account(dovecot_user, received_folders=("Archive",))
        with source_for(account) as source:
            folders = source.folders()
        assert [(f.name, f.role) for f in folders] == [
            ("INBOX", "received"),
            ("Archive", "received"),
            ("sent items", "sent"),
        ]

    def test_configured_sent_folder_wins(self, dovecot_server, dovecot_user) -> None:
        dovecot_server.create_folder(dovecot_user, "Sent")
        dovecot_server.create_folder(dovecot_user, "Outbox/Done")
        account = dovecot_server.account(dovecot_user, sent_folder="Outbox/Done")
        with source_for(account) as source:
            assert [f.name for f in source.folders() if f.role == "sent"] == ["Outbox/Done"]

    def test_no_sent_folder_asks_the_user_to_name_it(self, dovecot_server, dovecot_user) -> None:
        with source_for(dovecot_server.account(dovecot_user)) as source:
            with pytest.raises(UserError, match="sent folder") as caught:
                source.folders()
        assert "sent_folder" in str(caught.value)

    def test_missing_configured_folder_is_a_source_error(self, dovecot_server, dovecot_user) -> None:
        dovecot_server.create_folder(dovecot_user, "Sent")
        account = dovecot_server.account(dovecot_user, received_folders=("Nope",))
        with source_for(account) as source, pytest.raises(SourceError, match="'Nope' does not exist"):
            source.folders()

    def test_wrong_password(self, dovecot_server, dovecot_user, caplog) -> None:
        account = dovecot_server.account(dovecot_user)
        caplog.set_level(logging.DEBUG)
        with pytest.raises(AuthenticationError) as caught:
            ImapSource(account, lambda: "wrong-password-123").__enter__()
        message = str(caught.value)
        assert dovecot_user.name in message and account.name in message
        assert "password_command" in message
        assert "wrong-password-123" not in message
        assert "wrong-password-123" not in caplog.text

    def test_password_never_logged(self, dovecot_server, dovecot_user, caplog) -> None:
        caplog.set_level(logging.DEBUG)
        dovecot_server.create_folder(dovecot_user, "Sent")
        dovecot_server.append(dovecot_user, "INBOX", make_message(1))
        # The pool's passwords are non-ASCII, so this logs in with SASL PLAIN.
        with source_for(dovecot_server.account(dovecot_user)) as source:
            fetch_everything(source)
        # The protocol trace was logged, just not the secret.
        assert "EXAMINE" in caplog.text or "examine" in caplog.text.lower()
        assert dovecot_user.password not in caplog.text

    def test_starttls_with_verification(self, dovecot_server, dovecot_user) -> None:
        dovecot_server.create_folder(dovecot_user, "Sent")
        dovecot_server.append(dovecot_user, "INBOX", make_message(7))
        account = dovecot_server.account(dovecot_user, security="starttls", port=dovecot_server.imap_port)
        assert account.verify_tls
        with source_for(account) as source:
            assert fetch_everything(source)["INBOX"] == [make_message(7)]

    def test_implicit_tls_by_host_name(self, dovecot_server, dovecot_user) -> None:
        dovecot_server.create_folder(dovecot_user, "Sent")
        account = dovecot_server.account(dovecot_user, host="localhost")
        with source_for(account) as source:
            assert {f.role for f in source.folders()} == {"sent", "received"}

    @pytest.mark.parametrize("security", ["tls", "starttls"])
    def test_untrusted_certificate_is_refused(self, dovecot_server, dovecot_user, security) -> None:
        port = dovecot_server.imaps_port if security == "tls" else dovecot_server.imap_port
        account = dovecot_server.account(dovecot_user, security=security, port=port, ca_file=None)
        with pytest.raises(SourceError, match="certificate"):
            source_for(account).__enter__()

    def test_verification_off_warns_and_connects(self, dovecot_server, dovecot_user, caplog) -> None:
        dovecot_server.create_folder(dovecot_user, "Sent")
        account = dovecot_server.account(dovecot_user, ca_file=None, verify_tls=False)
        for _ in range(2):
            with source_for(account) as source:
                source.folders()
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "verification" in r.getMessage()]
        assert len(warnings) == 2

    def test_cursor_survives_new_mail_on_server(self, dovecot_server, dovecot_user) -> None:
        # "UID N:*" returns the newest message even when its UID is below N.
        dovecot_server.create_folder(dovecot_user, "Sent")
        dovecot_server.append(dovecot_user, "INBOX", make_message(1))
        account = dovecot_server.account(dovecot_user)
        with source_for(account) as source:
            inbox = source.folders()[0]
            (batch,) = source.fetch(inbox, None)
            far_cursor = dict(batch.cursor, last_uid=batch.cursor["last_uid"] + 5)
            assert list(source.fetch(inbox, far_cursor)) == []
            assert source.pending(inbox, far_cursor) == 0


    def test_a_big_folder_is_searched_window_by_window(self, dovecot_server, dovecot_user, monkeypatch) -> None:
        """A folder too big for one UID SEARCH answer (imaplib's 1 MB line) is searched in windows, none lost."""
        monkeypatch.setattr(imap_module, "UID_SEARCH_WINDOW", 3)
        dovecot_server.create_folder(dovecot_user, "Sent")
        for number in range(10):
            dovecot_server.append(dovecot_user, "INBOX", make_message(number))
        account = dovecot_server.account(dovecot_user)
        with source_for(account) as source:
            searched = record_searches(source, monkeypatch)
            inbox = source.folders()[0]
            fetched = [m for batch in source.fetch(inbox, None, batch_size=4) for m in batch.messages]
            assert len(fetched) == 10 and len({m.uid for m in fetched}) == 10
            assert searched[:4] == [["1:3", "UID", "1:*"], ["4:6", "UID", "1:*"], ["7:9", "UID", "1:*"],
                                    ["10:*", "UID", "1:*"]]
            (batch,) = source.fetch(inbox, None, batch_size=100)
            searched.clear()
            dovecot_server.append(dovecot_user, "INBOX", make_message(10))
            (new,) = source.fetch(inbox, batch.cursor)
            assert [m.uid for m in new.messages] == ["11"]
            assert searched == [[f"{low}:{high}", "UID", "11:*"] for low, high in ((1, 3), (4, 6), (7, 9), (10, "*"))]

    def test_a_small_folder_is_one_search_however_high_its_uids(self, dovecot_server, dovecot_user, monkeypatch) -> None:
        """Windows follow the number of messages, not the UIDs: a few messages under high UIDs are one SEARCH."""
        monkeypatch.setattr(imap_module, "UID_SEARCH_WINDOW", 3)
        dovecot_server.create_folder(dovecot_user, "Sent")
        for number in range(8):
            dovecot_server.append(dovecot_user, "INBOX", make_message(number))
        with dovecot_server.client(dovecot_user) as client:  # two messages left, under UIDs 7 and 8
            client.select_folder("INBOX")
            client.delete_messages(client.search(["UID", "1:6"]))
            client.expunge()
        account = dovecot_server.account(dovecot_user)
        with source_for(account) as source:
            searched = record_searches(source, monkeypatch)
            inbox = source.folders()[0]
            (batch,) = source.fetch(inbox, None)
            assert len(batch.messages) == 2 and searched == [["UID", "1:*"]]


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_server_down_is_a_source_error(security) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connection refused
        account = ImapAccount(name="down", host="127.0.0.1", port=port, security=security,
                              username="u", timeout=2.0)
        with pytest.raises(SourceError, match="down: cannot connect"):
            ImapSource(account, lambda: "pw").__enter__()


def test_silent_server_times_out_as_source_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts, never greets
        account = ImapAccount(name="mute", host="127.0.0.1", port=listener.getsockname()[1],
                              username="u", timeout=0.5)
        with pytest.raises(SourceError):
            ImapSource(account, lambda: "pw").__enter__()


def test_an_internal_date_that_cannot_be_utc_is_none() -> None:
    # imapclient hands over "31-Dec-9999 23:59:59 -0100" as it is (normalise_times is off);
    # in UTC it is past the year 9999.
    from imapclient.datetime_util import parse_to_datetime

    source = ImapSource(ImapAccount(name="x", host="127.0.0.1", username="u"), lambda: "pw")
    far = parse_to_datetime(b"31-Dec-9999 23:59:59 -0100", normalise=False)
    fine = parse_to_datetime(b"14-May-2001 16:39:00 -0700", normalise=False)
    folder = Folder("INBOX", "received")
    assert source._raw_message(folder, 7, {b"BODY[]": b"x", b"INTERNALDATE": far}).internal_date is None
    assert source._raw_message(folder, 8, {b"BODY[]": b"x", b"INTERNALDATE": fine}).internal_date == datetime(
        2001, 5, 14, 23, 39, tzinfo=timezone.utc)


def test_unreadable_ca_file_is_a_user_error(tmp_path) -> None:
    account = ImapAccount(name="x", host="127.0.0.1", ca_file=tmp_path / "missing.pem", username="u")
    with pytest.raises(UserError, match="ca_file"):
        ImapSource(account, lambda: "pw").__enter__()


# -- passwords -------------------------------------------------------------


def imap_account(**fields) -> ImapAccount:
    return ImapAccount(name="work", host="imap.example.org", username="me", **fields)


def test_password_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("KEPT_PW_TEST", "hunter2")
    assert password_for(imap_account(password_env="KEPT_PW_TEST")) == "hunter2"


@pytest.mark.parametrize("value", [None, ""])
def test_password_env_unset_or_empty(monkeypatch, value) -> None:
    if value is None:
        monkeypatch.delenv("KEPT_PW_TEST", raising=False)
    else:
        monkeypatch.setenv("KEPT_PW_TEST", value)
    with pytest.raises(UserError, match="KEPT_PW_TEST") as caught:
        password_for(imap_account(password_env="KEPT_PW_TEST"))
    assert caught.value.hint


def test_password_command_first_line() -> None:
    account = imap_account(password_command="printf 'p4ss word\\nsecond line\\n'")
    assert password_for(account) == "p4ss word"


def test_password_command_failure_shows_stderr_not_stdout() -> None:
    account = imap_account(password_command="echo leaked-secret; echo 'gpg: decryption failed' >&2; exit 2")
    with pytest.raises(UserError) as caught:
        password_for(account)
    text = str(caught.value)
    assert "gpg: decryption failed" in text and "exit status 2" in text
    assert "leaked-secret" not in text
    assert caught.value.hint


def test_password_command_printing_nothing() -> None:
    with pytest.raises(UserError, match="no password"):
        password_for(imap_account(password_command="true"))


def test_password_command_timeout(monkeypatch) -> None:
    monkeypatch.setattr("kept.secrets.PASSWORD_COMMAND_TIMEOUT", 0.3)
    with pytest.raises(UserError, match="did not finish"):
        password_for(imap_account(password_command=f"{sys.executable} -c 'import time; time.sleep(5)'"))


def test_no_password_source() -> None:
    with pytest.raises(UserError, match="no password source"):
        password_for(imap_account())


def test_factory_picks_imap_and_defers_the_password(monkeypatch) -> None:
    monkeypatch.delenv("KEPT_PW_TEST", raising=False)
    # Building the source must not need the password yet.
    source = source_for(imap_account(password_env="KEPT_PW_TEST"))
    assert isinstance(source, ImapSource)
    assert source.account == "work"

"""Privacy: private files, no secrets or bodies in logs, TLS warnings, `kept forget` and `kept export`."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from dovecot import DovecotServer, MailUser, free_port
from kept import __version__
from kept.cli import main
from kept.models import ThreadMessage
from kept.storage.serialize import thread_document_in_full
from kept.storage.tinydb_store import TinyDBStore
from kept.terminal import terminal_json, terminal_json_stream

from tests.helpers import ME, raw_mail, utc

NOW = "2026-03-18T08:00:00+00:00"
KEPT = [sys.executable, "-m", "kept.cli"]
SMTP_TOKEN = "tok-3f9a1c7e-smtp-secret-\u00e9"
BODY_MARKER = "Zanzibar-quartz-7781"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- files ------------------------------------------------------------------


def test_init_writes_a_private_config_in_a_private_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    previous = os.umask(0o022)
    try:
        config = tmp_path / "home" / "kept" / "config.toml"
        assert main(["--config", str(config), "init"]) == 0
    finally:
        os.umask(previous)
    assert mode_of(config) == 0o600
    assert mode_of(config.parent) == 0o700


def test_wide_config_and_database_are_warned_about_at_every_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    maildir = tmp_path / "Maildir"
    for part in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"):
        (maildir / part).mkdir(parents=True)
    state = tmp_path / "state"
    config = write_maildir_config(tmp_path / "config.toml", maildir, state / "kept.json")
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
    assert mode_of(state) == 0o700 and mode_of(state / "kept.json") == 0o600
    assert mode_of(state / "kept.json.id") == 0o600
    config.chmod(0o644)
    (state / "kept.json").chmod(0o644)
    caplog.clear()
    for _ in range(2):
        assert main(["--config", str(config), "--now", NOW, "status"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum(f"{config} has permissions 0644" in w for w in warnings) == 2
    assert sum(f"{state / 'kept.json'} has permissions 0644" in w for w in warnings) == 2


def write_maildir_config(path: Path, maildir: Path, database: Path) -> Path:
    path.write_text(
        f'[kept]\naddresses = ["{ME}"]\ntimezone = "UTC"\ndatabase = "{database}"\n\n'
        f'[accounts.local]\ntype = "maildir"\npath = "{maildir}"\ninbox = ""\nsent = ".Sent"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


# -- a full run's logs ----------------------------------------------------------


@dataclass
class Inbox:
    """What the SMTP server received, and the credentials it saw."""

    messages: list[bytes] = field(default_factory=list)
    passwords: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            self.passwords.append(auth_data.password.decode())
            return AuthResult(success=auth_data.password.decode() == SMTP_TOKEN)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def smtp(dovecot_server: DovecotServer) -> Iterator[tuple[Controller, Inbox]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(dovecot_server.root / "cert.pem"), str(dovecot_server.root / "key.pem"))
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, authenticator=inbox.authenticate)
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def test_logs_of_a_full_run_hold_no_password_token_or_body(
    dovecot_server: DovecotServer, dovecot_user: MailUser, smtp: tuple[Controller, Inbox], tmp_path: Path
) -> None:
    controller, inbox = smtp
    dovecot_server.create_folder(dovecot_user, "Sent")
    dovecot_server.append(dovecot_user, "INBOX", raw_mail(
        "in1", sender="ann@example.org", date=utc(2026, 3, 16), subject="Question",
        body=f"Thanks for the {BODY_MARKER} notes. Could you tell me the quarter's figures?\n"))
    dovecot_server.append(dovecot_user, "Sent", raw_mail(
        "out1", sender=ME, to="bob@example.org", date=utc(2026, 3, 15), subject="Slides",
        body="I'll send you the slides by Friday.\n"))
    token_file = tmp_path / "token"
    token_file.write_text(SMTP_TOKEN + "\n", encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(
        f"""\
[kept]
addresses = ["{ME}"]
timezone = "UTC"
database = "state/kept.json"

[digest]
send_at = "07:30"

[digest.smtp]
host = "127.0.0.1"
port = {controller.port}
security = "starttls"
username = "kept"
password_command = "cat {token_file}"
ca_file = "{dovecot_server.ca_file}"
timeout = 10

[accounts.work]
type = "imap"
host = "127.0.0.1"
port = {dovecot_server.imaps_port}
security = "tls"
username = "{dovecot_user.name}"
password_env = "KEPT_TEST_PASSWORD"
insecure_skip_verify = true
timeout = 10
""",
        encoding="utf-8",
    )
    config.chmod(0o600)
    environment = {**os.environ, "KEPT_TEST_PASSWORD": dovecot_user.password, "PYTHONIOENCODING": "utf-8"}
    logs = []
    for command in (["-vv", "scan"], ["-vv", "digest", "--send"], ["-vv", "run", "--once"]):
        done = subprocess.run([*KEPT, "--config", str(config), "--now", NOW, *command],
                              env=environment, capture_output=True, timeout=120)
        logs.append(done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace"))
        assert done.returncode == 0, logs[-1][-3000:]
    assert inbox.passwords and set(inbox.passwords) == {SMTP_TOKEN}, "the digest went out with the token"
    assert len(inbox.messages) == 1
    text = "\n".join(logs)
    assert "DEBUG" in text and "imapclient" in text, "the protocol trace was not logged at all"
    for secret in (dovecot_user.password, SMTP_TOKEN, BODY_MARKER):
        assert secret not in text, f"{secret!r} reached the logs"
    # Certificate checks were turned off: a warning at every start of every command that connects.
    scan_log, _, run_log = logs
    assert "kept: warning: " in scan_log and "certificate" in scan_log.lower()  # interactive: plain
    assert "WARNING" in run_log and "certificate" in run_log.lower()  # the service's log format
    # No mail body is stored, only promise sentences and the question a waiting item quotes.
    database = (tmp_path / "state" / "kept.json").read_text(encoding="utf-8")
    assert BODY_MARKER not in database and dovecot_user.password not in database and SMTP_TOKEN not in database
    assert "slides by Friday" in database and "Could you tell me the quarter's figures?" in database
    assert "quarter's figures" not in text, "the quoted question reached the logs"


# -- forget and export ------------------------------------------------------------


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, Path]:
    """A scanned Maildir with mail to and from ann@example.org, bob@example.org and carol (cc)."""
    maildir = tmp_path / "Maildir"
    for part in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"):
        (maildir / part).mkdir(parents=True)
    mails = [
        ("", raw_mail("a1", sender="Ann <ann@example.org>", date=utc(2026, 3, 10), subject="Lunch",
                      body="Shall we have lunch next week?\n")),
        (".Sent", raw_mail("a2", sender=ME, to="Ann <ann@example.org>", date=utc(2026, 3, 11), subject="Re: Lunch",
                           in_reply_to="a1", body="Yes! I'll send you a few dates tomorrow.\n")),
        ("", raw_mail("b1", sender="bob@example.org", date=utc(2026, 3, 12), subject="Report",
                      cc="carol@example.org, joann@example.org", body="Can you review the report?\n")),
        (".Sent", raw_mail("b2", sender=ME, to="bob@example.org", date=utc(2026, 3, 13), subject="Re: Report",
                           in_reply_to="b1", body="I'll review it by Friday.\n")),
    ]
    for number, (folder, data) in enumerate(mails):
        (maildir / folder / "cur" / f"{number}.msg:2,S").write_bytes(data)
    config = write_maildir_config(tmp_path / "config.toml", maildir, tmp_path / "state" / "kept.json")
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
    assert main(["--config", str(config), "threads", "mute", "ann@example.org"]) == 0
    return config, tmp_path / "state" / "kept.json"


def mentions_ann(exported: dict[str, Any]) -> bool:
    """True if ann@example.org (not joann@example.org) appears anywhere."""
    return re.search(r"(?<![\w.+-])ann@example\.org", json.dumps(exported), re.IGNORECASE) is not None


def export(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["--config", str(config), "export"]) == 0
    return json.loads(capsys.readouterr().out)


def test_export_dumps_every_table_as_json(filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, database = filled
    exported = export(config, capsys)
    raw = json.loads(database.read_text(encoding="utf-8"))
    for table, documents in raw.items():
        if table == "meta":
            # What every scan pass writes is in the pass file beside the main file.
            passed = json.loads(database.with_name("kept.pass.json").read_text(encoding="utf-8"))["meta"]
            assert passed and not set(passed) & set(documents)
            assert exported["meta"] == {key: document["value"] for key, document in {**documents, **passed}.items()}
        elif table == "parties":
            # The party index's keys hold the parties of the messages: the export spells them out.
            def address(pair: list[str]) -> dict[str, str]:
                return {"name": pair[0], "email": pair[1]}

            entries = [(json.loads(key), document["count"]) for key, document in documents.items()]
            assert exported["parties"] == [
                {"account": account, "from_addr": None if sender is None else address(sender),
                 "to": [address(a) for a in to], "cc": [address(a) for a in cc], "count": count}
                for (account, sender, to, cc), count in entries
            ]
            assert sum(entry["count"] for entry in exported["parties"]) == len(exported["messages"])
        elif table == "threads":
            # Stored, a thread's messages leave out what holds its default; exported, they hold every field.
            assert exported[table] == [thread_document_in_full(document) for document in documents.values()]
            fields = [f.name for f in dataclasses.fields(ThreadMessage)]
            assert all(list(m) == fields for thread in exported[table] for m in thread["messages"])
        else:
            assert exported[table] == list(documents.values())
    assert len(exported["messages"]) == 4 and len(exported["promises"]) == 2
    assert exported["meta"]["muted_contacts"] == ["ann@example.org"]


def test_export_text_is_the_same_json_whether_streamed_or_not(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`kept export` streams record by record, and prints exactly what one json.dumps of everything would."""
    config, database = filled
    capsys.readouterr()
    assert main(["--config", str(config), "export"]) == 0
    streamed = capsys.readouterr().out
    store = TinyDBStore(database)
    whole = {"kept_version": __version__, "database": str(database), **store.export()}
    store.close()
    assert streamed == terminal_json(whole) + "\n"


def test_export_does_not_hold_the_database_while_its_reader_is_slow(
    filled: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kept export | less`: the daemon must get the database while the pager is open."""
    import io

    from kept.storage.transaction_lock import database_lock

    _config, database = filled
    free_while_writing: list[bool] = []

    class SlowReader(io.TextIOWrapper):
        def write(self, text: str) -> int:
            lock = database_lock(database, 0)
            try:
                lock.acquire()
            except Exception:  # filelock.Timeout: the export still holds it
                free_while_writing.append(False)
            else:
                lock.release()
                free_while_writing.append(True)
            return super().write(text)

    reader = SlowReader(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", reader)
    assert main(["--config", str(_config), "export"]) == 0
    assert free_while_writing and all(free_while_writing)
    reader.flush()
    assert json.loads(reader.buffer.getvalue())["messages"]  # type: ignore[attr-defined]


def test_export_with_no_room_for_its_copy_says_so(
    filled: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno
    import io
    import tempfile

    class Full(io.StringIO):
        """Fills up in the middle of the messages, with the export's transaction open."""

        writes = 0

        def write(self, text: str) -> int:
            Full.writes += 1
            if Full.writes > 6:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(text)

    class FullAtFlush(io.StringIO):
        """Buffers every write and finds the disk full when it flushes them."""

        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    def no_tmpdir() -> io.StringIO:
        raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found")

    for spool in (Full, FullAtFlush, no_tmpdir):
        monkeypatch.setattr(tempfile, "TemporaryFile", lambda *args, spool=spool, **kwargs: spool())
        config, database = filled
        capsys.readouterr()
        assert main(["--config", str(config), "export"]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "cannot write the export's temporary copy" in captured.err
        assert "No space left" in captured.err or "No usable temporary" in captured.err
        assert "Traceback" not in captured.err
    store = TinyDBStore(database)  # released: usable at once
    assert store.count_messages() == {"sent": 2, "received": 2}
    store.close()


@pytest.mark.parametrize(
    "fields",
    [
        [],
        [("empty", [])],
        [("empty", iter([]))],
        [("a", iter([{"x": 1}, {"y": [1, 2, {"z": "\u202eevil\x9b"}]}])), ("meta", {"k": "line\nbreak"})],
        [("messages", iter([{}])), ("n", 3), ("s", "\u2028"), ("nested", {"a": {"b": []}})],
    ],
)
def test_streamed_json_is_terminal_json(fields: list[tuple[str, Any]]) -> None:
    whole = {name: list(value) if isinstance(value, Iterator) else value for name, value in fields}
    rebuilt = [(name, iter(value) if isinstance(fields[i][1], Iterator) else value) for i, (name, value) in enumerate(whole.items())]
    assert "".join(terminal_json_stream(rebuilt)) == terminal_json(whole)


def test_forget_erases_a_person_and_nothing_else(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, database = filled
    capsys.readouterr()
    assert main(["--config", str(config), "forget", "--yes", "Ann@Example.org"]) == 0
    assert "Forgot ann@example.org: removed 2 messages, 1 meta, 1 promises, 1 threads." in capsys.readouterr().out
    exported = export(config, capsys)
    assert not mentions_ann(exported)
    assert "a few dates" not in json.dumps(exported)
    # Bob's conversation, with joann@ (who merely contains "ann@") in Cc, is untouched.
    assert sorted(m["message_id"] for m in exported["messages"]) == ["<b1@test>", "<b2@test>"]
    assert [p["counterparties"] for p in exported["promises"]] == [["bob@example.org"]]
    assert exported["meta"]["muted_contacts"] == []
    # The index is consistent: status counts what is left, and a rescan does not bring Ann back.
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
    assert not mentions_ann(export(config, capsys))
    store = TinyDBStore(database)
    assert store.count_messages() == {"sent": 1, "received": 1}
    assert store.thread_key_for_message("local", "<a1@test>") is None
    store.close()


def test_forget_refuses_own_address_and_non_addresses(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = filled
    assert main(["--config", str(config), "forget", ME]) == 1
    assert main(["--config", str(config), "forget", "ann"]) == 1
    assert main(["--config", str(config), "forget", "--yes", "nobody@example.org"]) == 0
    assert "Nothing stored about nobody@example.org." in capsys.readouterr().out

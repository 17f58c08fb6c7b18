"""End to end: `kept run` as a subprocess against Dovecot and a local SMTP server.

The daemon starts with a fixed ``--now`` ten seconds before the digest is
due; it scans the Dovecot mailbox, sends the digest through aiosmtpd over
STARTTLS at the scheduled time, carries out a ``done 1`` reply appended to
the INBOX, and stops cleanly on SIGTERM. Its sd_notify messages are read on
a real datagram socket.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from dovecot import DovecotServer, MailUser, free_port
from kept.storage.tinydb_store import TinyDBStore

from tests.helpers import ME, raw_mail, utc

NOW = "2026-03-18T07:29:50+00:00"


@dataclass
class Inbox:
    """What the SMTP server received."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp(dovecot_server: DovecotServer) -> Iterator[tuple[Controller, Inbox]]:
    """aiosmtpd on 127.0.0.1 that insists on STARTTLS, with Dovecot's test certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(dovecot_server.root / "cert.pem"), str(dovecot_server.root / "key.pem"))
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True)
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def write_config(path: Path, server: DovecotServer, user: MailUser, smtp_port: int) -> None:
    path.write_text(
        f"""\
[kept]
addresses = ["{ME}"]
timezone = "UTC"
database = "kept.json"

[digest]
send_at = "07:30"

[digest.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "starttls"
ca_file = "{server.ca_file}"
timeout = 10

[daemon]
scan_every_minutes = 15

[accounts.test]
type = "imap"
host = "127.0.0.1"
port = {server.imaps_port}
security = "tls"
username = "{user.name}"
password_env = "KEPT_TEST_PASSWORD"
ca_file = "{server.ca_file}"
timeout = 10
""",
        encoding="utf-8",
    )


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"kept run exited with {process.returncode} while waiting for {what}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_kept_run_end_to_end(dovecot_server, dovecot_user, smtp, notify_socket, tmp_path):
    controller, inbox = smtp
    dovecot_server.create_folder(dovecot_user, "Sent")
    dovecot_server.append(dovecot_user, "INBOX", raw_mail(
        "ask", sender="anna@example.org", date=utc(2026, 3, 16, 9), subject="The article",
        body="Hi, could you send me the article you mentioned?\n"))
    dovecot_server.append(dovecot_user, "Sent", raw_mail(
        "promise", sender=ME, to="anna@example.org", date=utc(2026, 3, 16, 10), subject="Re: The article",
        in_reply_to="ask", body="Hi Anna,\n\nI'll send you the article tomorrow.\n\nBest\n"), flags=[r"\Seen"])
    config = tmp_path / "config.toml"
    write_config(config, dovecot_server, dovecot_user, controller.port)
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="4000000")
    env.pop("WATCHDOG_PID", None)
    env.pop("KEPT_NOW", None)
    log = (tmp_path / "kept.log").open("w+b")
    process = subprocess.Popen(
        [sys.executable, "-m", "kept.cli", "-v", "run", "--config", str(config), "--now", NOW],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    notifications: list[str] = []

    def drain() -> list[str]:
        try:
            while True:
                notifications.append(notify_socket.recv(4096).decode())
        except TimeoutError:
            pass
        return notifications

    try:
        # The model loads, the first scan finds the promise; at 07:30 (ten
        # seconds later on the replayed clock) the digest goes out.
        wait_for(lambda: inbox.messages, 90, "the digest", process)
        [digest] = inbox.messages
        body = digest.get_body(preferencelist=("plain",)).get_content()
        assert "I'll send you the article tomorrow." in body
        assert "READY=1" in drain()

        # The user answers it; SIGHUP (systemctl reload) makes the daemon scan at once.
        dovecot_server.append(dovecot_user, "INBOX", raw_mail(
            "answer", sender=ME, to=ME, date=utc(2026, 3, 18, 7, 35), subject="Re: " + digest["Subject"],
            body="done 1\n\n> 1. I'll send you the article tomorrow.\n",
            headers={"In-Reply-To": digest["Message-ID"], "References": digest["Message-ID"]}))
        process.send_signal(signal.SIGHUP)

        def promise_done() -> bool:
            store = TinyDBStore(tmp_path / "kept.json", lock_timeout=5)
            try:
                return [p.status for p in store.promises()] == ["done"]
            finally:
                store.close()

        wait_for(promise_done, 60, "promise 1 to be marked done", process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.seek(0)
        output = log.read().decode(errors="replace")
        log.close()
    drain()
    assert notifications[0] == "READY=1", notifications
    assert "WATCHDOG=1" in notifications and notifications[-1] == "STOPPING=1", notifications
    store = TinyDBStore(tmp_path / "kept.json")
    try:
        [promise] = list(store.promises())
        assert promise.status == "done"
        assert store.get_meta("last_digest_date") == "2026-03-18"
        assert store.get_cursor("test", "INBOX") and store.get_cursor("test", "Sent")
        assert any("Marked #1 done" in note for note in store.get_meta("pending_notes"))
        assert store.count_messages() == {"sent": 1, "received": 2}  # the question and the answer
    finally:
        store.close()
    assert "I'll send you" not in output  # no mail text in the log
    assert len(inbox.messages) == 1

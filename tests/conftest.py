"""Shared fixtures: the real Dovecot server and its per-test users.

The server starts once per session, only when a test asks for it. A test
that needs it fails (it is not skipped) when Dovecot is not installed, so a
green run always means the IMAP code was exercised against a real server.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dovecot import INSTALL_HINT, DovecotServer, MailUser  # noqa: E402

# The promise encoder's built graphs go to the build folder, not the user's
# cache folder; the kept processes tests start inherit the setting.
os.environ.setdefault("KEPT_CACHE_DIR", str(Path(__file__).resolve().parent.parent / "build" / "encoder-cache"))

@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """A running Dovecot with implicit-TLS and STARTTLS listeners on 127.0.0.1."""
    try:
        server = DovecotServer.start()
    except FileNotFoundError:
        pytest.fail(INSTALL_HINT, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dovecot_user(dovecot_server: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> MailUser:
    """A fresh Dovecot user with an empty INBOX; its password is in $KEPT_TEST_PASSWORD."""
    user = dovecot_server.new_user()
    monkeypatch.setenv("KEPT_TEST_PASSWORD", user.password)
    return user

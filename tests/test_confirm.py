"""``kept rebuild`` and ``kept forget`` ask before they throw anything away.

On a terminal they ask "Continue? [y/N]" and go ahead only on a yes;
``--yes`` answers for the user; with no terminal to ask (a script, cron, a
pipe) and no ``--yes`` they refuse with one message and exit code 9
(`kept.errors.EXIT_NOT_CONFIRMED`), changing nothing.

The terminal is a real one: a pseudo-terminal whose other end the test
types into, with kept in its own process.
"""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from kept.cli import main
from kept.errors import EXIT_NOT_CONFIRMED
from kept.models import Promise
from kept.storage.tinydb_store import TinyDBStore
from tests.helpers import ME, utc

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-03-18T07:00:00+00:00"
PROMPT = b"Continue? [y/N] "


def write_config(root: Path) -> Path:
    """A config over an empty Maildir (a rebuild reads nothing and loads no model) and a database with a promise to Ann."""
    root.chmod(0o700)
    maildir = root / "mail"
    for sub in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    config = root / "config.toml"
    config.write_text(
        f'[kept]\naddresses = ["{ME}"]\ntimezone = "UTC"\ndatabase = "{root / "kept.json"}"\n\n'
        f'[accounts.local]\ntype = "maildir"\npath = "{maildir}"\ninbox = ""\nsent = ".Sent"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    store = TinyDBStore(root / "kept.json")
    try:
        store.put_promise(Promise(
            id="p000000001", account="local", message_id="<p1@test>", thread_key="t1",
            sentence="I'll send you the article.", action="send you the article", kind="deliver",
            counterparties=("ann@example.org",), made_at=utc(2026, 3, 10), due=date(2026, 3, 13),
            due_is_default=False, confidence=0.9, rule_id="test",
        ))
    finally:
        store.close()
    return config


def promises_stored(root: Path) -> int:
    store = TinyDBStore(root / "kept.json")
    try:
        return len(list(store.promises()))
    finally:
        store.close()


def on_a_terminal(args: list[str], typed: bytes | None) -> tuple[int, str]:
    """Run kept with stdin and stderr on a pseudo-terminal; type `typed` at the prompt (None: end of input).

    :returns: the exit code and everything written to the terminal and stdout.
    """
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "kept.cli", *args], stdin=follower, stderr=follower, stdout=follower,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, close_fds=True,
    )
    os.close(follower)
    seen = b""
    answered = False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the other end closed: kept has exited
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and PROMPT in seen:
                os.write(leader, typed if typed is not None else b"\x04")  # ^D: end of input
                answered = True
            if process.poll() is not None and not ready:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    assert answered, f"kept never asked: {seen!r}"
    return code, seen.decode("utf-8", "replace")


# -- on a terminal ----------------------------------------------------------------


@pytest.mark.parametrize("typed", [b"n\n", b"\n", b"whatever\n", None])
def test_forget_on_a_terminal_goes_ahead_only_on_a_yes(tmp_path: Path, typed: bytes | None) -> None:
    config = write_config(tmp_path)
    code, shown = on_a_terminal(["--config", str(config), "forget", "ann@example.org"], typed)
    assert code == EXIT_NOT_CONFIRMED, shown
    assert "This will erase everything kept stores about ann@example.org" in shown
    assert "was not confirmed; nothing was changed" in shown and "Traceback" not in shown
    assert promises_stored(tmp_path) == 1


@pytest.mark.parametrize("typed", [b"y\n", b"YES\n"])
def test_forget_on_a_terminal_erases_after_a_yes(tmp_path: Path, typed: bytes) -> None:
    config = write_config(tmp_path)
    code, shown = on_a_terminal(["--config", str(config), "forget", "ann@example.org"], typed)
    assert code == 0, shown
    assert "Forgot ann@example.org" in shown
    assert promises_stored(tmp_path) == 0


def test_rebuild_on_a_terminal_asks_and_a_no_moves_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, shown = on_a_terminal(["--config", str(config), "--now", NOW, "rebuild"], b"no\n")
    assert code == EXIT_NOT_CONFIRMED, shown
    assert "This will set the database" in shown and "aside" in shown
    assert not list(tmp_path.glob("kept.json.broken-*"))
    assert promises_stored(tmp_path) == 1


def test_rebuild_on_a_terminal_goes_ahead_after_a_yes(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, shown = on_a_terminal(["--config", str(config), "--now", NOW, "rebuild"], b"y\n")
    assert code == 0, shown
    assert "Moved the old database to" in shown
    assert len(list(tmp_path.glob("kept.json.broken-*"))) == 1


# -- no terminal: --yes or nothing ------------------------------------------------------


@pytest.mark.parametrize("command", [["rebuild"], ["forget", "ann@example.org"]])
def test_without_a_terminal_and_without_yes_nothing_happens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str],
) -> None:
    """A "y" piped in is not a person's answer: a script says --yes."""
    config = write_config(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert main(["--config", str(config), "--now", NOW, *command]) == EXIT_NOT_CONFIRMED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"kept: `kept {command[0]}")
    assert "there is no terminal to ask" in captured.err and "--yes" in captured.err
    assert "Traceback" not in captured.err and "Continue?" not in captured.err
    assert not list(tmp_path.glob("kept.json.broken-*"))
    assert promises_stored(tmp_path) == 1


def test_yes_goes_ahead_without_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "--now", NOW, "forget", "--yes", "ann@example.org"]) == 0
    assert promises_stored(tmp_path) == 0
    assert main(["--config", str(config), "--now", NOW, "rebuild", "-y"]) == 0
    assert "Continue?" not in capsys.readouterr().err
    assert len(list(tmp_path.glob("kept.json.broken-*"))) == 1

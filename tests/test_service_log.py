"""The service's log: ``kept run --once`` as a subprocess, its stderr read as journald and a person would.

* Under journald (``JOURNAL_STREAM`` naming stderr's device and inode, as
  systemd sets it) every line starts with its syslog priority and carries no
  time stamp; ``JOURNAL_STREAM`` inherited with stderr going elsewhere
  changes nothing.
* At the default level the service says what it did: one line per account
  per scan, the digest sent (to whom, how many items), each digest reply
  carried out; never a password, never the text of a mail.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kept.cli import main
from test_delivery import PASSWORD, certificate, smtp_server  # noqa: F401  (fixtures)
from test_digest_route import closed_port, smtp_digest, write_config

from tests.helpers import ME

NOW = "2026-03-18T08:00:00+00:00"  # after the digest time: the pass sends it
TIME_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}")


def run_once(config: Path, tmp_path: Path, journal: str | None, *command: str) -> tuple[int, str]:
    """``kept run --once`` (or `command`) in a child process; its exit code and stderr.

    `journal`: ``"stderr"`` sets JOURNAL_STREAM to stderr's device:inode,
    ``"elsewhere"`` to another file's, None leaves it out.
    """
    env = {key: value for key, value in os.environ.items() if key not in ("JOURNAL_STREAM", "KEPT_NOW")}
    env.update(KEPT_TEST_SMTP_PASSWORD=PASSWORD, KEPT_TEST_IMAP_PASSWORD="imap-secret-never-logged")
    log_path = tmp_path / "stderr.log"
    with log_path.open("wb") as log:
        if journal is not None:
            other = tmp_path / "journal-elsewhere"
            other.touch()
            status = os.fstat(log.fileno()) if journal == "stderr" else os.stat(other)
            env["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
        done = subprocess.run(
            [sys.executable, "-m", "kept.cli", "--config", str(config), "--now", NOW, *(command or ("run", "--once"))],
            env=env, stdout=subprocess.DEVNULL, stderr=log, timeout=300,
        )
    return done.returncode, log_path.read_text(encoding="utf-8")


def kept_child(config: Path, *command: str) -> tuple[int, str, str]:
    """`kept COMMAND` in a child process as cron runs it (no terminal): exit code, stdout, stderr."""
    env = {key: value for key, value in os.environ.items() if key not in ("JOURNAL_STREAM", "KEPT_NOW")}
    env.update(KEPT_TEST_SMTP_PASSWORD=PASSWORD, KEPT_TEST_IMAP_PASSWORD="imap-secret-never-logged")
    done = subprocess.run([sys.executable, "-m", "kept.cli", "--config", str(config), "--now", NOW, *command],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def with_failing_account(config: Path) -> None:
    """Add an IMAP account on a port where nothing listens: its scan fails (a warning)."""
    config.write_text(config.read_text(encoding="utf-8") + (
        f'\n[accounts.away]\ntype = "imap"\nhost = "127.0.0.1"\nport = {closed_port()}\nsecurity = "tls"\n'
        'username = "me"\npassword_env = "KEPT_TEST_IMAP_PASSWORD"\ntimeout = 5\n'), encoding="utf-8")


def test_under_journald_each_line_has_its_priority_and_no_time_stamp(tmp_path: Path) -> None:
    config = write_config(tmp_path, smtp_digest(closed_port(), None))
    with_failing_account(config)
    code, log = run_once(config, tmp_path, journal="stderr")
    assert code != 0, log
    lines = log.splitlines()
    assert lines and all(re.match(r"<[2-7]>", line) for line in lines), log
    assert not TIME_STAMP.search(log), log
    assert "<6>INFO kept.daemon.scan: account local: 1 new messages, 1 new promises" in log
    assert re.search(r"^<4>WARNING kept\.daemon\.scan: account away: scan failed: ", log, re.MULTILINE), log
    assert re.search(r"^<3>ERROR kept\.daemon\.run: could not send the digest: digest: cannot send the digest "
                     r"through 127\.0\.0\.1:\d+: .*Connection refused$", log, re.MULTILINE), log
    # The fix is a line of its own, and journald reads it at the error's priority too.
    assert re.search(r"^<3>  fix: check host, port and security in \[digest\.smtp\]", log, re.MULTILINE), log
    assert "imap-secret-never-logged" not in log and PASSWORD not in log


def test_elsewhere_lines_are_time_stamped_and_say_what_the_service_did(
    smtp_server, certificate, tmp_path: Path,  # noqa: F811
) -> None:
    controller, received = smtp_server
    config = write_config(tmp_path, smtp_digest(controller.port, certificate[0]))
    # A JOURNAL_STREAM inherited from a service, with stderr redirected to a file: not the journal.
    code, log = run_once(config, tmp_path, journal="elsewhere")
    assert code == 0, log
    assert len(received.messages) == 1
    assert not re.search(r"^<\d>", log, re.MULTILINE), log
    stamped = f"^{TIME_STAMP.pattern} INFO "
    assert re.search(stamped + r"kept\.daemon\.run: kept daemon started: 1 account\(s\)", log, re.MULTILINE), log
    assert re.search(stamped + r"kept\.daemon\.scan: account local: 1 new messages, 1 new promises, 0 kept",
                     log, re.MULTILINE), log
    assert re.search(stamped + rf"kept\.daemon\.run: digest for 2026-03-18 sent to {re.escape(ME)}: 1 items$",
                     log, re.MULTILINE), log
    assert re.search(stamped + r"kept\.daemon\.run: kept daemon stopping$", log, re.MULTILINE), log
    assert PASSWORD not in log
    assert "article" not in log  # the mail's text stays out of the log

    code, log = run_once(config, tmp_path, journal=None)
    assert code == 0 and "kept.daemon.scan: account local: 0 new messages" in log, log
    assert TIME_STAMP.match(log), log


def test_each_digest_reply_carried_out_is_logged_without_the_mail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    from test_digest_replies import NOW as BEFORE_THE_DIGEST, a_reply, database_that_sent_a_digest, deliver
    from test_digest_replies import write_config as replies_config

    config = replies_config(tmp_path)
    digest_id = database_that_sent_a_digest(tmp_path)
    deliver(tmp_path, "local", "reply1", a_reply(digest_id, "done 1\nsnooze 7 friday\n"))
    caplog.set_level(logging.INFO)
    assert main(["--config", str(config), "--now", BEFORE_THE_DIGEST, "run", "--once"]) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "kept.daemon.replies"]
    assert "digest reply <reply1@test>: done #1 (promise)" in lines
    assert "digest reply <reply1@test>: snooze #7 (not in that digest)" in lines
    assert "article" not in caplog.text  # the promise's sentence is in the next digest's note, not the log


# -- --quiet, for cron ------------------------------------------------------------


def test_quiet_under_cron_prints_nothing_when_all_went_well(
    smtp_server, certificate, tmp_path: Path,  # noqa: F811
) -> None:
    """cron mails whatever a job prints: with -q a pass that went well prints nothing at all."""
    controller, received = smtp_server
    config = write_config(tmp_path, smtp_digest(controller.port, certificate[0]))
    code, log = run_once(config, tmp_path, None, "run", "--once", "-q")
    assert (code, log) == (0, "")
    assert len(received.messages) == 1  # the digest still went out
    assert kept_child(config, "-q", "scan") == (0, "", "")
    assert kept_child(config, "scan", "--quiet") == (0, "", "")
    assert kept_child(config, "--quiet", "digest", "--send") == (0, "", "")
    assert len(received.messages) == 2
    # Without it: the INFO lines, the summary and the confirmation, as before.
    code, log = run_once(config, tmp_path, None)
    assert code == 0 and " INFO kept.daemon.scan: account local: 0 new messages" in log, log
    code, out, err = kept_child(config, "scan")
    assert code == 0 and out.startswith("Scanned 1 account(s) in ") and err == ""
    code, out, err = kept_child(config, "digest", "--send")
    assert code == 0 and out.startswith(f"Sent the digest to {ME}") and err == ""


def test_quiet_still_says_what_went_wrong(tmp_path: Path) -> None:
    config = write_config(tmp_path, smtp_digest(closed_port(), None))
    with_failing_account(config)
    code, log = run_once(config, tmp_path, "stderr", "-q", "run", "--once")
    assert code != 0, log
    lines = log.splitlines()
    assert lines and all(re.match(r"<[34]>", line) for line in lines), log
    assert re.search(r"^<4>WARNING kept\.daemon\.scan: account away: scan failed: ", log, re.MULTILINE), log
    assert re.search(r"^<3>ERROR kept\.daemon\.run: could not send the digest: ", log, re.MULTILINE), log
    code, out, err = kept_child(config, "scan", "-q")
    assert code == 5 and out == "", out
    assert err.startswith("kept: warning: ") and "away" in err, err


def test_quiet_and_verbose_together_are_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, smtp_digest(closed_port(), None))
    code, out, err = kept_child(config, "-q", "status", "-v")
    assert (code, out) == (2, "")
    assert "-q/--quiet and -v/--verbose" in err

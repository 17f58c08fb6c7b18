"""The digest route, against real servers (aiosmtpd on 127.0.0.1, the Dovecot fixture) and real programs.

* ``kept check`` tries the route as a delivery would, up to the point of
  handing over a message: SMTP connect, TLS or STARTTLS, EHLO and AUTH; the
  IMAP account's login and its inbox folder; the delivery program's
  presence. A config that names no route fails it, unless it says
  ``delivery = "none"``.
* A delivery that fails is one message with a fix and a documented exit code
  (`kept.errors.EXIT_CODES`), never a traceback: ``kept digest --send``,
  ``kept run --once`` and ``kept check`` alike.
* ``delivery = "command"`` pipes the digest into a program (msmtp, sendmail).
"""

from __future__ import annotations

import socket
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from keyring.backends import fail

from dovecot import DovecotServer, MailUser
from kept.cli import main
from kept.errors import EXIT_CONFIG, EXIT_DELIVERY, EXIT_LOGIN_REFUSED
from kept.storage.tinydb_store import TinyDBStore
from test_delivery import PASSWORD, USERNAME, certificate, smtp_server  # noqa: F401  (fixtures)
from test_headless_setup import DictKeyring, backend  # noqa: F401  (a fixture)

from tests.helpers import ME, raw_mail, utc

NOW = "2026-03-18T08:00:00+00:00"  # after the digest time (07:30 UTC): `run --once` sends it


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(root: Path, digest: str) -> Path:
    """A config with one Maildir account holding one promise, and `digest` as its digest sections."""
    root.chmod(0o700)
    maildir = root / "mail"
    for sub in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / ".Sent" / "cur" / "p1:2,S").write_bytes(raw_mail(
        "p1", sender=ME, to="anna@example.org", date=utc(2026, 3, 16, 10), subject="The article",
        body="Hi Anna,\n\nI'll send you the article tomorrow.\n\nBest\n"))
    config = root / "config.toml"
    config.write_text(
        f'[kept]\naddresses = ["{ME}"]\ntimezone = "UTC"\ndatabase = "{root / "kept.json"}"\n\n'
        f'{digest}\n\n'
        f'[accounts.local]\ntype = "maildir"\npath = "{maildir}"\ninbox = ""\nsent = ".Sent"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def smtp_digest(port: int, ca_file: Path | None, password_env: str = "KEPT_TEST_SMTP_PASSWORD") -> str:
    lines = ["[digest]", 'send_at = "07:30"', "send_empty = true", "", "[digest.smtp]", 'host = "127.0.0.1"',
             f"port = {port}", 'security = "starttls"', f'username = "{USERNAME}"', f'password_env = "{password_env}"',
             "timeout = 10"]
    if ca_file is not None:
        lines.append(f'ca_file = "{ca_file}"')
    return "\n".join(lines)


def kept(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--now", NOW, *args])


def one_message_with_a_fix(text: str) -> str:
    """The error `text` (stderr) as one message with its fix: no traceback, two lines at most."""
    assert "Traceback" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) <= 2 and lines[0].startswith("kept: "), text
    assert lines[-1].startswith("  fix: "), text
    return text


def planned_or_sent(root: Path) -> tuple[object, object]:
    """The database's planned digest and its record of digests sent."""
    store = TinyDBStore(root / "kept.json")
    try:
        with store.transaction():
            return store.get_meta("digest_outbox"), store.get_meta("sent_digests")
    finally:
        store.close()


@pytest.fixture(autouse=True)
def smtp_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEPT_TEST_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("KEPT_WRONG_SMTP_PASSWORD", "not-the-password")


# -- kept check ----------------------------------------------------------------------


def test_check_logs_in_to_the_smtp_server_and_sends_nothing(smtp_server, certificate, tmp_path, capsys) -> None:  # noqa: F811
    controller, received = smtp_server
    config = write_config(tmp_path, smtp_digest(controller.port, certificate[0]))
    assert kept(config, "check", "--skip-model") == 0
    out = capsys.readouterr().out
    assert (f"digest route: SMTP 127.0.0.1:{controller.port} (starttls): ok, logged in as {USERNAME}; nothing sent"
            in out)
    assert received.logins == [USERNAME]
    assert received.messages == []


FAILURES = {
    # what is wrong: (port, trust the certificate, password variable, exit code, what the message says, its fix)
    "nothing listens": (None, True, "KEPT_TEST_SMTP_PASSWORD", EXIT_DELIVERY, "Connection refused",
                        "check host, port and security in [digest.smtp]"),
    # Found only when the digest is sent: formerly a UserError (exit code 1) or a traceback.
    "password variable not set": ("server", True, "KEPT_UNSET_SMTP_PASSWORD", EXIT_DELIVERY,
                                  "digest.smtp: environment variable KEPT_UNSET_SMTP_PASSWORD is not set or empty",
                                  "export KEPT_UNSET_SMTP_PASSWORD=... before starting kept"),
    "host is no host name": ("server", True, "KEPT_TEST_SMTP_PASSWORD", EXIT_DELIVERY,
                             "'mail..example.org' is not a valid host name", "check host in [digest.smtp]"),
    "ca_file unreadable": ("server", "missing.pem", "KEPT_TEST_SMTP_PASSWORD", EXIT_DELIVERY,
                           "digest.smtp: cannot read ca_file", "point ca_file at a PEM file"),
    "TLS on the STARTTLS port": ("server", True, "KEPT_TEST_SMTP_PASSWORD", EXIT_DELIVERY, "TLS failed",
                                 "check host, port and security in [digest.smtp]"),
    "self-signed certificate": ("server", False, "KEPT_TEST_SMTP_PASSWORD", EXIT_DELIVERY,
                                "the server certificate is not trusted (self-signed certificate)",
                                "set ca_file in [digest.smtp]"),
    "wrong password": ("server", True, "KEPT_WRONG_SMTP_PASSWORD", EXIT_LOGIN_REFUSED,
                       f"refused the login of user '{USERNAME}'", "check the password or token source"),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_failing_smtp_route_is_one_message_with_a_fix_and_its_exit_code(
    failure, smtp_server, certificate, tmp_path, capsys,  # noqa: F811
) -> None:
    controller, received = smtp_server
    port, trusted, password_env, code, said, fix = FAILURES[failure]
    ca_file = tmp_path / trusted if isinstance(trusted, str) else certificate[0] if trusted else None
    digest = smtp_digest(controller.port if port == "server" else closed_port(), ca_file, password_env)
    if failure == "host is no host name":
        digest = digest.replace('host = "127.0.0.1"', 'host = "mail..example.org"')
    if failure == "TLS on the STARTTLS port":
        digest = digest.replace('security = "starttls"', 'security = "tls"')
    config = write_config(tmp_path, digest)

    assert kept(config, "check", "--skip-model") == code
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("digest route: ")]
    assert line.startswith("digest route: FAILED: digest: ") and said in line, out
    assert f"  fix: {fix}" in out, out
    assert "not-the-password" not in out

    capsys.readouterr()
    assert kept(config, "digest", "--send") == code
    captured = capsys.readouterr()
    error = one_message_with_a_fix(captured.err)
    assert said in error and fix in error
    assert "Sent the digest" not in captured.out and "not-the-password" not in captured.err

    # The service's one pass fails too: cron mails its log.
    assert kept(config, "run", "--once") == code
    assert received.messages == []


def test_check_reads_the_smtp_password_from_the_keyring_or_says_there_is_none(
    smtp_server, certificate, tmp_path, capsys, backend,  # noqa: F811
) -> None:
    controller, received = smtp_server
    digest = smtp_digest(controller.port, certificate[0]).replace(
        'password_env = "KEPT_TEST_SMTP_PASSWORD"', "password_keyring = true")
    config = write_config(tmp_path, digest)
    backend(fail.Keyring())  # a machine without a desktop session
    assert kept(config, "check", "--skip-model") == EXIT_DELIVERY
    out = capsys.readouterr().out
    assert (f"digest route: FAILED: digest: cannot log in to the SMTP server 127.0.0.1:{controller.port}: "
            "digest.smtp: cannot read the system keyring") in out
    assert "fix: unlock the keyring (log in to a desktop session), or use password_command instead" in out
    assert received.logins == []

    working = DictKeyring()
    working.set_password("kept", "digest.smtp", PASSWORD)
    backend(working)
    assert kept(config, "check", "--skip-model") == 0
    assert received.logins == [USERNAME] and received.messages == []


def test_run_once_exits_zero_when_the_digest_went_out(smtp_server, certificate, tmp_path) -> None:  # noqa: F811
    controller, received = smtp_server
    config = write_config(tmp_path, smtp_digest(controller.port, certificate[0]))
    assert kept(config, "run", "--once") == 0
    [(_sender, recipients, content, encrypted)] = received.messages
    assert recipients == [ME] and encrypted
    assert "send you the article" in message_from_bytes(content, policy=policy.default).get_body(("plain",)).get_content()


def test_no_route_fails_the_check_until_delivery_none_says_it_is_meant(tmp_path, capsys) -> None:
    config = write_config(tmp_path, "")  # no [digest]: a valid config, the commands work
    assert kept(config, "check", "--skip-model") == EXIT_CONFIG
    out = capsys.readouterr().out
    assert "digest route: FAILED: [digest] does not say how the digest is sent" in out
    assert 'or "none" (no digest, only the commands)' in out
    # The service would fail every day: --once says so, and plans no digest it cannot send.
    assert kept(config, "run", "--once") == EXIT_CONFIG
    assert planned_or_sent(tmp_path) == (None, None)

    config.write_text(config.read_text(encoding="utf-8") + '\n[digest]\ndelivery = "none"\n', encoding="utf-8")
    capsys.readouterr()
    assert kept(config, "check", "--skip-model") == 0
    assert 'digest route: not sent (delivery = "none")' in capsys.readouterr().out
    assert kept(config, "run", "--once") == 0
    assert planned_or_sent(tmp_path) == (None, None)
    # Asked to send one anyway: one message, the configuration's exit code.
    assert kept(config, "digest", "--send") == EXIT_CONFIG
    error = capsys.readouterr().err
    assert "Traceback" not in error and "kept sends no digest" in error
    assert kept(config, "promises") == 0  # the commands still work


def test_check_logs_in_to_the_append_account_and_opens_its_inbox(
    dovecot_server: DovecotServer, dovecot_user: MailUser, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    dovecot_server.create_folder(dovecot_user, "Sent")
    config = write_config(tmp_path, '[digest]\ndelivery = "imap"\nappend_account = "work"')
    text = config.read_text(encoding="utf-8") + (
        f'\n[accounts.work]\ntype = "imap"\nhost = "127.0.0.1"\nport = {dovecot_server.imaps_port}\n'
        f'security = "tls"\nusername = "{dovecot_user.name}"\npassword_env = "KEPT_TEST_PASSWORD"\n'
        f'ca_file = "{dovecot_server.ca_file}"\ntimeout = 10\n')
    config.write_text(text, encoding="utf-8")
    assert kept(config, "check", "--skip-model") == 0
    assert "digest route: IMAP append to work/INBOX: ok, logged in and opened it; nothing appended" in (
        capsys.readouterr().out)
    assert dovecot_server.flags(dovecot_user, "INBOX") == {}  # nothing appended

    config.write_text(text.replace(f"port = {dovecot_server.imaps_port}", f"port = {closed_port()}"), encoding="utf-8")
    capsys.readouterr()
    assert kept(config, "digest", "--send") == EXIT_DELIVERY
    error = one_message_with_a_fix(capsys.readouterr().err)
    assert "work: cannot connect to 127.0.0.1" in error and "[accounts.work]" in error


# -- delivery = "command" ------------------------------------------------------------------


SENDMAIL = """\
import sys
data = sys.stdin.buffer.read()
open(sys.argv[1], "wb").write(data)
"""
FAILING_SENDMAIL = """\
import sys
sys.stdin.buffer.read()
sys.stderr.write("msmtp: cannot connect to smtp.example.org, port 587\\nmsmtp: could not send mail\\x1b[2J\\n")
sys.exit(69)
"""


def command_digest(script: Path, *args: str) -> str:
    program = ", ".join(f'"{part}"' for part in (sys.executable, str(script), *args))
    return f'[digest]\nsend_at = "07:30"\nsend_empty = true\ndelivery = "command"\ncommand = [{program}]'


def test_command_delivery_pipes_the_digest_into_the_program(tmp_path, capsys) -> None:
    script, out = tmp_path / "sendmail.py", tmp_path / "sent.eml"
    script.write_text(SENDMAIL, encoding="utf-8")
    config = write_config(tmp_path, command_digest(script, str(out)))
    assert kept(config, "check", "--skip-model") == 0
    assert f"digest route: command {sys.executable}: found; not run" in capsys.readouterr().out
    assert not out.exists()  # the check ran nothing
    assert kept(config, "run", "--once") == 0
    data = out.read_bytes()
    assert b"\r\n" not in data  # sendmail -t reads plain newlines
    message = message_from_bytes(data, policy=policy.default)
    assert message["To"] == ME and message["X-Kept-Digest"] == "2026-03-18"
    assert "send you the article" in message.get_body(("plain",)).get_content()
    assert kept(config, "run", "--once") == 0  # once a day
    assert out.read_bytes() == data


def test_a_failing_command_is_one_message_quoting_it(tmp_path, capsys) -> None:
    script = tmp_path / "msmtp.py"
    script.write_text(FAILING_SENDMAIL, encoding="utf-8")
    config = write_config(tmp_path, command_digest(script))
    assert kept(config, "digest", "--send") == EXIT_DELIVERY
    error = one_message_with_a_fix(capsys.readouterr().err)
    assert "exited with 69: msmtp: could not send mail\\x1b[2J" in error and "\x1b" not in error
    assert kept(config, "run", "--once") == EXIT_DELIVERY

    missing = write_config(tmp_path, '[digest]\ndelivery = "command"\ncommand = ["/nonexistent/msmtp", "-t"]')
    capsys.readouterr()
    assert kept(missing, "check", "--skip-model") == EXIT_DELIVERY
    assert "digest route: FAILED: digest: cannot find the program '/nonexistent/msmtp'" in capsys.readouterr().out
    assert kept(missing, "digest", "--send") == EXIT_DELIVERY
    assert "cannot run '/nonexistent/msmtp': not found" in one_message_with_a_fix(capsys.readouterr().err)


def test_command_delivery_needs_a_program(tmp_path, capsys) -> None:
    config = write_config(tmp_path, '[digest]\ndelivery = "command"')
    assert kept(config, "check", "--skip-model") == EXIT_CONFIG
    assert "[digest] key 'command'" in capsys.readouterr().err

"""Digest delivery against real servers: aiosmtpd on 127.0.0.1 and the Dovecot fixture."""

from __future__ import annotations

import logging
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from dovecot import DovecotServer, MailUser, free_port
from kept.digest.build import build_digest
from kept.digest.render import render_digest
from kept.errors import AuthenticationError, SourceError, UserError
from kept.mailboxes.append import ImapAppendSender
from kept.mailboxes.smtp import SmtpSender, sender_for, smtp_password
from kept.settings import DigestSettings, SmtpSettings
from test_digest_build import NOW, filled_store, make_settings

USERNAME = "sam"
PASSWORD = "s3cret-p\u00e4ss-never-logged"  # non-ASCII: smtplib alone cannot send it
ASCII_PASSWORD = "plain-ascii-secret"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    root = tmp_path_factory.mktemp("smtp-tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@dataclass
class Received:
    """What the test SMTP server saw."""

    messages: list[tuple[str, list[str], bytes, bool]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content, encrypted))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            self.logins.append(login)
            if login == USERNAME and password in (PASSWORD, ASCII_PASSWORD):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest, certificate: tuple[Path, Path]) -> Iterator[tuple[Controller, Received]]:
    """A real aiosmtpd server; `request.param` is "starttls", "tls" or "plain"."""
    mode = getattr(request, "param", "starttls")
    received = Received()
    kwargs: dict[str, Any] = {"authenticator": received.authenticate}
    if mode == "starttls":
        kwargs.update(tls_context=server_context(certificate), require_starttls=True)
    elif mode == "tls":
        # aiosmtpd only counts STARTTLS as TLS for its AUTH check; this
        # connection is encrypted from the first byte, which handle_DATA records.
        kwargs.update(ssl_context=server_context(certificate), auth_require_tls=False)
    controller = Controller(received, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller, received
    finally:
        controller.stop()


def smtp_settings(controller: Controller, certificate: tuple[Path, Path], **overrides: Any) -> SmtpSettings:
    fields: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": controller.port,
        "security": "starttls",
        "username": USERNAME,
        "ca_file": certificate[0],
        "timeout": 10.0,
    }
    fields.update(overrides)
    return SmtpSettings(**fields)


def digest_message() -> EmailMessage:
    settings = make_settings()
    return render_digest(build_digest(filled_store(), NOW, settings), settings)


def test_starttls_with_auth_delivers_the_digest(smtp_server, certificate, caplog) -> None:
    controller, received = smtp_server
    caplog.set_level(logging.DEBUG)
    message = digest_message()
    SmtpSender(smtp_settings(controller, certificate), lambda: PASSWORD).send(message)
    assert received.logins == [USERNAME]
    [(mail_from, rcpt_tos, content, encrypted)] = received.messages
    assert encrypted
    assert mail_from == "me@example.com" and rcpt_tos == ["me@example.com"]
    delivered = message_from_bytes(content, policy=policy.default)
    assert delivered["Subject"] == message["Subject"]
    assert delivered["X-Kept-Digest"] == "2026-11-20"
    assert delivered["Message-ID"] == message["Message-ID"]
    assert delivered.get_body(("html",)) is not None
    assert not [r for r in caplog.records if r.name.startswith("kept") and PASSWORD in r.getMessage()]


@pytest.mark.parametrize("smtp_server", ["tls"], indirect=True)
def test_implicit_tls_with_auth_delivers_the_digest(smtp_server, certificate) -> None:
    controller, received = smtp_server
    SmtpSender(smtp_settings(controller, certificate, security="tls"), lambda: PASSWORD).send(digest_message())
    assert received.logins == [USERNAME]
    [(_from, _to, content, encrypted)] = received.messages
    assert encrypted
    assert b"X-Kept-Digest: 2026-11-20" in content


def test_ascii_password_uses_the_servers_preferred_mechanism(smtp_server, certificate) -> None:
    controller, received = smtp_server
    SmtpSender(smtp_settings(controller, certificate), lambda: ASCII_PASSWORD).send(digest_message())
    assert received.logins == [USERNAME] and len(received.messages) == 1


def test_wrong_password_is_an_authentication_error(smtp_server, certificate, caplog) -> None:
    controller, received = smtp_server
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as raised:
        SmtpSender(smtp_settings(controller, certificate), lambda: "wrong-password").send(digest_message())
    assert "refused the login of user 'sam'" in str(raised.value)
    assert "wrong-password" not in str(raised.value)
    assert not [r for r in caplog.records if r.name.startswith("kept") and "wrong-password" in r.getMessage()]
    assert received.messages == []


def test_untrusted_certificate_is_refused(smtp_server, certificate) -> None:
    controller, received = smtp_server
    settings = smtp_settings(controller, certificate, ca_file=None)
    with pytest.raises(SourceError, match="certificate is not trusted"):
        SmtpSender(settings, lambda: PASSWORD).send(digest_message())
    assert received.logins == [] and received.messages == []


def test_verification_can_be_turned_off_explicitly(smtp_server, certificate, caplog) -> None:
    controller, received = smtp_server
    settings = smtp_settings(controller, certificate, ca_file=None, verify_tls=False)
    SmtpSender(settings, lambda: PASSWORD).send(digest_message())
    assert len(received.messages) == 1
    assert "verification is OFF" in caplog.text


@pytest.mark.parametrize("smtp_server", ["plain"], indirect=True)
def test_server_without_starttls_gets_nothing_in_cleartext(smtp_server, certificate) -> None:
    controller, received = smtp_server
    with pytest.raises(SourceError, match="does not offer STARTTLS"):
        SmtpSender(smtp_settings(controller, certificate), lambda: PASSWORD).send(digest_message())
    assert received.logins == [] and received.messages == []


@pytest.mark.parametrize("smtp_server", ["plain"], indirect=True)
def test_implicit_tls_to_a_plain_server_is_a_source_error(smtp_server, certificate) -> None:
    controller, _received = smtp_server
    settings = smtp_settings(controller, certificate, security="tls", username="")
    with pytest.raises(SourceError, match="cannot send the digest"):
        SmtpSender(settings, None).send(digest_message())


def test_nobody_listening_is_a_source_error(certificate) -> None:
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security="starttls", timeout=5.0)
    with pytest.raises(SourceError, match="cannot send the digest through 127.0.0.1"):
        SmtpSender(settings).send(digest_message())


def test_missing_ca_file_is_a_user_error(tmp_path) -> None:
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), ca_file=tmp_path / "missing.pem")
    with pytest.raises(UserError, match="cannot read ca_file"):
        SmtpSender(settings).send(digest_message())


def test_password_comes_from_env_or_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEPT_SMTP_TEST", PASSWORD)
    assert smtp_password(SmtpSettings(host="h", password_env="KEPT_SMTP_TEST")) == PASSWORD
    command = f"{sys.executable} -c \"print('from-command')\""
    assert smtp_password(SmtpSettings(host="h", password_command=command)) == "from-command"
    monkeypatch.delenv("KEPT_SMTP_TEST")
    with pytest.raises(UserError, match="digest.smtp: environment variable KEPT_SMTP_TEST"):
        smtp_password(SmtpSettings(host="h", password_env="KEPT_SMTP_TEST"))
    with pytest.raises(UserError, match="no password source"):
        smtp_password(SmtpSettings(host="h", username="sam"))


def test_default_password_source_is_used_when_none_given(smtp_server, certificate, monkeypatch) -> None:
    controller, received = smtp_server
    monkeypatch.setenv("KEPT_SMTP_TEST", PASSWORD)
    SmtpSender(smtp_settings(controller, certificate, password_env="KEPT_SMTP_TEST")).send(digest_message())
    assert received.logins == [USERNAME] and len(received.messages) == 1


def test_sender_for_follows_the_delivery_setting() -> None:
    smtp = SmtpSettings(host="mail.example.com")
    settings = replace(make_settings(), digest=DigestSettings(delivery="smtp", smtp=smtp))
    assert isinstance(sender_for(settings), SmtpSender)
    with pytest.raises(UserError, match="no \\[digest.smtp\\] section"):
        sender_for(replace(settings, digest=DigestSettings(delivery="smtp")))
    with pytest.raises(UserError, match="append_account 'home' is not one of your IMAP accounts"):
        sender_for(replace(settings, digest=DigestSettings(delivery="imap", append_account="home")))


# -- IMAP APPEND against the real Dovecot ---------------------------------


def test_imap_append_puts_the_digest_unread_into_the_inbox(
    dovecot_server: DovecotServer, dovecot_user: MailUser
) -> None:
    account = dovecot_server.account(dovecot_user)
    message = digest_message()
    ImapAppendSender(account, lambda: dovecot_user.password).send(message)
    with dovecot_server.client(dovecot_user) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"])
    assert len(uids) == 1
    [item] = fetched.values()
    delivered = message_from_bytes(item[b"BODY[]"], policy=policy.default)
    assert delivered["Message-ID"] == message["Message-ID"]
    assert delivered["X-Kept-Digest"] == "2026-11-20"
    assert delivered.get_body(("plain",)) is not None
    assert b"\\Seen" not in item[b"FLAGS"]


def test_sender_for_imap_appends_to_the_configured_account(
    dovecot_server: DovecotServer, dovecot_user: MailUser
) -> None:
    account = dovecot_server.account(dovecot_user)
    settings = replace(
        make_settings(), accounts=(account,), digest=DigestSettings(delivery="imap", append_account=account.name)
    )
    sender = sender_for(settings)
    assert isinstance(sender, ImapAppendSender)
    sender.send(digest_message())  # password from $KEPT_TEST_PASSWORD, as configured
    assert len(dovecot_server.flags(dovecot_user, "INBOX")) == 1


def test_imap_append_with_wrong_password_is_an_authentication_error(
    dovecot_server: DovecotServer, dovecot_user: MailUser
) -> None:
    account = dovecot_server.account(dovecot_user)
    with pytest.raises(AuthenticationError):
        ImapAppendSender(account, lambda: "wrong").send(digest_message())
    assert dovecot_server.flags(dovecot_user, "INBOX") == {}


def test_imap_append_to_a_missing_folder_is_a_source_error(
    dovecot_server: DovecotServer, dovecot_user: MailUser
) -> None:
    account = dovecot_server.account(dovecot_user, inbox_folder="No Such Folder")
    with pytest.raises(SourceError, match="cannot append the digest"):
        ImapAppendSender(account, lambda: dovecot_user.password).send(digest_message())

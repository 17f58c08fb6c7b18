"""OAuth2 sign-in: SASL XOAUTH2 against a real Dovecot and aiosmtpd, the
token command, and the Microsoft device-code flow through MSAL against a
local HTTPS authority with the token cache in a file-backed keyring."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import keyring
import keyring.backend
import pytest
import ssl
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from dovecot import DovecotServer, free_port
from kept.errors import AuthenticationError, UserError
from kept.mailboxes.factory import source_for
from kept.mailboxes.smtp import SmtpSender, sender_for, smtp_access_token
from kept.oauth2 import IMAP_SCOPES, SMTP_SCOPES, TOKEN_KEYRING_SERVICE, cached_access_token, device_sign_in
from kept.secrets import access_token_for, password_for
from kept.settings import DigestSettings, ImapAccount, MaildirAccount, OAuth2Settings, Settings, SmtpSettings

GOOD_TOKEN = "ya29.good-token"


class TokenInfo:
    """A tiny OAuth2 tokeninfo endpoint Dovecot's oauth2 passdb asks about each token."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.asked: list[str] = []
        info = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                token = parse_qs(urlsplit(self.path).query).get("access_token", [""])[0]
                info.asked.append(token)
                user = info.tokens.get(token)
                body = json.dumps({"active": True, "username": user} if user else {"active": False}).encode()
                self.send_response(200 if user else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/tokeninfo?access_token="

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture(scope="module")
def oauth_dovecot(tmp_path_factory) -> Iterator[tuple[DovecotServer, TokenInfo]]:
    """A second Dovecot whose passdb accepts XOAUTH2 tokens known to `TokenInfo`."""
    info = TokenInfo()
    extension = tmp_path_factory.mktemp("oauth2") / "oauth2.conf.ext"
    extension.write_text(
        f"tokeninfo_url = {info.url}\nusername_attribute = username\n"
        "active_attribute = active\nactive_value = true\n"
    )
    extension.chmod(0o644)
    extension.parent.chmod(0o755)
    try:
        server = DovecotServer.start(
            extra_config=(
                "auth_mechanisms = plain login xoauth2 oauthbearer\n"
                "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                f"  args = {extension}\n}}\n"
            )
        )
    except FileNotFoundError as error:
        info.stop()
        pytest.fail(str(error), pytrace=False)
    try:
        yield server, info
    finally:
        server.stop()
        info.stop()


@pytest.mark.dovecot
def test_imap_xoauth2_with_token_command_against_dovecot(oauth_dovecot, tmp_path) -> None:
    server, info = oauth_dovecot
    user = server.new_user()
    info.tokens[GOOD_TOKEN] = user.name
    server.create_folder(user, "Sent")
    server.append(user, "INBOX", b"From: a@example.org\r\nSubject: hi\r\nMessage-ID: <x1@example.org>\r\n\r\nhello\r\n")
    script = tmp_path / "token.sh"
    script.write_text(f"#!/bin/sh\necho '  {GOOD_TOKEN}  '\n")
    script.chmod(0o700)
    account = server.account(user, auth="oauth2", password_env=None, token_command=str(script))
    with source_for(account) as source:
        inbox = next(f for f in source.folders() if f.role == "received")
        batches = list(source.fetch(inbox, None))
    assert [m.data[:7] for b in batches for m in b.messages] == [b"From: a"]
    assert info.asked[-1] == GOOD_TOKEN  # spaces around the printed token are not part of it


@pytest.mark.dovecot
def test_imap_xoauth2_refused_token_names_the_fix(oauth_dovecot) -> None:
    server, _info = oauth_dovecot
    user = server.new_user()
    account = server.account(user, auth="oauth2", password_env=None, token_command="echo expired-token")
    with pytest.raises(AuthenticationError) as caught:
        source_for(account).__enter__()
    assert "kept auth" in caught.value.hint and "expired-token" not in str(caught.value)


def test_token_command_failure_is_a_user_error() -> None:
    account = ImapAccount(name="gmail", host="imap.gmail.com", auth="oauth2", token_command="echo nope >&2; exit 3")
    with pytest.raises(UserError, match="token_command failed with exit status 3: nope"):
        access_token_for(account, IMAP_SCOPES)


# -- SMTP XOAUTH2 -------------------------------------------------------------


class XOAuth2Handler:
    """aiosmtpd handler that implements AUTH XOAUTH2 and records deliveries."""

    def __init__(self) -> None:
        self.logins: list[tuple[str, str]] = []
        self.messages: list[bytes] = []

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:  # noqa: N802
        raw = base64.b64decode(args[1]).decode()
        fields = dict(part.split("=", 1) for part in raw.split("\x01") if part)
        user, token = fields["user"], fields["auth"].removeprefix("Bearer ")
        self.logins.append((user, token))
        return AuthResult(success=token == GOOD_TOKEN, handled=False, auth_data=user)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def xoauth2_smtp(tmp_path) -> Iterator[tuple[Controller, XOAuth2Handler, Path]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    handler = XOAuth2Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True)
    controller.start()
    yield controller, handler, cert
    controller.stop()


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = message["To"] = "sam@example.com"
    message["Subject"] = "kept digest"
    message.set_content("nothing due")
    return message


def test_smtp_xoauth2_with_token_command(xoauth2_smtp, tmp_path) -> None:
    controller, handler, cert = xoauth2_smtp
    smtp = SmtpSettings(host="127.0.0.1", port=controller.port, security="starttls", username="sam@example.com",
                        ca_file=cert, timeout=10.0, auth="oauth2", token_command=f"echo {GOOD_TOKEN}")
    settings = Settings(path=tmp_path / "c.toml", addresses=("sam@example.com",), database=tmp_path / "db.json",
                        digest=DigestSettings(smtp=smtp))
    sender_for(settings).send(_message())
    assert handler.logins == [("sam@example.com", GOOD_TOKEN)]
    assert len(handler.messages) == 1


def test_smtp_xoauth2_refused(xoauth2_smtp) -> None:
    controller, handler, cert = xoauth2_smtp
    smtp = SmtpSettings(host="127.0.0.1", port=controller.port, security="starttls", username="sam@example.com",
                        ca_file=cert, timeout=10.0, auth="oauth2")
    with pytest.raises(AuthenticationError):
        SmtpSender(smtp, lambda: "stale").send(_message())
    assert handler.messages == []


# -- keyring --------------------------------------------------------------------


class FileKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend storing entries in one JSON file (tests only)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\x00{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\x00{username}"] = password
        self.path.write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}\x00{username}", None)
        self.path.write_text(json.dumps(data))


@pytest.fixture
def file_keyring(tmp_path) -> Iterator[FileKeyring]:
    previous = keyring.get_keyring()
    backend = FileKeyring(tmp_path / "keyring.json")
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_password_from_keyring(file_keyring) -> None:
    account = ImapAccount(name="work", host="imap.example.com", password_keyring=True)
    with pytest.raises(UserError, match="keyring set kept work"):
        password_for(account)
    keyring.set_password("kept", "work", "from the keyring")
    assert password_for(account) == "from the keyring"


# -- Microsoft device-code flow through MSAL --------------------------------------


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


class FakeAuthority:
    """An HTTPS server answering the Microsoft identity platform endpoints MSAL
    uses for the device-code flow: OpenID discovery, devicecode and token."""

    TENANT = "contoso-tenant"

    def __init__(self, cert: Path, key: Path, client_id: str) -> None:
        self.client_id = client_id
        self.approved = False
        self.grants: list[str] = []
        self.refresh_tokens = 0
        authority = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                base = authority.base
                if self.path.endswith("/.well-known/openid-configuration"):
                    self._json(200, {
                        "issuer": f"{base}/{authority.TENANT}/v2.0",
                        "authorization_endpoint": f"{base}/{authority.TENANT}/oauth2/v2.0/authorize",
                        "token_endpoint": f"{base}/{authority.TENANT}/oauth2/v2.0/token",
                        "device_authorization_endpoint": f"{base}/{authority.TENANT}/oauth2/v2.0/devicecode",
                    })
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path.endswith("/devicecode"):
                    self._json(200, {
                        "device_code": "device-123", "user_code": "ABCD-EFGH",
                        "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900,
                        "interval": 0,
                        "message": "To sign in, use a web browser to open the page "
                                   "https://microsoft.com/devicelogin and enter the code ABCD-EFGH to authenticate.",
                    })
                    return
                grant = form.get("grant_type", "")
                authority.grants.append(grant)
                if grant.endswith("device_code"):
                    if not authority.approved:
                        authority.approved = True  # the user types the code while kept polls
                        self._json(400, {"error": "authorization_pending", "error_description": "pending"})
                        return
                elif grant == "refresh_token":
                    if form.get("refresh_token") != f"refresh-{authority.refresh_tokens}":
                        self._json(400, {"error": "invalid_grant", "error_description": "AADSTS70008: expired"})
                        return
                else:
                    self._json(400, {"error": "unsupported_grant_type"})
                    return
                authority.refresh_tokens += 1
                now = int(time.time())
                self._json(200, {
                    "token_type": "Bearer", "scope": " ".join(IMAP_SCOPES), "expires_in": 3600,
                    "access_token": f"access-{authority.refresh_tokens}",
                    "refresh_token": f"refresh-{authority.refresh_tokens}",
                    "client_info": base64.urlsafe_b64encode(
                        json.dumps({"uid": "user-oid", "utid": authority.TENANT}).encode()).decode().rstrip("="),
                    "id_token": _jwt({
                        "aud": authority.client_id, "iss": f"{authority.base}/{authority.TENANT}/v2.0",
                        "iat": now, "nbf": now, "exp": now + 3600, "oid": "user-oid", "tid": authority.TENANT,
                        "sub": "subject", "preferred_username": "sam@contoso.example",
                    }),
                })

            def _json(self, status: int, data: dict[str, Any]) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        self._http.socket = context.wrap_socket(self._http.socket, server_side=True)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.base = f"https://127.0.0.1:{self._http.server_address[1]}"

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def authority(tmp_path) -> Iterator[tuple[FakeAuthority, Path]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    server = FakeAuthority(cert, key, "client-1")
    yield server, cert
    server.stop()


def test_device_flow_stores_refresh_token_in_keyring_and_refreshes_silently(
    file_keyring, authority, monkeypatch
) -> None:
    server, cert = authority
    # requests lets these variables override an explicit CA file.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    oauth2 = OAuth2Settings(client_id="client-1", tenant=FakeAuthority.TENANT, authority_host=server.base)
    with pytest.raises(AuthenticationError, match="kept auth m365"):
        cached_access_token("m365", oauth2, IMAP_SCOPES, verify=str(cert))
    shown: list[str] = []
    user = device_sign_in("m365", oauth2, IMAP_SCOPES, show=shown.append, verify=str(cert))
    assert user == "sam@contoso.example"
    assert "ABCD-EFGH" in shown[0]
    stored = keyring.get_password(TOKEN_KEYRING_SERVICE, "m365")
    assert stored and "refresh-1" in stored and "access-1" in stored
    # The cached access token is still valid: no network round trip needed.
    assert cached_access_token("m365", oauth2, IMAP_SCOPES, verify=str(cert)) == "access-1"
    # Once it has expired, MSAL refreshes silently and the rotated refresh token is saved.
    cache = json.loads(stored)
    for entry in cache["AccessToken"].values():
        entry["expires_on"] = entry["extended_expires_on"] = str(int(time.time()) - 10)
    keyring.set_password(TOKEN_KEYRING_SERVICE, "m365", json.dumps(cache))
    assert cached_access_token("m365", oauth2, IMAP_SCOPES, verify=str(cert)) == "access-2"
    assert "refresh-2" in keyring.get_password(TOKEN_KEYRING_SERVICE, "m365")
    assert server.grants.count("refresh_token") == 1


def test_smtp_reuses_the_sign_in_of_the_account_named_by_oauth2_account(
    file_keyring, authority, monkeypatch, tmp_path
) -> None:
    server, cert = authority
    # smtp_access_token verifies TLS the default way; trust the fake authority through requests.
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    oauth2 = OAuth2Settings(client_id="client-1", tenant=FakeAuthority.TENANT, authority_host=server.base)
    device_sign_in("m365", oauth2, IMAP_SCOPES + SMTP_SCOPES, show=lambda text: None, verify=str(cert))
    accounts = (
        MaildirAccount(name="local", path=tmp_path),
        ImapAccount(name="other", host="imap.example.com", auth="oauth2", oauth2=oauth2),
        ImapAccount(name="m365", host="outlook.office365.com", auth="oauth2", oauth2=oauth2),
    )
    smtp = SmtpSettings(host="smtp.office365.com", auth="oauth2", oauth2_account="m365")
    assert smtp_access_token(smtp, accounts).startswith("access-")
    # "other" shares the app registration but was never signed in: its own keyring entry is empty.
    with pytest.raises(AuthenticationError, match="kept auth other"):
        smtp_access_token(SmtpSettings(host="smtp.office365.com", auth="oauth2", oauth2_account="other"), accounts)
    # A Maildir account has no sign-in to reuse.
    with pytest.raises(UserError, match="no token source"):
        smtp_access_token(SmtpSettings(host="smtp.office365.com", auth="oauth2", oauth2_account="local"), accounts)

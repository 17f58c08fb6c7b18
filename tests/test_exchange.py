"""ExchangeSource beyond the shared contract: login errors, the bounded rescan,
read-only traffic, a named sent folder, credentials and the opt-in live test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from ews_server import EwsServer

from kept.config import load_settings
from kept.errors import AuthenticationError, SourceError, UserError
from kept.extractors.message import parse_message
from kept.mailboxes.exchange import ExchangeSource, credentials_factory
from kept.mailboxes.factory import source_for
from kept.settings import ExchangeAccount, OAuth2Settings

READ_OPERATIONS = {"ConvertId", "GetFolder", "FindFolder", "SyncFolderItems", "GetItem"}


def message(number: int) -> bytes:
    return (
        f"From: Dana <dana@example.org>\r\nTo: sam@example.com\r\nSubject: note {number}\r\n"
        f"Message-ID: <n{number}@example.org>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n"
        f"Could you send me the figures by Friday? ({number})\r\n"
    ).encode()


@pytest.fixture
def server() -> Iterator[EwsServer]:
    server = EwsServer().start()
    yield server
    server.stop()


@pytest.fixture
def account(server: EwsServer, monkeypatch: pytest.MonkeyPatch) -> ExchangeAccount:
    monkeypatch.setenv("KEPT_TEST_EWS_PASSWORD", server.password)
    return ExchangeAccount(
        name="office",
        email=server.email,
        username=server.username,
        auth="basic",
        service_endpoint=server.url,
        password_env="KEPT_TEST_EWS_PASSWORD",
        timeout=10.0,
    )


def test_wrong_password_is_an_authentication_error(account, server, monkeypatch) -> None:
    monkeypatch.setenv("KEPT_TEST_EWS_PASSWORD", "not the password")
    with pytest.raises(AuthenticationError) as info:
        source_for(account).__enter__()
    assert "office" in str(info.value) and "not the password" not in str(info.value)
    assert info.value.hint


def test_server_down_is_a_source_error(account, server) -> None:
    server.stop()
    with pytest.raises(SourceError, match="office"):
        source_for(account).__enter__()


def test_only_read_operations_are_sent(account, server) -> None:
    for n in range(3):
        server.add("inbox", message(n))
        server.add("sentitems", message(10 + n))
    with source_for(account) as source:
        for folder in source.folders():
            source.pending(folder, None)
            for _batch in source.fetch(folder, None, batch_size=2):
                pass
    assert set(server.operations) <= READ_OPERATIONS
    assert "GetItem" in server.operations and "SyncFolderItems" in server.operations


def test_messages_parse_like_any_other_source(account, server) -> None:
    server.add("inbox", message(1))
    with source_for(account) as source:
        (batch,) = list(source.fetch(source.folders()[0], None))
    parsed = parse_message(batch.messages[0], account="office", role="received", folder="Inbox")
    assert parsed.subject == "note 1"
    assert parsed.message_id == "<n1@example.org>"
    assert not parsed.problems


def test_expired_sync_state_rescans_only_recent_days(account, server) -> None:
    now = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    server.add("inbox", message(1), received=now - timedelta(days=90))
    server.add("inbox", message(2), received=now - timedelta(days=3))
    source = ExchangeSource(account, lambda: credentials_factory(account), now=lambda: now)
    with source:
        folder = source.folders()[0]
        first = list(source.fetch(folder, None))
        assert [m.data for b in first for m in b.messages] == [message(1), message(2)]
        server.invalidate_sync_state("inbox")
        again = list(source.fetch(folder, first[-1].cursor))
        # Only the message within rescan_days (30) is downloaded again ...
        assert [m.data for b in again for m in b.messages] == [message(2)]
        assert again and all(batch.reset for batch in again)
        # ... and the fresh sync state holds.
        assert list(source.fetch(folder, again[-1].cursor)) == []


def test_named_sent_folder_and_a_missing_one(account, server) -> None:
    named = ExchangeAccount(**{**_fields(account), "sent_folder": "sent items"})
    with source_for(named) as source:
        assert [f.role for f in source.folders()] == ["received", "sent"]
    missing = ExchangeAccount(**{**_fields(account), "sent_folder": "Gesendete Elemente"})
    with source_for(missing) as source, pytest.raises(UserError, match="Gesendete Elemente"):
        source.folders()


def test_credentials_for_each_auth_method(account, monkeypatch) -> None:
    from exchangelib import Credentials, OAuth2AuthorizationCodeCredentials, OAuth2Credentials

    basic = credentials_factory(account)
    assert isinstance(basic, Credentials) and basic.username == account.username
    delegated = ExchangeAccount(
        **{**_fields(account), "auth": "oauth2", "password_env": None, "token_command": "echo tok-123"}
    )
    token = credentials_factory(delegated)
    assert isinstance(token, OAuth2AuthorizationCodeCredentials)
    assert token.access_token["access_token"] == "tok-123"
    monkeypatch.setenv("KEPT_TEST_EWS_PASSWORD", "client-secret")
    app = ExchangeAccount(
        **{**_fields(account), "auth": "oauth2-app", "oauth2": OAuth2Settings("client-id", "contoso.example")}
    )
    client = credentials_factory(app)
    assert isinstance(client, OAuth2Credentials)
    assert (client.client_id, client.client_secret, client.tenant_id) == (
        "client-id", "client-secret", "contoso.example",
    )
    assert "client-secret" not in repr(client)


def _fields(account: ExchangeAccount) -> dict[str, object]:
    return {name: getattr(account, name) for name in ExchangeAccount.__slots__}


LIVE_HELP = (
    "set KEPT_LIVE_EWS=/path/to/config.toml (a kept config with one [accounts.NAME] "
    'type = "exchange" section for a real Exchange mailbox) to run this read-only test'
)


@pytest.mark.skipif(not os.environ.get("KEPT_LIVE_EWS"), reason=LIVE_HELP)
def test_live_exchange_server() -> None:
    settings = load_settings(Path(os.environ["KEPT_LIVE_EWS"]))
    accounts = [a for a in settings.accounts if isinstance(a, ExchangeAccount)]
    assert accounts, f"{os.environ['KEPT_LIVE_EWS']} has no type = \"exchange\" account"
    with source_for(accounts[0]) as source:
        folders = source.folders()
        assert {f.role for f in folders} == {"received", "sent"}
        sent = next(f for f in folders if f.role == "sent")
        batches = source.fetch(sent, None, batch_size=5)
        first = next(batches, None)
        if first is not None and first.messages:
            parsed = parse_message(first.messages[0], account=accounts[0].name, role="sent", folder=sent.name)
            assert parsed.message_id


@pytest.fixture
def tls_server(tmp_path) -> Iterator[EwsServer]:
    from dovecot import _make_certificate

    _make_certificate(tmp_path)
    server = EwsServer(tls_dir=tmp_path).start()
    yield server
    server.stop()


def tls_account(server: EwsServer, monkeypatch: pytest.MonkeyPatch, **fields: object) -> ExchangeAccount:
    monkeypatch.setenv("KEPT_TEST_EWS_PASSWORD", server.password)
    return ExchangeAccount(
        name="onprem", email=server.email, username=server.username, auth="basic",
        service_endpoint=server.url, password_env="KEPT_TEST_EWS_PASSWORD", timeout=10.0,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_self_signed_server_needs_its_certificate(tls_server, tmp_path, monkeypatch, caplog) -> None:
    untrusted = tls_account(tls_server, monkeypatch)
    with pytest.raises(SourceError):
        source_for(untrusted).__enter__()
    trusted = tls_account(tls_server, monkeypatch, ca_file=tmp_path / "cert.pem")
    with source_for(trusted) as source:
        assert {f.role for f in source.folders()} == {"received", "sent"}
    skipped = tls_account(tls_server, monkeypatch, verify_tls=False)
    with caplog.at_level("WARNING"), source_for(skipped) as source:
        assert source.folders()
    assert "verification is OFF" in caplog.text

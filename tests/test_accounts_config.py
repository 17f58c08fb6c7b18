"""Account configuration: provider presets, Exchange and OAuth2 keys, the
plaintext-password policy and what `kept check` says about sign-in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kept.config import load_settings
from kept.errors import ConfigError
from kept.presets import PRESETS, render_config
from kept.secrets import mechanism
from kept.settings import ExchangeAccount, ImapAccount

BASE = """
[kept]
addresses = ["sam@rivera.example"]

"""


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("provider", sorted(PRESETS))
def test_every_preset_is_a_valid_config(provider, tmp_path) -> None:
    settings = load_settings(write(tmp_path, render_config(provider, "sam@rivera.example")))
    (account,) = settings.accounts
    assert account.name == provider
    assert settings.digest.smtp is not None


def test_preset_details(tmp_path) -> None:
    gmail = load_settings(write(tmp_path, render_config("gmail", "sam@gmail.com"))).accounts[0]
    assert isinstance(gmail, ImapAccount)
    assert (gmail.host, gmail.port, gmail.sent_folder, gmail.username) == (
        "imap.gmail.com", 993, "[Gmail]/Sent Mail", "sam@gmail.com")
    icloud = load_settings(write(tmp_path, render_config("icloud", "sam@icloud.com"))).accounts[0]
    assert icloud.sent_folder == "Sent Messages"
    outlook_settings = load_settings(write(tmp_path, render_config("outlook", "sam@contoso.com")))
    outlook = outlook_settings.accounts[0]
    assert outlook.auth == "oauth2" and outlook.oauth2 is not None and outlook.sent_folder == "Sent Items"
    assert outlook_settings.digest.smtp.auth == "oauth2"
    exchange = load_settings(write(tmp_path, render_config("exchange", "sam@corp.example"))).accounts[0]
    assert isinstance(exchange, ExchangeAccount)
    assert (exchange.auth, exchange.username) == ("ntlm", "DOMAIN\\sam")


def test_kept_init_with_provider_writes_a_private_file(tmp_path) -> None:
    path = tmp_path / "conf" / "config.toml"
    done = subprocess.run(
        [sys.executable, "-m", "kept.cli", "init", "--config", str(path), "--provider", "gmail",
         "--address", "sam@gmail.com"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "[Gmail]/Sent Mail" in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600


EXCHANGE = BASE + """
[accounts.corp]
type = "exchange"
email = "sam@corp.example"
username = "CORP\\\\sam"
service_endpoint = "https://mail.corp.example/EWS/Exchange.asmx"
password_env = "CORP_PASSWORD"
"""


def test_exchange_account(tmp_path) -> None:
    (account,) = load_settings(write(tmp_path, EXCHANGE)).accounts
    assert isinstance(account, ExchangeAccount)
    assert (account.username, account.auth, account.rescan_days) == ("CORP\\sam", "ntlm", 30)
    assert mechanism(account) == "NTLM password from environment variable CORP_PASSWORD"


def test_exchange_problems_are_listed(tmp_path) -> None:
    text = EXCHANGE.replace('password_env = "CORP_PASSWORD"', 'auth = "kerberos"').replace(
        "https://mail.corp.example", "mail.corp.example")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    problems = "\n".join(info.value.problems)
    assert "key 'auth' = 'kerberos'" in problems
    assert "key 'service_endpoint'" in problems
    app = EXCHANGE.replace('password_env = "CORP_PASSWORD"', 'auth = "oauth2-app"\npassword_env = "S"')
    with pytest.raises(ConfigError, match="oauth2_client_id' is required|key 'oauth2_client_id'"):
        load_settings(write(tmp_path, app))


IMAP = BASE + """
[accounts.home]
host = "imap.example.com"
username = "sam"
"""


def test_plaintext_password_needs_consent_and_a_private_file(tmp_path) -> None:
    text = IMAP + 'password = "hunter2"\n'
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert "allow_plaintext_password" in str(info.value) and "hunter2" not in str(info.value)
    consented = text + "allow_plaintext_password = true\n"
    with pytest.raises(ConfigError, match="chmod 600"):
        load_settings(write(tmp_path, consented, mode=0o644))
    (account,) = load_settings(write(tmp_path, consented, mode=0o600)).accounts
    assert account.password == "hunter2" and "hunter2" not in repr(account)
    assert mechanism(account) == "plaintext password in the config file"


def test_one_password_source_only(tmp_path) -> None:
    text = IMAP + 'password_env = "A"\npassword_keyring = true\n'
    with pytest.raises(ConfigError, match="set only one of password_env, password_keyring"):
        load_settings(write(tmp_path, text))


def test_oauth2_needs_a_token_source(tmp_path) -> None:
    with pytest.raises(ConfigError, match="neither token_command nor oauth2_client_id"):
        load_settings(write(tmp_path, IMAP + 'auth = "oauth2"\n'))
    (account,) = load_settings(write(tmp_path, IMAP + 'auth = "oauth2"\ntoken_command = "x"\n')).accounts
    assert account.auth == "oauth2" and mechanism(account) == "OAuth2 access token from token_command"
    (account,) = load_settings(write(tmp_path, IMAP + 'auth = "oauth2"\noauth2_client_id = "abc"\n')).accounts
    assert "kept auth home" in mechanism(account)


def test_smtp_oauth2_account_must_be_signed_in(tmp_path) -> None:
    text = IMAP + 'password_env = "P"\n\n[digest.smtp]\nhost = "smtp.example.com"\nusername = "sam"\n' \
        'auth = "oauth2"\noauth2_account = "home"\n'
    with pytest.raises(ConfigError, match="oauth2_account"):
        load_settings(write(tmp_path, text))


def test_per_account_digest_key(tmp_path) -> None:
    text = IMAP + 'password_env = "P"\n\n[digest]\nper_account = true\ndelivery = "imap"\nappend_account = "home"\n'
    assert load_settings(write(tmp_path, text)).digest.per_account is True

"""Setting kept up on a machine without a desktop: no keyring, the system's
time zone, ``kept init --address`` without ``--provider`` (issue 17)."""

from __future__ import annotations

import os
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from kept.cli import main
from kept.config import load_settings
from kept.presets import PRESETS, render_config, render_example, system_timezone
from kept.secrets import keyring_usable

ZONEINFO = Path("/usr/share/zoneinfo")


class DictKeyring(KeyringBackend):
    """A working keyring backend that keeps secrets in a dict (what a desktop session offers)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


@pytest.fixture
def backend():
    """Set the keyring backend for one test; the one before comes back after."""
    before = keyring.get_keyring()
    yield keyring.set_keyring
    keyring.set_keyring(before)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_keyring_usable_tells_a_working_backend_from_the_fail_backend(backend):
    backend(fail.Keyring())
    assert keyring_usable() is False
    backend(DictKeyring())
    assert keyring_usable() is True


@pytest.mark.parametrize("provider", sorted(PRESETS))
def test_without_a_keyring_presets_take_the_password_from_a_command(provider, tmp_path):
    text = render_config(provider, "sam@rivera.example", keyring=False)
    assert "password_keyring" not in text and "keyring set" not in text
    settings = load_settings(write(tmp_path, text))
    (account,) = settings.accounts
    if PRESETS[provider].account.get("password_keyring"):
        assert account.password_command == "pass show mail/sam@rivera.example"
        assert settings.digest.smtp is not None
        assert settings.digest.smtp.password_command == "pass show mail/sam@rivera.example"
        assert "#   pass insert mail/sam@rivera.example" in text
        assert f'password_command = "secret-tool lookup service kept account {provider}"' in text
    else:
        assert "no usable system keyring" in text  # outlook: `kept auth` needs one for its token


@pytest.mark.parametrize("provider", ["gmail", "fastmail", "icloud", "imap", "exchange"])
def test_with_a_keyring_presets_keep_using_it(provider, tmp_path):
    text = render_config(provider, "sam@rivera.example", keyring=True)
    (account,) = load_settings(write(tmp_path, text)).accounts
    assert account.password_keyring and not account.password_command
    assert f"keyring set kept {provider}   and   keyring set kept digest.smtp" in text


def test_kept_init_asks_the_keyring_library(tmp_path, backend, monkeypatch, capsys):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    backend(fail.Keyring())
    headless = tmp_path / "headless.toml"
    assert main(["init", "--config", str(headless), "--provider", "fastmail", "--address", "sam@fastmail.example"]) == 0
    assert 'password_command = "pass show mail/sam@fastmail.example"' in headless.read_text()
    backend(DictKeyring())
    desktop = tmp_path / "desktop.toml"
    assert main(["init", "--config", str(desktop), "--provider", "fastmail", "--address", "sam@fastmail.example"]) == 0
    assert "password_keyring = true" in desktop.read_text()
    for path in (headless, desktop):
        assert load_settings(path).timezone == "Europe/Berlin"


def test_kept_init_without_provider_writes_the_address_and_the_zone(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TZ", "America/Chicago")
    path = tmp_path / "config.toml"
    assert main(["init", "--config", str(path), "--address", "sam@rivera.example"]) == 0
    assert "time zone America/Chicago" in capsys.readouterr().out
    settings = load_settings(path)
    assert settings.addresses == ("sam@rivera.example",)
    assert settings.timezone == "America/Chicago"
    assert "you@example.com" not in path.read_text()


def test_kept_init_refuses_an_address_that_would_break_the_file(tmp_path, capsys):
    path = tmp_path / "config.toml"
    assert main(["init", "--config", str(path), "--address", 'sam@x.org"\n[accounts.evil]']) == 1
    assert not path.exists()
    assert "is not an e-mail address" in capsys.readouterr().err


def test_the_example_without_an_address_keeps_the_placeholder_that_kept_check_refuses():
    text = render_example(timezone="Asia/Tokyo")
    assert 'addresses = ["you@example.com"]' in text and 'timezone = "Asia/Tokyo"' in text


# -- the system's time zone -------------------------------------------------------


def fake_root(tmp_path: Path, localtime: str | None = None, timezone_file: str | None = None) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    if localtime is not None:
        os.symlink(localtime, etc / "localtime")
    if timezone_file is not None:
        (etc / "timezone").write_text(timezone_file + "\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("environ", "localtime", "timezone_file", "expected"), [
    ({}, str(ZONEINFO / "America/New_York"), None, "America/New_York"),
    ({}, "../usr/share/zoneinfo/Europe/Lisbon", None, "Europe/Lisbon"),
    ({}, str(ZONEINFO / "posix/Asia/Kolkata"), None, "Asia/Kolkata"),
    ({"TZ": "Europe/Berlin"}, str(ZONEINFO / "America/New_York"), None, "Europe/Berlin"),
    ({"TZ": ":" + str(ZONEINFO / "Asia/Tokyo")}, None, None, "Asia/Tokyo"),
    ({"TZ": "CET-1CEST"}, None, "Europe/Vienna", "Europe/Vienna"),  # a POSIX rule is no IANA name
    ({}, None, "Australia/Sydney", "Australia/Sydney"),
    ({}, "/etc/some-copy", "../../etc/passwd", "UTC"),
    ({}, None, None, "UTC"),
])
def test_system_timezone(tmp_path, environ, localtime, timezone_file, expected):
    root = fake_root(tmp_path, localtime, timezone_file)
    assert system_timezone(environ, root) == expected

"""The config file: validated as a whole, every problem listed with a fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kept.config import load_settings, parse_settings
from kept.errors import ConfigError
from kept.settings import ImapAccount, MaildirAccount

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
[kept]
addresses = ["Me@Home.Example", "alias@work.example"]
timezone = "Europe/Berlin"
database = "state/kept.json"

[promises.horizon_days]
deliver = 5

[accounts.work]
type = "imap"
host = "imap.example.com"
username = "me"
password_command = "echo secret"

[accounts.local]
type = "maildir"
path = "~/Mail"
sent = ".Sent"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_complete_but_for_your_address(tmp_path):
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(ROOT / "config.example.toml")
    assert info.value.problems == [
        "[kept] key 'addresses' = ['you@example.com']: 'you@example.com' is a placeholder, not your address; "
        "fix: put your own address here",
    ]
    settings = load_settings(write(tmp_path, example.replace("you@example.com", "me@home.example")))
    assert settings.addresses == ("me@home.example",)
    assert [a.name for a in settings.accounts] == ["work"]


@pytest.mark.parametrize(("section", "value"), [
    ("kept", 'addresses = ["me@home.example", "you@example.com"]'),
    ("kept", 'addresses = ["anna@mail.example.org"]'),
    ("kept", 'addresses = ["user@domain"]'),
    ("kept", 'addresses = ["you@yourdomain.com"]'),
    ("kept", 'addresses = ["me@company.tld"]'),
    ("digest", 'to = "me@example.net"'),
])
def test_placeholder_addresses_are_configuration_errors(tmp_path, section, value):
    text = GOOD.replace('addresses = ["Me@Home.Example", "alias@work.example"]', "")
    text = text.replace(f"[{section}]", f"[{section}]\n{value}") if f"[{section}]" in text else \
        text + f"\n[{section}]\n{value}\n"
    if section != "kept":
        text = text.replace("[kept]", '[kept]\naddresses = ["me@home.example"]')
    with pytest.raises(ConfigError, match="is a placeholder, not your address|is not a complete address"):
        load_settings(write(tmp_path, text))


def test_real_addresses_at_look_alike_domains_are_fine(tmp_path):
    text = GOOD.replace('"alias@work.example"', '"anna@example.co.uk", "bo@myexample.com", "cy@corp.test"')
    assert len(load_settings(write(tmp_path, text)).addresses) == 4


def test_good_config_becomes_typed_settings(tmp_path):
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.addresses == ("me@home.example", "alias@work.example")
    assert settings.database == tmp_path / "state" / "kept.json"
    assert settings.promises.default_horizon_days["deliver"] == 5
    assert settings.promises.default_horizon_days["call-or-meet"] == 14
    work, local = settings.accounts
    assert isinstance(work, ImapAccount) and work.port == 993 and work.verify_tls
    assert isinstance(local, MaildirAccount) and local.path == Path("~/Mail").expanduser()


def test_starttls_defaults_to_port_143(tmp_path):
    text = GOOD.replace('type = "imap"', 'type = "imap"\nsecurity = "starttls"')
    work = load_settings(write(tmp_path, text)).accounts[0]
    assert work.port == 143


def test_every_problem_is_listed_at_once(tmp_path):
    text = """
[kept]
adresses = ["me@x.org"]
timezone = "Europe/Berln"
[promises.horizon_days]
delivr = 3
[accounts.work]
type = "imap"
host = "x"
prot = 993
security = "ssl"
username = "me"
[acounts]
"""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    problems = info.value.problems
    text = "\n".join(problems)
    assert "did you mean 'addresses'" in text
    assert "[kept] key 'addresses': is required" in text
    assert "'Europe/Berln': not a known time zone" in text
    assert "did you mean 'deliver'" in text
    assert "did you mean 'port'" in text
    assert "[accounts.work] key 'security' = 'ssl'" in text
    assert "no password source" in text
    assert "did you mean [accounts]" in text
    assert len(problems) == 8
    assert str(tmp_path / "config.toml") in str(info.value)


def test_types_are_checked(tmp_path):
    text = GOOD.replace('timezone = "Europe/Berlin"', 'timezone = "UTC"\nmax_message_mb = true')
    with pytest.raises(ConfigError, match="max_message_mb' = True: must be"):
        load_settings(write(tmp_path, text))


def test_plain_password_key_is_unknown(tmp_path):
    text = GOOD.replace('password_command = "echo secret"', 'password = "hunter2"')
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert "hunter2" not in str(info.value).split("key 'password'")[0]
    assert "[accounts.work] key 'password'" in str(info.value)


def test_insecure_skip_verify_is_explicit(tmp_path):
    text = GOOD.replace('password_command = "echo secret"', 'password_command = "x"\ninsecure_skip_verify = true')
    assert load_settings(write(tmp_path, text)).accounts[0].verify_tls is False


def test_missing_file_and_bad_toml_are_user_errors(tmp_path):
    with pytest.raises(ConfigError, match="kept init"):
        load_settings(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[kept\n"))


def test_no_accounts_is_a_problem(tmp_path):
    with pytest.raises(ConfigError, match="no account configured"):
        parse_settings({"kept": {"addresses": ["a@b.c"]}}, tmp_path / "c.toml")


def test_default_database_is_in_platform_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    text = GOOD.replace('database = "state/kept.json"\n', "")
    settings = load_settings(write(tmp_path, text))
    assert settings.database == tmp_path / "state" / "kept" / "kept.json"
    assert os.fspath(settings.database).endswith("kept.json")


def test_state_dir_env_sets_the_default_database(tmp_path, monkeypatch):
    monkeypatch.setenv("KEPT_STATE_DIR", str(tmp_path / "systemd-state"))
    text = GOOD.replace('database = "state/kept.json"\n', "")
    assert load_settings(write(tmp_path, text)).database == tmp_path / "systemd-state" / "kept.json"


def test_exchange_ca_file_needs_an_explicit_endpoint(tmp_path):
    text = """
[kept]
addresses = ["me@corp.example"]
[accounts.office]
type = "exchange"
email = "me@corp.example"
password_env = "X"
ca_file = "corp-ca.pem"
"""
    with pytest.raises(ConfigError, match="ca_file'.*service_endpoint"):
        load_settings(write(tmp_path, text))
    fixed = text.replace('ca_file = "corp-ca.pem"', 'ca_file = "corp-ca.pem"\nservice_endpoint = "https://mail.corp.example/EWS/Exchange.asmx"')
    office = load_settings(write(tmp_path, fixed)).accounts[0]
    assert office.ca_file == tmp_path / "corp-ca.pem" and office.verify_tls


@pytest.mark.parametrize(("value", "workers", "problem"), [
    (None, None, None),
    ('"auto"', None, None),
    ("1", 1, None),
    ("3", 3, None),
    ("0", None, "[scan] key 'workers' = 0: must be 1 or more (1: scan in one process), or \"auto\""),
    ('"two"', None, "[scan] key 'workers' = 'two': must be \"auto\" or a whole number of processes, e.g. 2"),
    ("2.5", None, "[scan] key 'workers' = 2.5: must be a string or a whole number"),
    ("true", None, "[scan] key 'workers' = True: must be a string or a whole number"),
    ("65", None, "[scan] key 'workers' = 65: must be at most 64"),
])
def test_scan_workers_are_auto_or_a_number_of_processes(tmp_path, value, workers, problem):
    text = GOOD + (f"\n[scan]\nworkers = {value}\n" if value is not None else "")
    if problem is None:
        assert load_settings(write(tmp_path, text)).scan.workers == workers
        return
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert info.value.problems == [problem]

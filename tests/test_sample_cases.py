"""The demo mailbox's cases for a first digest worth reading (issue 14), end to end.

Each case of examples/make_sample_mailbox.py that a rule of the first digest
is about is checked here through the command line, as `make demo` shows it:
history, a newsletter without List headers, promises kept by an inline
answer and by a forward to the person named, promises not kept by a forward
to the user's other address or by "Cool.", and a date that beats its weekday.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kept.cli import main
from tests.helpers import demo_config

NOW = "2026-11-20T07:30:00+01:00"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = demo_config(tmp_path_factory.mktemp("cases"))
    assert main(["--config", str(path), "--now", NOW, "scan", "-q"]) == 0
    return path


def run_json(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> object:
    capsys.readouterr()
    assert main(["--config", str(config), "--now", NOW, *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def promise(config: Path, capsys: pytest.CaptureFixture[str], words: str) -> dict[str, object]:
    rows = run_json(config, capsys, "promises", "--all")
    assert isinstance(rows, list)
    [found] = [row for row in rows if words in row["sentence"]]
    return found


def test_an_old_open_promise_is_history(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = run_json(config, capsys, "promises", "--stale")
    assert isinstance(stale, list)
    assert [row["sentence"] for row in stale] == ["I'll send you my notes on the menu prices by Friday."]
    digest = run_json(config, capsys, "digest", "--preview")
    assert isinstance(digest, dict)
    listed = [item.get("sentence") for section in digest["sections"] for item in section["items"]]
    assert stale[0]["sentence"] not in listed
    assert digest["history"]["promises"] == 1


def test_a_promotion_without_list_headers_waits_on_nobody(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    waiting = run_json(config, capsys, "threads", "--waiting-on-me")
    assert isinstance(waiting, list)
    emails = [email for row in waiting for email in row["emails"]]
    assert "maja@nordicsaasday.example" not in emails
    assert "hannah.schulz@stadtwerk-media.example" in emails


def test_an_inline_answer_keeps_the_promise(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = promise(config, capsys, "get back to you with the margin this afternoon")
    assert found["status"] == "kept"
    assert "jonas-margin-answer" in str(found["evidence"])


def test_a_forward_to_the_named_person_keeps_the_promise(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = promise(config, capsys, "forward your message to Hugo Marchetti")
    assert found["status"] == "kept"
    assert "clara-liability-fwd" in str(found["evidence"])


def test_a_forward_to_the_users_other_address_keeps_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = promise(config, capsys, "send you the agenda on Thursday")
    assert found["status"] == "overdue" and found["evidence"] is None


def test_cool_keeps_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = promise(config, capsys, "send you the final copy tomorrow")
    assert found["status"] == "overdue" and found["due"] == "2026-11-12"


def test_a_reply_that_does_what_was_promised_keeps_it(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = promise(config, capsys, "Let me check with the team and get back to you.")
    assert found["status"] == "kept"
    assert "rafael-capacity-answer" in str(found["evidence"])


def test_an_explicit_date_beats_its_weekday(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = promise(config, capsys, "Let's meet on Monday at 4:00 p.m., November 30th")
    assert found["due"] == "2026-11-30" and found["due_is_default"] is False

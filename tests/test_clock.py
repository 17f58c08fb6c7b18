"""Days typed on the command line (`kept.clock.parse_day`): one strict grammar, no guessing.

``kept promises done --before 2026-13-01`` read the impossible date as
13 January and closed every open promise made before it. An invalid date is
now one message and exit code 1, and nothing is changed.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kept.cli import main
from kept.clock import parse_day
from kept.errors import EXIT_USER_ERROR, UserError
from kept.models import Promise
from kept.storage.tinydb_store import TinyDBStore
from tests.helpers import ME, utc

TODAY = date(2026, 6, 10)  # a Wednesday


@pytest.mark.parametrize(("text", "day"), [
    ("2026-12-01", date(2026, 12, 1)),
    (" 2026-1-5 ", date(2026, 1, 5)),
    ("today", TODAY),
    ("yesterday", date(2026, 6, 9)),
    ("friday", date(2026, 6, 5)),
    ("Fri", date(2026, 6, 5)),
    ("last friday", date(2026, 6, 5)),
    ("wednesday", date(2026, 6, 3)),  # the last one before today, not today
    ("12 dec", date(2025, 12, 12)),  # without a year: the last 12 December up to today
    ("Dec 12, 2026", date(2026, 12, 12)),
    ("12th of June", date(2025, 6, 12)),
    ("june 10", TODAY),
    ("last week", date(2026, 6, 3)),
    ("last month", date(2026, 5, 10)),
    ("last year", date(2025, 6, 10)),
    ("3 days ago", date(2026, 6, 7)),
    ("two weeks ago", date(2026, 5, 27)),
    ("a month ago", date(2026, 5, 10)),
])
def test_the_words_it_reads(text: str, day: date) -> None:
    assert parse_day(text, TODAY) == day


def test_a_month_back_from_the_31st_is_the_last_day_of_that_month() -> None:
    assert parse_day("last month", date(2026, 3, 31)) == date(2026, 2, 28)


@pytest.mark.parametrize(("text", "reason"), [
    ("2026-13-01", "month must be in 1..12"),
    ("2026-02-30", "day is out of range for month"),
])
def test_an_impossible_iso_date_is_an_error_not_a_guess(text: str, reason: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_day(text, TODAY)
    assert str(caught.value).startswith(f"--before {text!r} is not a date ({reason})")
    assert "2026-12-01" in str(caught.value)


@pytest.mark.parametrize("text", ["13/01/2026", "01/02/2026", "2026/13/01", "13.01.2026", "1", "13", "2026",
                                  "dec", "june", "12/1", "next year", "31 feb", "someday", "", "friday the 13th"])
def test_what_is_not_in_the_grammar_is_an_error(text: str) -> None:
    """Formerly: 13/01/2026 and 2026/13/01 were 13 January, 01/02/2026 2 January, "1" a day next January."""
    with pytest.raises(UserError, match="is not a date"):
        parse_day(text, TODAY)


def test_the_error_names_the_option() -> None:
    with pytest.raises(UserError, match=r"^--until 'x' is not a date"):
        parse_day("x", TODAY, option="--until")


def test_done_before_an_invalid_date_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The reported bug: 2026-13-01 became 13 January and closed a promise made on the 10th."""
    tmp_path.chmod(0o700)
    config = tmp_path / "config.toml"
    config.write_text(f'[kept]\naddresses = ["{ME}"]\ntimezone = "UTC"\ndatabase = "{tmp_path / "kept.json"}"\n\n'
                      f'[accounts.local]\ntype = "maildir"\npath = "{tmp_path / "mail"}"\n', encoding="utf-8")
    config.chmod(0o600)
    store = TinyDBStore(tmp_path / "kept.json")
    try:
        store.put_promise(Promise(
            id="p000000001", account="local", message_id="<p1@test>", thread_key="t1",
            sentence="I'll send you the article.", action="send you the article", kind="deliver",
            counterparties=("ann@example.org",), made_at=utc(2026, 1, 10), due=date(2026, 1, 20),
            due_is_default=False, confidence=0.9, rule_id="test",
        ))
    finally:
        store.close()
    base = ["--config", str(config), "--now", "2026-06-10T09:00:00+00:00", "promises"]
    for args in (["done", "--before", "2026-13-01"], ["dismiss", "--before", "13/01/2026"], ["--before", "2026-13-01"]):
        capsys.readouterr()
        assert main([*base, *args]) == EXIT_USER_ERROR
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith(f"kept: --before {args[-1]!r} is not a date")
        assert "Traceback" not in captured.err
    store = TinyDBStore(tmp_path / "kept.json")
    try:
        promise = store.get_promise("p000000001")
    finally:
        store.close()
    assert promise is not None and promise.status == "open"
    # A valid day still closes what was made before it.
    assert main([*base, "done", "--before", "jan 11"]) == 0
    assert "1 open promise marked done." in capsys.readouterr().out

"""One date syntax everywhere: the table in docs/commands.md ("Dates") holds for every way in.

Each form the table lists is fed to

* a reply to the digest (``snooze 1 DATE``, `kept.daemon.feedback.parse_commands`),
* ``kept promises snooze ID DATE`` and ``--until DATE`` on the command line,
* ``kept promises --before DATE`` on the command line, counting the
  promises it lists out of one made each day,

and each must give the day the table says (or refuse it, for a snooze, where
the table says "refused"). Before, the reply and the command line's snooze
read "in a month" or "a month ago" differently from ``--before``, which
refused "next week". The forms the page says are not read are errors
everywhere: one message, exit code 1, nothing changed.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from kept.cli import main
from kept.clock import read_day
from kept.daemon.feedback import parse_commands
from kept.errors import EXIT_USER_ERROR
from kept.models import Promise
from kept.storage.tinydb_store import TinyDBStore
from tests.helpers import ME, utc

DOC = Path(__file__).resolve().parents[1] / "docs" / "commands.md"
TODAY = date(2026, 3, 18)  # the table's "today", a Wednesday
NOW = "2026-03-18T09:00:00+00:00"
#: One promise made each day from here (noon UTC) for `--before` to count.
FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2027, 6, 30)


def dates_section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("\n## Dates\n")
    return text[start:text.index("\n## ", start + 1)]


def table_rows() -> list[tuple[str, str, str]]:
    """(what you write, snooze cell, --before cell) for each form the table lists."""
    rows = []
    for line in dates_section().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.search(r"\d{4}-\d\d-\d\d", cells[1]):
            continue
        rows.extend((form, cells[1], cells[2]) for form in re.findall(r"`([^`]+)`", cells[0]))
    return rows


def not_read() -> list[str]:
    """The forms the page says are not dates."""
    paragraph = dates_section().split("Nothing else\nis read as a date", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"`([^`]+)`", paragraph)


def day_in(cell: str) -> date:
    found = re.search(r"\d{4}-\d\d-\d\d", cell)
    assert found, cell
    return date.fromisoformat(found.group(0))


ROWS = table_rows()


def test_the_table_is_read() -> None:
    """The parsing above finds the page's table, so the tests below cannot pass on nothing."""
    forms = [form for form, _, _ in ROWS]
    assert len(forms) >= 30 and {"friday", "12 dec", "2026-12-01", "next week", "3 weeks ago"} <= set(forms)
    assert {"12/1", "01/02/2026", "2026-02-30", "next year", "friday please"} <= set(not_read())


def write_config(folder: Path) -> Path:
    folder.chmod(0o700)
    config = folder / "config.toml"
    config.write_text(f'[kept]\naddresses = ["{ME}"]\ntimezone = "UTC"\ndatabase = "{folder / "kept.json"}"\n\n'
                      f'[accounts.local]\ntype = "maildir"\npath = "{folder / "mail"}"\n', encoding="utf-8")
    config.chmod(0o600)
    return config


def promise(number: int, made: date) -> Promise:
    return Promise(
        id=f"p{number:09d}", account="local", message_id=f"<p{number}@test>", thread_key=f"t{number}",
        sentence=f"I'll send you report {number}.", action="send you the report", kind="deliver",
        counterparties=("ann@example.org",), made_at=utc(made.year, made.month, made.day, 12),
        due=made + timedelta(days=30), due_is_default=False, confidence=0.9, rule_id="test",
    )


@pytest.fixture(scope="module")
def one_promise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose database holds one open promise, p000000000."""
    folder = tmp_path_factory.mktemp("one")
    config = write_config(folder)
    store = TinyDBStore(folder / "kept.json")
    try:
        store.put_promise(promise(0, date(2026, 3, 2)))
    finally:
        store.close()
    return config


@pytest.fixture(scope="module")
def one_a_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose database holds one open promise made each day from FIRST_DAY to LAST_DAY."""
    folder = tmp_path_factory.mktemp("daily")
    config = write_config(folder)
    store = TinyDBStore(folder / "kept.json")
    try:
        with store.transaction():
            for number in range((LAST_DAY - FIRST_DAY).days + 1):
                store.put_promise(promise(number, FIRST_DAY + timedelta(days=number)))
    finally:
        store.close()
    return config


def kept(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), "--now", NOW, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("form", "ahead", "back"), ROWS)
def test_the_parser_gives_the_days_the_table_says(form: str, ahead: str, back: str) -> None:
    assert read_day(form, TODAY, towards="ahead") == day_in(ahead)
    assert read_day(form, TODAY, towards="back") == day_in(back)
    # A snooze to a day not after today is refused, and the table says so.
    assert ("refused" in ahead) == (day_in(ahead) <= TODAY)


@pytest.mark.parametrize(("form", "ahead"), [(form, ahead) for form, ahead, _ in ROWS])
def test_a_digest_reply_and_the_command_line_snooze_to_the_same_day(
    form: str, ahead: str, one_promise: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commands, unparsed = parse_commands(f"snooze 1 {form}", TODAY)
    by_words = kept(one_promise, capsys, "promises", "snooze", "p000000000", *form.split())
    by_until = kept(one_promise, capsys, "promises", "snooze", "p000000000", "--until", form)
    if "refused" in ahead:
        assert (commands, unparsed) == ([], [f"snooze 1 {form}"])
        for code, out, err in (by_words, by_until):
            assert (code, out) == (EXIT_USER_ERROR, "")
            assert f"is {day_in(ahead)}, not a day after today (2026-03-18)" in err
            assert "Traceback" not in err
        return
    assert [(command.numbers, command.until) for command in commands] == [((1,), day_in(ahead))]
    assert unparsed == []
    for code, out, err in (by_words, by_until):
        assert code == 0, err
        assert f"snoozed until {day_in(ahead)}" in out


@pytest.mark.parametrize(("form", "back"), [(form, back) for form, _, back in ROWS])
def test_before_lists_what_was_made_before_the_day_the_table_says(
    form: str, back: str, one_a_day: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = kept(one_a_day, capsys, "promises", "--before", form, "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert len(listed) == (day_in(back) - FIRST_DAY).days
    assert max(item["made_at"][:10] for item in listed) == (day_in(back) - timedelta(days=1)).isoformat()


@pytest.mark.parametrize("form", not_read())
def test_what_the_page_says_is_not_a_date_is_one_error_everywhere(
    form: str, one_promise: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert read_day(form, TODAY, towards="ahead") is None
    assert read_day(form, TODAY, towards="back") is None
    assert parse_commands(f"snooze 1 {form}", TODAY) == ([], [f"snooze 1 {form}"])
    for args, option in ((["promises", "snooze", "p000000000", *form.split()], "snooze"),
                         (["promises", "snooze", "p000000000", "--until", form], "--until"),
                         (["promises", "--before", form], "--before"),
                         (["promises", "done", "--before", form], "--before")):
        code, out, err = kept(one_promise, capsys, *args)
        assert (code, out) == (EXIT_USER_ERROR, ""), err
        message, fix = err.rstrip("\n").split("\n")  # one message and its fix, no traceback
        assert message.startswith(f"kept: {option} {form!r} is not a date")
        assert fix.startswith("  fix: write it like 2026-12-01")
    store = TinyDBStore(one_promise.parent / "kept.json")
    try:
        stored = store.get_promise("p000000000")
    finally:
        store.close()
    assert stored is not None and stored.status in ("open", "snoozed") and stored.closed_at is None

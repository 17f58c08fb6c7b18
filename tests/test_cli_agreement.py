"""The command line agrees with itself and with the digest.

* One numbering: the ``#`` of `kept threads`, `kept promises` and `kept
  nudges` is the item's number in the digest sent today, and `done 6`
  acts on the item a reply "done 6" to that digest would.
* One snooze syntax: ``snooze ID friday`` as in a reply ("snooze 2 friday"),
  ``--until`` still works.
* A muted contact is no longer listed.

The sample mailbox is scanned once; each test works on its own copy of the
database.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from kept.cli import main
from kept.clock import parse_now
from kept.config import load_settings
from kept.daemon.feedback import parse_commands
from kept.daemon.run import send_digest_if_due
from kept.storage.tinydb_store import TinyDBStore
from tests.helpers import demo_config, raw_mail

NOW = "2026-11-20T07:30:00+01:00"
TODAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the sample mailbox's database after one scan."""
    folder = tmp_path_factory.mktemp("scanned")
    assert main(["--config", str(demo_config(folder)), "--now", NOW, "scan", "-q"]) == 0
    return folder


@pytest.fixture()
def config(scanned: Path, tmp_path: Path) -> Path:
    """A config of its own over a copy of the scanned database."""
    path = demo_config(tmp_path)
    for database_file in scanned.glob("kept.*"):
        shutil.copy2(database_file, tmp_path / database_file.name)
    return path


class Outbox:
    """Where the digest goes instead of an SMTP server."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


def send_digest(config: Path, now: str = NOW) -> str:
    """Send today's digest as the daemon does; return its plain text as the user reads it."""
    settings = load_settings(config)
    outbox = Outbox()
    store = TinyDBStore(settings.database)
    try:
        assert send_digest_if_due(store, settings, parse_now(now), force=True, sender_factory=lambda _: outbox)
    finally:
        store.close()
    [message] = outbox.sent
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def kept(config: Path, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    capsys.readouterr()
    assert main(["--config", str(config), "--now", NOW, *args]) == code
    captured = capsys.readouterr()
    return captured.out if code == 0 else captured.err


def listed(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    rows = json.loads(kept(config, capsys, *args, "--json"))
    assert isinstance(rows, list)
    return rows


def numbered_lines(text: str) -> dict[int, str]:
    """The digest's items as the user reads them: number -> its first line."""
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\[(\d+)\] (.*)$", text, re.MULTILINE)}


# -- one numbering ------------------------------------------------------------


def test_lists_show_the_numbers_of_the_digest_sent_today(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = numbered_lines(send_digest(config))
    on_me = listed(config, capsys, "threads")
    on_them = listed(config, capsys, "threads", "--waiting-on-them")
    promises = listed(config, capsys, "promises")
    nudges = listed(config, capsys, "nudges")
    # Each list's numbers are the digest's numbers of the same items.
    for row in on_me:
        assert row["number"] and str(row["emails"][0]) in text[int(row["number"])]  # type: ignore[index,arg-type]
    for row in on_them:
        assert row["number"] and text[int(row["number"])] == row["subject"]  # type: ignore[arg-type]
    numbered_promises = [row for row in promises if row["number"]]
    assert len(numbered_promises) >= 5
    for row in numbered_promises:
        assert text[int(row["number"])].startswith(f'"{str(row["sentence"])[:40]}')  # type: ignore[arg-type]
    # Every number of the digest is in exactly one list.
    shown = [row["number"] for rows in (on_me, on_them, promises, nudges) for row in rows if row["number"]]
    assert sorted(shown) == sorted(text)  # type: ignore[type-var]

    table = kept(config, capsys, "threads")
    kenji = next(row for row in on_me if "kenji" in str(row["emails"]))
    assert re.search(rf"│ {kenji['number']} +│ Kenji Watanabe", table)
    assert "number in today's digest" in table


def test_done_n_acts_on_item_n_of_the_digest(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = numbered_lines(send_digest(config))
    thread_number = next(n for n, line in text.items() if line.startswith("Jürgen Hoffmann"))
    promise_number = next(n for n, line in text.items() if "article on pricing" in line)

    out = kept(config, capsys, "threads", "done", str(thread_number))
    assert "marked done" in out
    assert "Jürgen" not in str(listed(config, capsys, "threads"))

    out = kept(config, capsys, "promises", "done", f"#{promise_number}")
    assert "article on pricing" in out
    article = next(p for p in listed(config, capsys, "promises", "--all") if "article" in str(p["sentence"]))
    assert article["status"] == "done"

    nudge = next(row for row in listed(config, capsys, "nudges") if row["kind"] == "keep-in-touch")
    kept(config, capsys, "nudges", "dismiss", str(nudge["number"]))
    assert nudge["id"] not in [row["id"] for row in listed(config, capsys, "nudges")]

    # The numbers stay those of the digest sent: closing an item shifts nothing.
    remaining = {row["number"] for row in listed(config, capsys, "threads")}
    assert remaining and remaining <= set(text) - {thread_number}


def test_numbers_of_another_kind_or_not_in_the_digest_are_refused(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = numbered_lines(send_digest(config))
    promise_number = next(n for n, line in text.items() if line.startswith('"'))
    err = kept(config, capsys, "threads", "done", str(promise_number), code=1)
    assert f"#{promise_number} of today's digest is a promise" in err
    assert f"kept promises done {promise_number}" in err
    err = kept(config, capsys, "promises", "done", str(len(text) + 1), code=1)
    assert f"today's digest has no #{len(text) + 1}" in err
    assert all(row["status"] != "done" for row in listed(config, capsys, "promises", "--all"))


def test_before_todays_digest_is_sent_lists_show_ids_and_numbers_are_refused(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    send_digest(config, now="2026-11-19T07:30:00+01:00")  # yesterday's numbers are not today's
    rows = listed(config, capsys, "threads")
    assert rows and all(row["number"] is None for row in rows)
    table = kept(config, capsys, "threads")
    assert "│ #" not in table and "No digest was sent today yet" in table
    err = kept(config, capsys, "threads", "done", "2", code=1)
    assert "no digest was sent today" in err and "Traceback" not in err
    # The ids the list shows, and their first four characters, work.
    key = str(rows[0]["thread"])
    assert key in table
    assert f"Thread {key}" in kept(config, capsys, "threads", "done", key[:4])


def test_a_preview_whose_numbers_differ_from_the_sent_digest_says_so(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--config", str(config), "--now", NOW, "digest"]) == 0
    assert "already sent" not in capsys.readouterr().err  # nothing sent today: the preview is today's digest
    send_digest(config)
    capsys.readouterr()
    assert main(["--config", str(config), "--now", NOW, "digest"]) == 0
    assert "already sent" not in capsys.readouterr().err  # same items, same numbers
    kept(config, capsys, "promises", "done", "1")
    assert main(["--config", str(config), "--now", NOW, "digest"]) == 0
    err = capsys.readouterr().err
    assert "today's digest was already sent and numbered its items otherwise" in err


def test_mute_a_listed_thread_by_its_number(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = numbered_lines(send_digest(config))
    number = next(n for n, line in text.items() if line.startswith("Kenji Watanabe"))
    assert "Muted kenji@watanabe-ceramics.example" in kept(config, capsys, "threads", "mute", str(number))
    assert "kenji" not in str(listed(config, capsys, "threads"))


# -- one snooze syntax ----------------------------------------------------------


def reply_snooze_day(words: str) -> date:
    """The day a reply "snooze 1 WORDS" to the digest snoozes until."""
    [command], _ = parse_commands(f"snooze 1 {words}", TODAY)
    assert command.until is not None
    return command.until


@pytest.mark.parametrize(
    "words", [["friday"], ["next", "week"], ["for", "3", "days"], ["until", "2026-12-01"], ["2026-12-01"], ["12", "dec"]]
)
def test_snooze_takes_the_day_after_the_id_as_a_digest_reply_does(
    config: Path, capsys: pytest.CaptureFixture[str], words: list[str]
) -> None:
    day = reply_snooze_day(" ".join(words)).isoformat()
    promise_id = str(listed(config, capsys, "promises")[0]["id"])
    assert f"snoozed until {day}" in kept(config, capsys, "promises", "snooze", promise_id[:6], *words)
    thread_id = str(listed(config, capsys, "threads")[0]["thread"])
    assert f"snoozed until {day}" in kept(config, capsys, "threads", "snooze", thread_id, *words)
    nudge_id = str(listed(config, capsys, "nudges")[0]["id"])
    assert day in kept(config, capsys, "nudges", "snooze", nudge_id, *words)


def test_snooze_until_still_works_and_a_past_day_is_refused(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    promise_id = str(listed(config, capsys, "promises")[0]["id"])
    assert "snoozed until 2026-11-27" in kept(config, capsys, "promises", "snooze", promise_id, "--until", "friday")
    assert "snoozed until 2026-12-01" in kept(config, capsys, "promises", "snooze", promise_id, "2026-12-01")
    err = kept(config, capsys, "promises", "snooze", promise_id, "yesterday", code=1)
    assert "not a day after today" in err
    err = kept(config, capsys, "promises", "snooze", promise_id, "friday", "--until", "monday", code=1)
    assert "two dates" in err
    err = kept(config, capsys, "promises", "done", promise_id, "friday", code=1)
    assert "left over" in err


# -- mute -----------------------------------------------------------------------

ME = "sam@home.example"
WHEN = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)


def write_mail(maildir: Path, folder: str, name: str, data: bytes) -> None:
    target = maildir / folder / "cur"
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{name}:2,S").write_bytes(data)


@pytest.fixture()
def small_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A Maildir where Sam asked Ann and Bob something (no answer) and Ann Lee,
    writing from two addresses, is waiting on Sam; scanned."""
    maildir = tmp_path / "Maildir"
    for folder in ("", ".Sent"):
        for sub in ("cur", "new", "tmp"):
            (maildir / folder / sub).mkdir(parents=True, exist_ok=True)
    # Sam writes to Ann at her work address, so she is a known contact.
    write_mail(maildir, ".Sent", "1", raw_mail(
        "s1", sender=f"Sam <{ME}>", to="Ann Lee <ann.lee@lee.example>", date=WHEN - timedelta(days=2),
        subject="Lunch", body="Lunch on Thursday works for me, see you then.\n"))
    write_mail(maildir, "", "2", raw_mail(
        "r1", sender="Ann Lee <ann.lee@lee.example>", to=ME, date=WHEN - timedelta(days=2, hours=-1),
        subject="Re: Lunch", in_reply_to="s1", body="Great, see you Thursday.\n"))
    # Ann, from her other address, asks Sam something.
    write_mail(maildir, "", "3", raw_mail(
        "r2", sender="Ann Lee <alee@lee.example>", to=f"Sam <{ME}>",
        date=WHEN, subject="Venue for the offsite", body="Sam, could you tell me which venue you prefer?\n"))
    # Sam asks Bob and Carl something nobody answers.
    write_mail(maildir, ".Sent", "4", raw_mail(
        "s2", sender=f"Sam <{ME}>", to="Bob Stone <bob@stone.example>, Carl Berg <carl@berg.example>",
        date=WHEN - timedelta(hours=5), subject="Quote for the roof",
        body="Bob, Carl, could you send me your quote for the roof by Friday?\n"))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[kept]\naddresses = ["{ME}"]\nname = "Sam"\ntimezone = "UTC"\ndatabase = "{tmp_path / "kept.json"}"\n\n'
        f'[accounts.home]\ntype = "maildir"\npath = "{maildir}"\ninbox = ""\nsent = ".Sent"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    tmp_path.chmod(0o700)
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
    return config


def test_a_muted_recipient_is_no_longer_listed_as_waited_on(
    small_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "Bob Stone, Carl Berg" in kept(small_config, capsys, "threads", "--waiting-on-them")
    assert "Muted bob@stone.example" in kept(small_config, capsys, "threads", "mute", "bob@stone.example")
    # Bob is still named in the quoted question ("Bob, Carl, could you ..."), never as one waited on.
    table = kept(small_config, capsys, "threads", "--waiting-on-them")
    assert "Carl Berg" in table and "Bob Stone" not in table and "Bob, Carl, could you" in table
    assert "Bob Stone" not in kept(small_config, capsys, "digest")
    [row] = listed(small_config, capsys, "threads", "--waiting-on-them")
    assert row["emails"] == ["carl@berg.example"] and row["who"] == ["Carl Berg"]
    assert row["question"] == "Bob, Carl, could you send me your quote for the roof by Friday?"
    kept(small_config, capsys, "threads", "mute", "carl@berg.example")
    assert listed(small_config, capsys, "threads", "--waiting-on-them") == []


def test_muting_one_address_of_a_person_mutes_the_person(
    small_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [row] = listed(small_config, capsys, "threads")
    assert row["emails"] == ["alee@lee.example"] and row["who"] == ["Ann Lee"]
    kept(small_config, capsys, "threads", "mute", "ann.lee@lee.example")
    assert listed(small_config, capsys, "threads") == []
    assert "Ann Lee" not in kept(small_config, capsys, "digest")

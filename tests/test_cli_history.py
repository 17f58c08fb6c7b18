"""History on the command line: --stale lists, bulk closing, the digest as JSON, consistent counts.

The sample mailbox scanned with a 14-day lookback: its older open promises
are history, out of the digest and listed by `--stale`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kept.cli import main
from tests.helpers import demo_config

NOW = "2026-11-20T07:30:00+01:00"


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = demo_config(tmp_path, lookback_days=14)
    assert main(["--config", str(path), "--now", NOW, "scan", "-q"]) == 0
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["--config", str(config), "--now", NOW, *args]) == 0
    return capsys.readouterr().out


def test_stale_promises_are_listed_apart_and_can_be_closed_at_once(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = json.loads(run(config, capsys, "promises", "--stale", "--json"))
    assert stale and all(p["made_at"] < "2026-11-06" for p in stale)  # older than 14 days
    open_ids = {p["id"] for p in json.loads(run(config, capsys, "promises", "--json"))}
    assert {p["id"] for p in stale} <= open_ids
    digest = json.loads(run(config, capsys, "digest", "--preview", "--json"))
    listed = {item["id"] for section in digest["sections"] for item in section["items"]}
    assert not listed & {p["id"] for p in stale}
    assert digest["history"]["promises"] == len(stale)
    noun = "promise" if len(stale) == 1 else "promises"
    assert f"kept also found {len(stale)} older open {noun}" in " ".join(run(config, capsys, "digest").split())

    assert f"{len(stale)} open {noun} marked done." in run(config, capsys, "promises", "done", "--stale")
    assert json.loads(run(config, capsys, "promises", "--stale", "--json")) == []
    digest = json.loads(run(config, capsys, "digest", "--preview", "--json"))
    assert digest["history"]["promises"] == 0
    # Marked done, not lost: they are listed with every promise.
    statuses = {p["id"]: p["status"] for p in json.loads(run(config, capsys, "promises", "--all", "--json"))}
    assert {statuses[p["id"]] for p in stale} == {"done"}


def test_dismiss_before_a_date_closes_only_older_promises(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    everything = json.loads(run(config, capsys, "promises", "--json"))
    made = sorted(p["made_at"][:10] for p in everything)
    assert made[0] < made[-1], "the sample needs open promises made on different days"
    day = made[-1]
    before = json.loads(run(config, capsys, "promises", "--before", day, "--json"))
    assert 0 < len(before) < len(everything)
    assert all(p["made_at"][:10] < day for p in before)
    out = run(config, capsys, "promises", "dismiss", "--before", day)
    assert f"{len(before)} open promise" in out
    left = json.loads(run(config, capsys, "promises", "--json"))
    assert len(left) == len(everything) - len(before)


def test_bulk_needs_no_id_and_refuses_one(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "--now", NOW, "promises", "done", "abc", "--stale"]) != 0
    assert main(["--config", str(config), "--now", NOW, "promises", "snooze", "--stale"]) != 0


def test_digest_json_describes_every_numbered_item(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = json.loads(run(config, capsys, "digest", "--preview", "--json"))
    items = [item for section in digest["sections"] for item in section["items"]]
    assert [item["number"] for item in items] == list(range(1, digest["item_count"] + 1))
    assert [(i["number"], i["kind"], i["id"]) for i in items] == [
        (entry["number"], entry["kind"], entry["id"]) for entry in digest["index"]
    ]
    for item in items:
        assert item["kind"] in ("promise", "thread", "intro", "lead", "contact")
        assert item["concerns"][:4] == "2026" and item["age_days"] >= 0
    assert digest["item_count"] <= 20
    text = run(config, capsys, "digest", "--preview")
    assert digest["subject"] in text


def test_status_threads_and_digest_agree(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = json.loads(run(config, capsys, "status", "--json"))
    waiting = json.loads(run(config, capsys, "threads", "--json"))
    others = json.loads(run(config, capsys, "threads", "--waiting-on-them", "--json"))
    digest = json.loads(run(config, capsys, "digest", "--preview", "--json"))
    sections = {section["key"]: section for section in digest["sections"]}
    assert status["waiting_on_me"] == len(waiting)
    assert status["waiting_on_them"] == len(others)
    on_me = sections["waiting_on_me"]
    assert len(on_me["items"]) + on_me["more"] == len(waiting)
    assert status["promises"]["stale"] == digest["history"]["promises"]
    stale_threads = json.loads(run(config, capsys, "threads", "--stale", "--json"))
    assert len(stale_threads) == status["stale_waiting_on_me"] == digest["history"]["waiting_on_me"]


def test_promises_the_digest_holds_back_are_still_listed_by_kept_promises(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A standing offer, a sign-off, an offer on the reader's move and an unsure undated promise: out of
    the digest, never out of `kept promises`."""
    from datetime import date, datetime, timezone

    from kept.config import load_settings
    from kept.digest.rank import UNDATED_LISTING_CONFIDENCE
    from kept.models import Promise
    from kept.storage.tinydb_store import TinyDBStore

    made = datetime(2026, 11, 18, 9, tzinfo=timezone.utc)
    held_back = {
        "standing": ("I'll keep you posted on any changes.", False, 0.9),
        "sign-off": ("I will talk to you next week.", False, 0.9),
        "their-move": ("Send me your names and I'll print them in color.", False, 0.9),
        "unsure": ("I will look at the numbers.", True, UNDATED_LISTING_CONFIDENCE - 0.05),
    }
    store = TinyDBStore(load_settings(config).database)
    try:
        with store.transaction():
            for pid, (sentence, undated, confidence) in held_back.items():
                store.put_promise(Promise(
                    id=f"held-{pid}", account="sample", message_id=f"<held-{pid}@example.org>",
                    thread_key=f"t-held-{pid}", sentence=sentence, action="do it", kind="other",
                    counterparties=("quiet.person@example.org",), made_at=made, due=date(2026, 11, 19),
                    due_is_default=undated, confidence=confidence, rule_id="test", subject=f"About {pid}",
                ))
    finally:
        store.close()
    listed_by_cli = {p["id"] for p in json.loads(run(config, capsys, "promises", "--json"))}
    digest = json.loads(run(config, capsys, "digest", "--preview", "--json"))
    in_digest = {item["id"] for section in digest["sections"] for item in section["items"]}
    ids = {f"held-{pid}" for pid in held_back}
    assert ids <= listed_by_cli
    assert not ids & in_digest
    assert in_digest, "the sample's own promises are still in the digest"

"""A hand-edited meta value of the wrong type is treated as absent (logged once), never a traceback.

``muted_contacts = 5`` or ``health:sample = "x"`` in the database file made
every command that read them crash. The end-to-end test puts each wrong
value into a scanned copy of the demo database and runs every command that
reads or writes meta, the daemon's digest and a reply to it included.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from kept.cli import main
from kept.config import load_settings
from kept.daemon.replies import apply_digest_reply
from kept.daemon.run import send_digest_if_due
from kept.digest.nudges import TOUCH_STATE_KEY
from kept.models import Address, MailMessage
from kept.storage import meta
from kept.storage.memory import MemoryStore
from kept.storage.tinydb_store import TinyDBStore
from tests.helpers import demo_config

NOW = "2026-11-20T07:30:00+01:00"
SAM = "sam@rivera-consulting.example"

#: Every meta key kept reads, with the account of the demo config.
KEYS = [
    "muted_contacts", "dismissed_sentences", "pending_notes", "applied_replies", "sent_digests",
    "unchecked_replies", "last_digest_date", "last_scan", "health:sample", "history_before:sample",
    TOUCH_STATE_KEY, "digest_outbox", "pending_replies", "confirmed_replies", "rebuild_carried",
]
#: Values of the wrong type for every one of them.
WRONG = [5, "x", [1, ["a"], None], {"k": 5, "l": [1]}]


@pytest.fixture(autouse=True)
def fresh_reports(monkeypatch):
    """Each test sees the first warning for a key (they are logged once per process)."""
    monkeypatch.setattr(meta, "_reported", set())


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> Path:
    """The demo mailbox scanned once; tests work on copies of its database."""
    folder = tmp_path_factory.mktemp("meta")
    config = demo_config(folder)
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
    return folder


def copy_of(scanned: Path, folder: Path) -> Path:
    config = demo_config(folder)
    for item in scanned.iterdir():
        if item.name != "config.toml" and item.is_file():
            shutil.copy2(item, folder / item.name)
    return config


@dataclass
class Outbox:
    sent: list = field(default_factory=list)

    def send(self, message):
        self.sent.append(message)


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--now", NOW, *args])


@pytest.mark.parametrize("wrong", WRONG, ids=["number", "string", "list", "table"])
@pytest.mark.parametrize("key", KEYS)
def test_a_wrong_meta_value_never_stops_a_command(scanned, tmp_path, capsys, caplog, key, wrong):
    config = copy_of(scanned, tmp_path)
    store = TinyDBStore(tmp_path / "kept.json")
    store.set_meta(key, wrong)
    store.close()

    for args in (["status"], ["status", "--json"], ["digest"], ["digest", "--json"], ["threads"],
                 ["threads", "--waiting-on-them"], ["promises", "--all"], ["nudges"], ["nudges", "--json"],
                 ["contacts"], ["scan", "-q"]):
        assert cli(config, *args) == 0, args
    capsys.readouterr()
    assert cli(config, "promises", "--json") == 0
    promise = json.loads(capsys.readouterr().out)[0]["id"]
    assert cli(config, "promises", "dismiss", promise) == 0
    assert cli(config, "threads", "mute", "nobody@corp.example") == 0
    assert cli(config, "nudges", "snooze", "elena@petrova-research.example", "--until", "2026-12-01") == 0

    # The daemon's digest, and the user's reply to it.
    settings = load_settings(config)
    now = datetime.fromisoformat(NOW)
    outbox = Outbox()
    store = TinyDBStore(tmp_path / "kept.json")
    try:
        message_id = send_digest_if_due(store, settings, now, force=True, sender_factory=lambda _settings: outbox)
        assert message_id and len(outbox.sent) == 1
        reply = MailMessage(
            account="sample", role="received", folder="INBOX", message_id="<reply@rivera-consulting.example>",
            in_reply_to=message_id, references=(), from_addr=Address("Sam", SAM), to=(Address("", SAM),),
            date=now, subject="Re: digest", body_text="done 1\n",
        )
        notes = apply_digest_reply(store, reply, settings, now)
        assert notes and not any("kept never sent" in note for note in notes)
        # A reply to a digest older than kept's records (after a rebuild) is counted.
        old = dataclasses.replace(reply, message_id="<old-reply@rivera-consulting.example>",
                                  in_reply_to=message_id.replace("-20261120-", "-20200101-"))
        assert "Did not carry out your reply" in apply_digest_reply(store, old, settings, now)[0]
        assert send_digest_if_due(store, settings, now, force=True, sender_factory=lambda _settings: outbox)
    finally:
        store.close()
    if wrong == 5:  # wrong for every key
        assert f"meta value {key} is not" in caplog.text or f"meta {key} is not a planned digest" in caplog.text


def test_a_wrong_value_is_reported_once_and_replaced_by_the_next_change(caplog):
    store = MemoryStore()
    store.set_meta("muted_contacts", 5)
    with caplog.at_level(logging.WARNING):
        assert meta.meta_strings(store, "muted_contacts") == []
        assert meta.meta_strings(store, "muted_contacts") == []
    assert caplog.text.count("muted_contacts") == 1
    from kept.daemon.feedback import mute_contact

    mute_contact(store, "anna@corp.example")
    assert store.get_meta("muted_contacts") == ["anna@corp.example"]


def test_parts_of_the_wrong_type_are_left_out():
    store = MemoryStore()
    store.set_meta("muted_contacts", ["anna@corp.example", 5, None, ["x"]])
    store.set_meta("health:work", {"ok": "x", "error": 5, "last_ok": "2026-11-20T07:30:00+00:00"})
    store.set_meta("sent_digests", {"<a@kept>": {"date": "2026-11-20"}, "<b@kept>": "x"})
    store.set_meta("last_scan", "yesterday")
    assert meta.meta_strings(store, "muted_contacts") == ["anna@corp.example"]
    assert meta.account_health(store, "work") == {"last_ok": "2026-11-20T07:30:00+00:00"}
    assert meta.meta_records(store, "sent_digests") == {"<a@kept>": {"date": "2026-11-20"}}
    assert meta.meta_moment(store, "last_scan") is None
    assert meta.meta_day(store, "nothing here") is None

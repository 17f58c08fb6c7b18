"""A damaged history cutoff means the same to the scanner that writes it and to the digest that reads it.

The scanner used to take any value as a cutoff ("present": never write a
new one) while the digest read the same value as none ("absent": nothing is
history), so a damaged cutoff on a first scan left every year-old message
as news for good. Both now read it through `kept.storage.meta.history_cutoff`:
a value that is not a time is absent, and a first scan writes a good one.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kept.daemon.scan import Scanner
from kept.digest.build import build_digest
from kept.mailboxes.memory import MemorySource
from kept.settings import DigestSettings, MaildirAccount, Settings
from kept.storage.meta import history_cutoff, history_key
from kept.storage.memory import MemoryStore
from tests.test_digest_build import ME, NOW, make_settings, promise

DAMAGED = ["not a date", 5, {"at": "2026-11-01"}, "", "2026-13-01T00:00:00"]


class NoPromises:
    def extract_many(self, items):  # type: ignore[no-untyped-def]
        return [[] for _ in items]


def settings(lookback_days: int = 10) -> Settings:
    base = make_settings()
    return Settings(
        path=base.path, addresses=(ME,), database=base.database, timezone="UTC",
        accounts=(MaildirAccount("home", base.path.parent),), digest=DigestSettings(lookback_days=lookback_days),
    )


def scan(store: MemoryStore) -> None:
    source = MemorySource("home")
    Scanner(settings(), store, extractor_factory=NoPromises, source_factory=lambda account: source,
            now=lambda: NOW).scan_all()


@pytest.mark.parametrize("damaged", DAMAGED)
def test_a_first_scan_writes_a_good_cutoff_over_a_damaged_one(damaged: object) -> None:
    store = MemoryStore()
    store.set_meta(history_key("home"), damaged)
    assert history_cutoff(store, "home") is None  # what the digest reads
    scan(store)
    assert history_cutoff(store, "home") == NOW - timedelta(days=10)
    assert store.get_meta(history_key("home")) == (NOW - timedelta(days=10)).isoformat()


@pytest.mark.parametrize("damaged", DAMAGED)
def test_an_account_scanned_before_with_a_damaged_cutoff_has_no_history_for_everyone(damaged: object) -> None:
    """As a database from before cutoffs: the scanner does not invent one, the digest shows everything."""
    store = MemoryStore()
    store.set_meta(history_key("home"), damaged)
    store.set_cursor("home", "INBOX", {"uid": 3})
    store.put_promise(promise("old", made=NOW - timedelta(days=30), due=date(2026, 10, 25)))
    scan(store)
    assert history_cutoff(store, "home") is None
    digest = build_digest(store, NOW, settings())
    assert [item.promise_id for item in digest.due] == ["old"]
    assert digest.history.total == 0

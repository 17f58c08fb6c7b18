"""The first digest on a long mailbox: history is not news, caps, ranking, sizes.

Uses the fixtures of test_digest_build.py (user me@example.com in
Europe/Berlin, "now" Friday 20 November 2026 07:30 local time).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from kept.daemon.scan import Scanner
from kept.digest.build import SECTIONS, build_digest
from kept.digest.render import format_when, render_digest, render_html, render_text
from kept.mailboxes.memory import MemorySource
from kept.models import Address, Thread
from kept.settings import DigestSettings, MaildirAccount, Settings
from kept.storage.base import history_cutoff, history_key
from kept.storage.memory import MemoryStore
from tests.test_digest_build import ME, NOW, make_settings, message, promise, received, sent, utc


def long_ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def store_with_cutoff(days: int = 14) -> MemoryStore:
    store = MemoryStore()
    store.set_meta(history_key("home"), (NOW - timedelta(days=days)).isoformat())
    return store


# -- history ---------------------------------------------------------------


def test_promises_and_threads_older_than_the_cutoff_are_history_not_items() -> None:
    store = store_with_cutoff()
    store.put_promise(promise("ancient", made=long_ago(700), due=date(2025, 1, 2)))
    store.put_promise(promise("old", made=long_ago(30), due=date(2026, 10, 25)))
    store.put_promise(promise("fresh", made=long_ago(3), due=date(2026, 11, 19)))
    store.put_promise(promise("old-done", made=long_ago(30), due=date(2026, 10, 25), status="done"))
    store.put_thread(Thread("w-old", "home", "old", (received("<o1@x>", "anna@example.org", long_ago(20)),)))
    store.put_thread(Thread("w-new", "home", "new", (received("<n1@x>", "bob@example.org", long_ago(2)),)))
    store.put_thread(Thread("q-old", "home", "q", (sent("<q1@x>", "carl@example.org", long_ago(60), asks=True),)))
    digest = build_digest(store, NOW, make_settings())
    assert [item.promise_id for item in digest.due] == ["fresh"]
    assert [item.thread_key for item in digest.waiting_on_me] == ["w-new"]
    assert digest.waiting_on_them == ()
    assert (digest.history.promises, digest.history.waiting_on_me, digest.history.waiting_on_them) == (2, 1, 1)
    text = " ".join(render_text(digest).split())
    assert "kept also found 2 older open promises (kept promises --stale)" in text
    assert "2 older unanswered conversations (kept threads --stale)" in text
    assert "kept promises --stale" in render_html(digest)


def test_without_a_cutoff_nothing_is_history() -> None:
    """A database from before the rule (no cutoff recorded) shows what it always showed."""
    store = MemoryStore()
    store.put_promise(promise("old", made=long_ago(30), due=date(2026, 10, 25)))
    digest = build_digest(store, NOW, make_settings())
    assert [item.promise_id for item in digest.due] == ["old"]
    assert digest.history.total == 0
    assert "kept also found" not in render_text(digest)


def test_the_first_scan_records_the_cutoff_and_later_scans_keep_it() -> None:
    settings = Settings(
        path=make_settings().path, addresses=(ME,), database=make_settings().database,
        timezone="UTC", accounts=(MaildirAccount("home", make_settings().path.parent),),
        digest=DigestSettings(lookback_days=10),
    )
    store = MemoryStore()
    source = MemorySource("home")
    clock = [NOW]

    class NoPromises:
        def extract_many(self, items):  # type: ignore[no-untyped-def]
            return [[] for _ in items]

    scanner = Scanner(settings, store, extractor_factory=NoPromises, source_factory=lambda account: source,
                      now=lambda: clock[0])
    scanner.scan_all()
    assert history_cutoff(store, "home") == NOW - timedelta(days=10)
    clock[0] = NOW + timedelta(days=30)
    scanner.scan_all()
    assert history_cutoff(store, "home") == NOW - timedelta(days=10)


def test_an_existing_database_without_a_cutoff_gets_none() -> None:
    settings = make_settings()
    store = MemoryStore()
    store.set_cursor("home", "INBOX", {"uid": 3})
    source = MemorySource("home")

    class NoPromises:
        def extract_many(self, items):  # type: ignore[no-untyped-def]
            return [[] for _ in items]

    Scanner(settings, store, extractor_factory=NoPromises, source_factory=lambda account: source,
            now=lambda: NOW).scan_account(settings.accounts[0])
    assert history_cutoff(store, "home") is None


def test_a_damaged_cutoff_means_no_history() -> None:
    store = MemoryStore()
    store.set_meta(history_key("home"), "not a date")
    assert history_cutoff(store, "home") is None
    store.set_meta(history_key("home"), "2026-11-01T00:00:00")  # naive: taken as UTC
    assert history_cutoff(store, "home") == datetime(2026, 11, 1, tzinfo=timezone.utc)


# -- caps and ranking ------------------------------------------------------


def crowded_store(promises: int = 30, waiting: int = 30, questions: int = 30) -> MemoryStore:
    store = MemoryStore()
    for n in range(promises):
        store.put_promise(promise(f"p{n:02}", made=utc(10), due=date(2026, 11, 19), to=(f"p{n}@example.org",)))
    for n in range(waiting):
        store.put_thread(Thread(f"w{n:02}", "home", f"w{n}", (received(f"<w{n}@x>", f"w{n}@example.org", utc(17)),)))
    for n in range(questions):
        store.put_thread(Thread(f"q{n:02}", "home", f"q{n}", (sent(f"<q{n}@x>", f"q{n}@example.org", utc(12), asks=True),)))
    return store


def test_caps_hold_and_the_rest_is_counted() -> None:
    digest = build_digest(crowded_store(), NOW, make_settings())
    assert digest.item_count == 15  # three sections of at most 5
    assert (len(digest.due), len(digest.waiting_on_me), len(digest.waiting_on_them)) == (5, 5, 5)
    assert digest.more_in("due") == 25 and digest.more_in("waiting_on_me") == 25
    text = render_text(digest)
    assert "and 25 more — kept promises" in text
    assert "and 25 more — kept threads" in text
    assert "and 25 more — kept threads --waiting-on-them" in text
    assert digest.subject == "5 promises due · 5 waiting on you · 5 follow-ups"


def test_max_items_cuts_lower_tiers_first_and_numbers_stay_continuous() -> None:
    digest = build_digest(crowded_store(), NOW, make_settings(max_items=8, max_per_section=10))
    assert digest.item_count == 8
    # Overdue promises outrank a plain waiting message, which outranks follow-ups.
    assert len(digest.due) == 8 and digest.waiting_on_me == () and digest.waiting_on_them == ()
    assert [n for n, _kind, _id in digest.index] == list(range(1, 9))
    assert [item.number for item in digest.due] == list(range(1, 9))
    assert digest.more_in("waiting_on_me") == 30


def test_within_a_tier_sections_share_the_room() -> None:
    store = crowded_store(promises=0)
    digest = build_digest(store, NOW, make_settings(max_items=6, max_per_section=10))
    # Waiting messages outrank follow-ups whole, so all six are waiting items.
    assert len(digest.waiting_on_me) == 6
    store = crowded_store(promises=10, waiting=0, questions=0)
    for n in range(10):
        store.put_promise(promise(f"u{n}", made=utc(1), due=None, default=True))
    digest = build_digest(store, NOW, make_settings(max_items=12, max_per_section=10))
    assert (len(digest.due), len(digest.undated)) == (10, 2)


def test_promises_to_people_the_user_writes_to_often_come_first() -> None:
    store = MemoryStore()
    store.put_promise(promise("rare", made=utc(10), due=date(2026, 11, 18), to=("rare@example.org",)))
    store.put_promise(promise("close", made=utc(12), due=date(2026, 11, 19), to=("close@example.org",)))
    store.put_thread(Thread("h", "home", "history", tuple(
        sent(f"<h{n}@x>", "close@example.org", utc(n + 1)) for n in range(5)
    )))
    digest = build_digest(store, NOW, make_settings())
    assert [item.promise_id for item in digest.due] == ["close", "rare"]


def test_questions_from_people_usually_answered_fast_come_first() -> None:
    store = MemoryStore()
    # Both wait; Bea asked a question and usually gets an answer within an hour.
    store.put_thread(Thread("w-al", "home", "al", (received("<al@x>", "al@example.org", utc(16)),)))
    bea = received("<bea@x>", "bea@example.org", utc(17))
    store.put_thread(Thread("w-bea", "home", "bea", (bea.__class__(**{**_fields(bea), "asks": True}),)))
    store.put_thread(Thread("h", "home", "history", (
        received("<h1@x>", "bea@example.org", utc(1, 8)), sent("<h2@x>", "bea@example.org", utc(1, 9)),
    )))
    digest = build_digest(store, NOW, make_settings())
    assert [item.contact for item in digest.waiting_on_me] == ["bea@example.org", "al@example.org"]


def _fields(item: object) -> dict[str, object]:
    return {name: getattr(item, name) for name in item.__slots__}  # type: ignore[attr-defined]


def test_the_html_of_a_full_digest_stays_under_100_kb() -> None:
    """Gmail clips HTML past about 102 KB; the caps keep even a hostile digest below."""
    store = MemoryStore()
    long_name = Address("N" * 300, "n@example.org")
    for n in range(200):
        pid = f"p{n:03}"
        store.put_promise(promise(pid, made=utc(10), due=date(2026, 11, 19),
                                  sentence="I will send you " + "the enormous report " * 40,
                                  to=tuple(f"r{k}@example.org" for k in range(40))))
        store.put_message(message(f"<{pid}@example.com>", Address("Me", ME), (long_name,) * 40, utc(10),
                                  "S" * 1000, role="sent"))
        store.put_thread(Thread(f"w{n}", "home", f"w{n}", (received(f"<w{n}@x>", f"w{n}@example.org", utc(17)),)))
        store.put_message(message(f"<w{n}@x>", long_name, (Address("", ME),), utc(17), "Subject " * 200))
    settings = make_settings(max_items=20, max_per_section=20)
    digest = build_digest(store, NOW, settings)
    assert digest.item_count == 20
    html = render_html(digest)
    assert len(html.encode("utf-8")) < 100_000
    assert len(bytes(render_digest(digest, settings))) < 250_000


# -- dates -------------------------------------------------------------------


def test_dates_older_than_six_months_show_the_year() -> None:
    today = date(2026, 11, 20)
    assert format_when(datetime(2026, 11, 16, 9, tzinfo=timezone.utc), today) == "Mon 16 Nov"
    assert format_when(date(2026, 6, 1), today) == "Mon 1 Jun"
    assert format_when(date(2026, 5, 1), today) == "Fri 1 May 2026"
    assert format_when(datetime(2000, 12, 12, 9, tzinfo=timezone.utc), today) == "Tue 12 Dec 2000"
    assert format_when(date(2000, 12, 12)) == "Tue 12 Dec"


def test_an_old_item_in_the_digest_shows_its_year() -> None:
    store = MemoryStore()
    store.put_promise(promise("old", made=datetime(2001, 3, 1, 9, tzinfo=timezone.utc), due=date(2001, 3, 5)))
    digest = build_digest(store, NOW, make_settings())
    assert "made Thu 1 Mar 2001" in render_text(digest)
    assert "Mon 5 Mar 2001" in render_text(digest)


# -- kept since yesterday ------------------------------------------------------


def test_promises_kept_in_the_last_day_are_shown_with_their_evidence() -> None:
    store = MemoryStore()
    store.put_promise(promise("just", made=utc(15), due=date(2026, 11, 19), status="kept",
                              evidence="attachment budget.xls in <k1@x>", closed_at=NOW - timedelta(hours=5)))
    store.put_promise(promise("week", made=utc(10), due=date(2026, 11, 12), status="kept",
                              evidence="attachment old.xls in <k2@x>", closed_at=NOW - timedelta(days=6)))
    digest = build_digest(store, NOW, make_settings())
    assert [item.promise_id for item in digest.kept_recently] == ["just"]
    assert digest.item_count == 0
    text = render_text(digest)
    assert "KEPT SINCE YESTERDAY" in text and "attachment budget.xls in <k1@x>" in text
    assert "budget.xls" in render_html(digest)


def test_every_section_key_has_a_place_in_the_digest() -> None:
    digest = build_digest(MemoryStore(), NOW, make_settings())
    for key, _title, _hint in SECTIONS:
        assert isinstance(getattr(digest, key), tuple)


# -- names ---------------------------------------------------------------------


def test_the_holding_reply_greets_by_the_name_known_from_other_mail() -> None:
    store = MemoryStore()
    no_name = Address("", "jdasovic@example.org")
    named = Address("Dasovich, Jeff", "jdasovic@example.org")
    store.put_thread(Thread("w", "home", "w", (received("<w1@x>", "jdasovic@example.org", utc(17)),)))
    store.put_message(message("<w1@x>", no_name, (Address("", ME),), utc(17), "Rates?"))
    store.put_thread(Thread("old", "home", "old", (received("<o1@x>", "jdasovic@example.org", utc(2)),
                                                   sent("<o2@x>", "jdasovic@example.org", utc(2, 11)))))
    store.put_message(message("<o1@x>", named, (Address("", ME),), utc(2), "Earlier"))
    digest = build_digest(store, NOW, make_settings())
    [item] = digest.waiting_on_me
    assert item.contact_name == "Jeff Dasovich"
    assert "Hi%20Jeff%2C" in item.reply_link


def test_copies_of_one_question_are_one_follow_up() -> None:
    """Enron's sent folders hold the same message several times, hours apart, under new ids."""
    store = MemoryStore()
    for n, hour in enumerate((7, 22)):
        key = f"copy{n}"
        store.put_thread(Thread(key, "home", "", (sent(f"<{key}@x>", "george@example.org", utc(5, hour), asks=True),)))
        store.put_message(message(f"<{key}@x>", Address("Me", ME), (Address("George", "george@example.org"),),
                                  utc(5, hour), "", role="sent"))
    store.put_thread(Thread("later", "home", "", (sent("<later@x>", "george@example.org", utc(9), asks=True),)))
    store.put_message(message("<later@x>", Address("Me", ME), (Address("George", "george@example.org"),),
                              utc(9), "", role="sent"))
    digest = build_digest(store, NOW, make_settings())
    assert [item.message_id for item in digest.waiting_on_them] == ["<copy0@x>", "<later@x>"]


def test_copies_of_one_promise_are_one_item() -> None:
    """Two copies of one sent message (different Message-IDs, hours apart) list the promise once."""
    store = MemoryStore()
    for n, hour in enumerate((9, 19)):
        store.put_promise(promise(f"copy{n}", made=utc(16, hour), due=date(2026, 11, 19),
                                  sentence="I will wait to hear from you Monday morning."))
    store.put_promise(promise("later", made=utc(18), due=date(2026, 11, 19),
                              sentence="I will wait to hear from you Monday morning."))
    digest = build_digest(store, NOW, make_settings())
    assert [item.promise_id for item in digest.due] == ["copy0", "later"]


def test_a_lotus_style_name_is_shown_first_name_first() -> None:
    store = MemoryStore()
    peggy = Address("Hedstrom, Peggy", "peggy.hedstrom@example.org")
    store.put_thread(Thread("w", "home", "w", (received("<w1@x>", "peggy.hedstrom@example.org", utc(17)),)))
    store.put_message(message("<w1@x>", peggy, (Address("", ME),), utc(17), "Trip to Houston"))
    store.put_thread(Thread("old", "home", "old", (sent("<o2@x>", "peggy.hedstrom@example.org", utc(2, 11)),)))
    [item] = build_digest(store, NOW, make_settings()).waiting_on_me
    assert item.contact_name == "Peggy Hedstrom"


def test_a_promise_the_extractor_was_unsure_of_is_counted_not_numbered() -> None:
    from dataclasses import replace

    from kept.digest.rank import LISTING_CONFIDENCE

    store = MemoryStore()
    store.put_promise(promise("sure", made=utc(10), due=date(2026, 11, 18)))
    unsure = promise("unsure", made=utc(11), due=date(2026, 11, 18), sentence="Sounds good, I will abide.")
    store.put_promise(replace(unsure, confidence=LISTING_CONFIDENCE - 0.05))
    digest = build_digest(store, NOW, make_settings())
    assert [item.promise_id for item in digest.due] == ["sure"]
    assert digest.more_in("due") == 1
    assert "and 1 more — kept promises" in render_text(digest)
    assert "abide" not in render_text(digest) and "abide" not in render_html(digest)

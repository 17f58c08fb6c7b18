"""build_digest on a MemoryStore: sections, order, numbering, what is left out.

The user is me@example.com in Europe/Berlin; "now" is Friday 20 November
2026, 07:30 local time (06:30 UTC). `filled_store` and `make_settings` are
shared with test_digest_render.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from kept.digest.build import Digest, build_digest
from kept.digest.rank import UNDATED_LISTING_CONFIDENCE
from kept.digest.text import first_name, holding_reply_link, long_date
from kept.models import Address, MailMessage, Promise, Thread, ThreadMessage
from kept.settings import DigestSettings, MaildirAccount, Settings
from kept.storage.memory import MemoryStore

ME = "me@example.com"
NOW = datetime(2026, 11, 20, 6, 30, tzinfo=timezone.utc)
TODAY = date(2026, 11, 20)


def utc(day: int, hour: int = 9, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=timezone.utc)


def make_settings(**digest: object) -> Settings:
    return Settings(
        path=Path("/nonexistent/config.toml"),
        addresses=(ME,),
        database=Path("/nonexistent/kept.json"),
        name="Sam Rivera",
        timezone="Europe/Berlin",
        accounts=(MaildirAccount("home", Path("/nonexistent")), MaildirAccount("work", Path("/nonexistent"))),
        digest=DigestSettings(**digest),  # type: ignore[arg-type]
    )


def promise(pid: str, *, made: datetime, due: date | None, default: bool = False,
            to: tuple[str, ...] = ("anna@example.org",), sentence: str | None = None,
            **fields: object) -> Promise:
    return Promise(
        id=pid,
        account="home",
        message_id=f"<{pid}@example.com>",
        thread_key=f"t-{pid}",
        sentence=sentence or f"I'll send you the {pid} report.",
        action="send you the report",
        kind="deliver",
        counterparties=to,
        made_at=made,
        due=due,
        due_is_default=default,
        confidence=0.9,
        rule_id="test",
        subject=f"About {pid}",
        **fields,  # type: ignore[arg-type]
    )


def sent(message_id: str, to: str, date: datetime, asks: bool = False) -> ThreadMessage:
    return ThreadMessage(message_id, "sent", date, ME, to=(to,), asks=asks)


def received(message_id: str, sender: str, date: datetime, asks: bool = True) -> ThreadMessage:
    # A person waiting asked something: statements are not listed (see awaiting_my_reply).
    return ThreadMessage(message_id, "received", date, sender, to=(ME,), asks=asks)


def message(message_id: str, sender: Address, to: tuple[Address, ...], date: datetime,
            subject: str, role: str = "received") -> MailMessage:
    return MailMessage(
        account="home", role=role, folder="INBOX", message_id=message_id,  # type: ignore[arg-type]
        from_addr=sender, to=to, date=date, subject=subject,
    )


def filled_store() -> MemoryStore:
    """Every section has items, and every reason to leave something out is present."""
    store = MemoryStore()
    anna = Address("Anna Schmidt", "anna@example.org")
    bob = Address("Lee, Bob", "bob@example.org")
    me = Address("Sam Rivera", ME)
    # -- promises
    store.put_promise(promise("overdue", made=utc(10), due=date(2026, 11, 18)))
    store.put_promise(promise("today", made=utc(12), due=date(2026, 11, 20)))
    store.put_promise(promise("soon", made=utc(5), due=date(2026, 11, 22)))
    store.put_promise(promise("later", made=utc(15), due=date(2026, 11, 30)))           # not yet
    store.put_promise(promise("undated-old", made=utc(2), due=date(2026, 11, 30), default=True,
                              to=("bob@example.org",)))
    store.put_promise(promise("undated-older", made=utc(1), due=None, default=True))
    store.put_promise(promise("undated-new", made=utc(18), due=date(2026, 12, 2), default=True))  # too young
    store.put_promise(promise("done", made=utc(9), due=date(2026, 11, 19), status="done"))
    store.put_promise(promise("kept", made=utc(9), due=date(2026, 11, 19), status="kept"))
    store.put_promise(promise("dismissed", made=utc(9), due=date(2026, 11, 19), status="dismissed"))
    store.put_promise(promise("snoozed", made=utc(9), due=date(2026, 11, 19), status="snoozed",
                              snoozed_until=date(2026, 11, 23)))
    store.put_promise(promise("woke", made=utc(11), due=date(2026, 11, 19), status="snoozed",
                              snoozed_until=date(2026, 11, 20)))
    store.put_promise(promise("muted", made=utc(9), due=date(2026, 11, 19), to=("spam@example.net",)))
    store.put_message(message("<overdue@example.com>", me, (anna,), utc(10), "Article", role="sent"))
    store.put_message(message("<undated-old@example.com>", me, (bob,), utc(2), "Intro", role="sent"))
    # -- threads: waiting on me
    store.put_thread(Thread("w-anna", "home", "budget", (received("<a1@x>", "anna@example.org", utc(17)),)))
    store.put_message(message("<a1@x>", anna, (me,), utc(17), "Budget for Q1?"))
    store.put_thread(Thread("w-bob", "home", "lunch", (received("<b1@x>", "bob@example.org", utc(18)),)))
    store.put_message(message("<b1@x>", bob, (me,), utc(18), "Re: Lunch"))
    # Anna's reply-lag history: I answered her within 2 h twice, 4 h once.
    store.put_thread(Thread("h-anna", "home", "history", (
        received("<h1@x>", "anna@example.org", utc(1, 8)), sent("<h2@x>", "anna@example.org", utc(1, 10)),
        received("<h3@x>", "anna@example.org", utc(3, 8)), sent("<h4@x>", "anna@example.org", utc(3, 12)),
        received("<h5@x>", "anna@example.org", utc(16, 8)), sent("<h6@x>", "anna@example.org", utc(16, 10)),
    )))
    store.put_thread(Thread("w-muted", "home", "offer",
                            (received("<m1@x>", "spam@example.net", utc(16)),)))
    store.put_thread(Thread("w-snoozed", "home", "later",
                            (received("<s1@x>", "carol@example.org", utc(16)),),
                            status="snoozed", snoozed_until=date(2026, 11, 25)))
    store.put_thread(Thread("w-done", "home", "closed",
                            (received("<d1@x>", "dave@example.org", utc(16)),),
                            status="done", done_at=utc(19)))
    store.put_thread(Thread("w-fresh", "home", "fresh",
                            (received("<f1@x>", "erin@example.org", datetime(2026, 11, 20, 1, tzinfo=timezone.utc)),)))
    # -- threads: waiting on them
    store.put_thread(Thread("q-old", "home", "contract", (sent("<q1@x>", "frank@example.org", utc(12), asks=True),)))
    store.put_thread(Thread("q-new", "home", "slides", (sent("<q2@x>", "bob@example.org", utc(15), asks=True),)))
    store.put_thread(Thread("q-recent", "home", "recent", (sent("<q3@x>", "frank@example.org", utc(19), asks=True),)))
    store.put_message(message("<q2@x>", me, (bob,), utc(15), "Slides for Monday", role="sent"))
    store.set_meta("muted_contacts", ["spam@example.net"])
    store.set_meta("health:work", {"ok": False, "failing_since": "2026-11-20T05:12:00+00:00",
                                   "error": "connection refused"})
    store.set_meta("health:home", {"ok": True, "failing_since": None, "error": None})
    return store


def build(store: MemoryStore | None = None, **digest: object) -> Digest:
    return build_digest(store or filled_store(), NOW, make_settings(**digest))


# -- sections and numbering ----------------------------------------------


def test_due_section_is_most_urgent_first_and_skips_closed_snoozed_and_muted() -> None:
    digest = build()
    assert [item.promise_id for item in digest.due] == ["overdue", "woke", "today", "soon"]
    assert [item.days_left for item in digest.due] == [-2, -1, 0, 2]
    assert digest.due[0].overdue and not digest.due[2].overdue


def test_due_soon_days_widens_section_one() -> None:
    digest = build(due_soon_days=10, max_per_section=10)
    assert "later" in [item.promise_id for item in digest.due]
    # The undated promise due on the 30th by its horizon now counts as due.
    assert "undated-old" in [item.promise_id for item in digest.due]
    assert "undated-old" not in [item.promise_id for item in digest.undated]


def test_undated_section_holds_old_promises_without_a_date_oldest_first() -> None:
    digest = build()
    assert [item.promise_id for item in digest.undated] == ["undated-older", "undated-old"]
    assert build(undated_after_days=30).undated == ()


def test_numbers_run_on_across_sections_and_index_maps_them() -> None:
    digest = build()
    items = [*digest.due, *digest.undated, *digest.waiting_on_me, *digest.waiting_on_them]
    assert [item.number for item in items] == list(range(1, len(items) + 1))
    assert digest.index == tuple((item.number, *item.ref) for item in items)
    assert digest.index[0] == (1, "promise", "overdue")
    assert (7, "thread", "w-anna") in digest.index


def test_waiting_on_me_longest_waiting_first_with_usual_reply_time() -> None:
    digest = build()
    assert [item.thread_key for item in digest.waiting_on_me] == ["w-anna", "w-bob"]
    anna, bob = digest.waiting_on_me
    assert anna.contact_name == "Anna Schmidt"
    assert anna.message_id == "<a1@x>" and anna.account == "home"
    assert anna.usual_hours == 2.0  # median of 2 h, 4 h, 2 h
    assert bob.usual_hours is None
    assert round(anna.waited_hours, 1) == round((NOW - utc(17)).total_seconds() / 3600, 1)
    assert anna.since.utcoffset() == timedelta(hours=1)  # shown in Berlin time


def test_waiting_on_them_lists_old_unanswered_questions() -> None:
    digest = build()
    items = {item.thread_key: item for item in digest.waiting_on_them}
    assert sorted(items) == ["q-new", "q-old"]
    assert items["q-new"].to == ("Lee, Bob",)
    assert items["q-new"].subject == "Slides for Monday"
    assert items["q-old"].subject == "contract"  # no stored message: thread subject


def test_items_quote_the_question_a_bare_re_subject_does_not_say() -> None:
    store = filled_store()
    bob = Address("Lee, Bob", "bob@example.org")
    me = Address("Sam Rivera", ME)
    store.put_message(replace(message("<b1@x>", bob, (me,), utc(18), "Re:"), question="Could you send me the minutes?"))
    store.put_message(replace(message("<q2@x>", me, (bob,), utc(15), "RE: ", role="sent"),
                              question="When are the slides ready?"))
    digest = build(store)
    waiting = {item.thread_key: item for item in digest.waiting_on_me}
    asked = {item.thread_key: item for item in digest.waiting_on_them}
    assert waiting["w-bob"].question == "Could you send me the minutes?"
    assert asked["q-new"].question == "When are the slides ready?"
    # Messages stored before questions were kept have none: the subject alone is shown.
    assert waiting["w-anna"].question == "" and asked["q-old"].question == ""


def test_snoozed_done_and_muted_threads_are_left_out() -> None:
    keys = {item.thread_key for item in build().waiting_on_me}
    assert not keys & {"w-muted", "w-snoozed", "w-done", "w-fresh"}


def test_snoozed_thread_comes_back_on_its_day() -> None:
    store = filled_store()
    thread = store.get_thread("w-snoozed")
    assert thread is not None
    store.put_thread(replace(thread, snoozed_until=TODAY))
    assert "w-snoozed" in [item.thread_key for item in build(store).waiting_on_me]


def test_unmuting_brings_contacts_back() -> None:
    store = filled_store()
    store.set_meta("muted_contacts", [])
    digest = build(store)
    assert "w-muted" in [item.thread_key for item in digest.waiting_on_me]
    assert "muted" in [item.promise_id for item in digest.due]


def test_promise_shows_display_names_and_subject() -> None:
    first = build().due[0]
    assert first.to == ("Anna Schmidt",)
    assert first.subject == "About overdue"
    assert first.sentence == "I'll send you the overdue report."
    assert first.made_at.date() == date(2026, 11, 10)


# -- subject, emptiness, footer ------------------------------------------


def test_subject_states_the_counts() -> None:
    assert build().subject == "4 promises due · 2 undated promises · 2 waiting on you · 2 follow-ups"


def test_subject_counts_listed_items_and_singulars() -> None:
    store = MemoryStore()
    store.put_promise(promise("one", made=utc(10), due=date(2026, 11, 19)))
    for key in ("x1", "x2"):
        store.put_thread(Thread(key, "home", key, (received(f"<{key}@x>", "anna@example.org", utc(16)),)))
    digest = build(store)
    assert digest.subject == "1 promise due · 2 waiting on you"
    assert len(digest.waiting_on_me) == 2


def test_empty_store_gives_empty_digest() -> None:
    digest = build(MemoryStore())
    assert digest.is_empty
    assert digest.subject == "Nothing pending"
    assert digest.index == ()


def test_notes_and_health_make_a_digest_worth_sending() -> None:
    assert not build_digest(MemoryStore(), NOW, make_settings(), notes=["Marked promise 3 done"]).is_empty
    store = MemoryStore()
    store.set_meta("health:work", {"ok": False, "failing_since": "2026-11-19T08:00:00+00:00", "error": "timeout"})
    digest = build(store)
    assert not digest.is_empty
    assert digest.health == ("could not reach work since Thursday, 19 November 09:00: timeout",)


def test_health_footer_names_failing_accounts_in_local_time() -> None:
    assert build().health == ("could not reach work since 06:12: connection refused",)


def test_notes_are_flattened_to_one_line() -> None:
    digest = build_digest(MemoryStore(), NOW, make_settings(), notes=["Could not understand:\r\n'dne 4'", "  "])
    assert digest.notes == ("Could not understand: 'dne 4'",)


def test_reply_lag_compares_last_week_with_the_four_before() -> None:
    lag = build().reply_lag
    assert lag.recent_hours == 2.0   # answered Anna on the 16th in 2 h
    assert lag.baseline_hours == 3.0  # 2 h and 4 h earlier in November
    assert build(MemoryStore()).reply_lag.known is False


def test_build_does_not_write_to_the_store() -> None:
    store = filled_store()
    before = (list(store.promises()), list(store.threads()), store.get_meta("muted_contacts"))
    build(store)
    assert (list(store.promises()), list(store.threads()), store.get_meta("muted_contacts")) == before


# -- the holding reply ---------------------------------------------------


def parse_mailto(url: str) -> tuple[str, dict[str, str]]:
    parsed = urlsplit(url)
    assert parsed.scheme == "mailto"
    return unquote(parsed.path), {k: v for k, v in parse_qsl(parsed.query, keep_blank_values=True)}


def test_holding_reply_link_decodes_to_the_expected_body() -> None:
    anna = build().waiting_on_me[0]
    to, fields = parse_mailto(anna.reply_link)
    assert to == "anna@example.org"
    assert fields["subject"] == "Re: Budget for Q1?"
    assert fields["in-reply-to"] == "<a1@x>"
    assert fields["body"] == (
        "Hi Anna,\r\n\r\nI'd really love to talk with you, but I'm covered up with work right now. "
        "If it's not urgent, could I get back to you on Monday, 23 November?\r\n\r\nSam Rivera"
    )


def test_holding_reply_keeps_an_existing_re_and_first_name_of_last_first() -> None:
    bob = build().waiting_on_me[1]
    _to, fields = parse_mailto(bob.reply_link)
    assert fields["subject"] == "Re: Lunch"
    assert fields["body"].startswith("Hi Bob,")


def test_holding_reply_uses_the_configured_text_and_days() -> None:
    anna = build(holding_reply="Dear {first_name}, by {date}. {my_name}", holding_reply_days=7).waiting_on_me[0]
    assert parse_mailto(anna.reply_link)[1]["body"] == "Dear Anna, by Friday, 27 November. Sam Rivera"


def test_malformed_holding_reply_template_falls_back_to_default() -> None:
    anna = build(holding_reply="Hi {name}").waiting_on_me[0]
    assert parse_mailto(anna.reply_link)[1]["body"].startswith("Hi Anna,\r\n")


def test_hostile_subject_cannot_break_out_of_the_mailto_link() -> None:
    link = holding_reply_link("a@x.org", "x&bcc=evil@x.org\r\nBcc: evil@x.org", "<id@x>", "hi\nthere")
    _to, fields = parse_mailto(link)
    assert set(fields) == {"subject", "in-reply-to", "body"}
    assert fields["subject"] == "Re: x&bcc=evil@x.org Bcc: evil@x.org"
    assert fields["body"] == "hi\r\nthere"
    assert "\r" not in link and "\n" not in link and " " not in link


def test_first_name() -> None:
    assert first_name(Address("Anna Schmidt", "a@x")) == "Anna"
    assert first_name(Address("Schmidt, Anna", "a@x")) == "Anna"
    assert first_name(Address('"Phillip K Allen"', "a@x")) == "Phillip"
    assert first_name(Address("a@x.org", "a@x.org")) == "there"
    assert first_name(Address("", "a@x")) == "there"
    assert first_name(None) == "there"


def test_long_date() -> None:
    assert long_date(date(2026, 11, 24)) == "Tuesday, 24 November"


def test_first_name_falls_back_to_the_known_name_then_a_first_last_address() -> None:
    assert first_name(Address("ALLEN, PHILLIP", "x@y")) == "Phillip"
    assert first_name(Address("Allen, Phillip K.", "x@y")) == "Phillip"
    assert first_name(Address("", "jdasovic@enron.com"), "Dasovich, Jeff") == "Jeff"
    assert first_name(Address("jdasovic@enron.com", "jdasovic@enron.com"), "Jeff Dasovich") == "Jeff"
    assert first_name(Address("Anna Schmidt", "a@x"), "Someone Else") == "Anna"
    assert first_name(Address("", "phillip.allen@enron.com")) == "Phillip"
    assert first_name(Address("", "jdasovic@enron.com")) == "there"
    assert first_name(Address("Earnings.com", "news@earnings.example")) == "there"


def test_a_promise_on_the_readers_move_is_listed_once_they_answer():
    """"Send me your names and I'll print them": nothing is owed until the names come."""
    store = MemoryStore()
    conditional = "Send me your names and I'll print them in color for her."
    store.put_promise(promise("names", made=utc(10), due=date(2026, 11, 19), sentence=conditional,
                              to=("anna@example.org",)))
    store.put_promise(promise("plain", made=utc(10), due=date(2026, 11, 19), to=("anna@example.org",)))
    store.put_promise(promise("answered", made=utc(10), due=date(2026, 11, 19), sentence=conditional,
                              to=("ben@example.org",)))
    store.put_thread(Thread("t-names", "home", "Names", (sent("<names@example.com>", "anna@example.org", utc(10)),)))
    store.put_thread(Thread("t-answered", "home", "Names", (
        sent("<answered@example.com>", "ben@example.org", utc(10)),
        received("<ben-names@example.org>", "ben@example.org", utc(12), asks=False),
    )))
    digest = build_digest(store, NOW, make_settings())
    assert sorted(item.promise_id for item in digest.due) == ["answered", "plain"]


def test_a_standing_offer_or_a_pleasantry_is_never_due():
    store = MemoryStore()
    store.put_promise(promise("posted", made=utc(10), due=date(2026, 11, 19),
                              sentence="I'll keep you posted on any changes."))
    store.put_promise(promise("sign-off", made=utc(10), due=date(2026, 11, 19),
                              sentence="I will talk to you next week."))
    store.put_promise(promise("plain", made=utc(10), due=date(2026, 11, 19)))
    digest = build_digest(store, NOW, make_settings())
    assert [item.promise_id for item in digest.due] == ["plain"]


def test_an_undated_promise_the_extractor_was_unsure_of_is_never_listed():
    """Precision beats recall: an unsure guess without a day stays in `kept promises` only."""
    store = MemoryStore()
    unsure = UNDATED_LISTING_CONFIDENCE - 0.01
    store.put_promise(replace(promise("vague", made=utc(10), due=date(2026, 11, 19), default=True), confidence=unsure))
    store.put_promise(replace(promise("dated", made=utc(10), due=date(2026, 11, 19)), confidence=unsure))
    store.put_promise(replace(promise("sure", made=utc(10), due=date(2026, 11, 19), default=True),
                              confidence=UNDATED_LISTING_CONFIDENCE))
    digest = build_digest(store, NOW, make_settings())
    assert sorted(item.promise_id for item in digest.due) == ["dated", "sure"]
    assert "vague" in {p.id for p in store.promises()}

"""Who is waiting on whom, and reply-lag statistics."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from kept.daemon.threader import thread_message
from kept.extractors.waiting import (
    all_reply_events,
    awaiting_my_reply,
    awaiting_their_reply,
    lags_of,
    median_of_my_replies,
    median_reply_hours,
    reply_lags,
)
from kept.models import Thread
from kept.settings import ThreadSettings

from tests.helpers import ME, record, utc

SETTINGS = ThreadSettings(waiting_on_me_after_hours=24, direct_only=True, waiting_on_them_after_days=3)
MINE = frozenset({ME})
NOW = utc(2026, 1, 10)


def thread(*items, status="open"):
    return Thread(key="t", account="acct", subject="s", messages=tuple(items), status=status)


def msg(mid, sender, date, to=(ME,), cc=(), asks=False, automated=False, role=None):
    return thread_message(record(mid, sender=sender, to=to, cc=cc, date=date, automated=automated, role=role), asks)


def test_unanswered_direct_message_waits_on_me():
    t = thread(msg("a", "anna@x.org", utc(2026, 1, 5)))
    assert awaiting_my_reply(t, MINE, SETTINGS, NOW).message_id == "<a@test>"


def test_oldest_unanswered_message_counts():
    t = thread(msg("a", "anna@x.org", utc(2026, 1, 5)), msg("b", "anna@x.org", utc(2026, 1, 7)))
    assert awaiting_my_reply(t, MINE, SETTINGS, NOW).message_id == "<a@test>"


def test_my_reply_ends_the_wait():
    t = thread(msg("a", "anna@x.org", utc(2026, 1, 5)),
               msg("b", ME, utc(2026, 1, 6), to=("anna@x.org",)))
    assert awaiting_my_reply(t, MINE, SETTINGS, NOW) is None


def test_cc_only_automated_and_fresh_mail_do_not_wait():
    cc_only = thread(msg("a", "anna@x.org", utc(2026, 1, 5), to=("boss@x.org",), cc=(ME,)))
    assert awaiting_my_reply(cc_only, MINE, SETTINGS, NOW) is None
    loose = ThreadSettings(direct_only=False)
    assert awaiting_my_reply(cc_only, MINE, loose, NOW) is not None
    newsletter = thread(msg("n", "news@x.org", utc(2026, 1, 5), automated=True))
    assert awaiting_my_reply(newsletter, MINE, SETTINGS, NOW) is None
    fresh = thread(msg("f", "anna@x.org", NOW - timedelta(hours=3)))
    assert awaiting_my_reply(fresh, MINE, SETTINGS, NOW) is None


def test_done_thread_waits_on_nobody():
    t = thread(msg("a", "anna@x.org", utc(2026, 1, 5)), status="done")
    assert awaiting_my_reply(t, MINE, SETTINGS, NOW) is None


def test_my_question_waits_on_them_until_answered():
    asked = msg("q", ME, utc(2026, 1, 2), to=("ben@y.org",), asks=True)
    assert awaiting_their_reply(thread(asked), MINE, SETTINGS, NOW).message_id == "<q@test>"
    answered = thread(asked, msg("r", "ben@y.org", utc(2026, 1, 3)))
    assert awaiting_their_reply(answered, MINE, SETTINGS, NOW) is None
    statement = msg("s", ME, utc(2026, 1, 2), to=("ben@y.org",), asks=False)
    assert awaiting_their_reply(thread(statement), MINE, SETTINGS, NOW) is None
    recent = msg("t", ME, NOW - timedelta(days=1), to=("ben@y.org",), asks=True)
    assert awaiting_their_reply(thread(recent), MINE, SETTINGS, NOW) is None


def test_inbox_mail_from_my_address_is_not_my_answer():
    # Anyone can write my address in From: found in the inbox, it answers nothing.
    asked = msg("a", "anna@x.org", utc(2026, 1, 5), asks=True)
    forged = msg("f", ME, utc(2026, 1, 6), to=("anna@x.org",), role="received")
    assert awaiting_my_reply(thread(asked, forged), MINE, SETTINGS, NOW).message_id == "<a@test>"
    assert reply_lags([thread(asked, forged)], MINE) == {}
    # The same message from my sent folder is my answer.
    mine = msg("m", ME, utc(2026, 1, 6), to=("anna@x.org",), role="sent")
    assert awaiting_my_reply(thread(asked, mine), MINE, SETTINGS, NOW) is None


def test_inbox_mail_from_my_address_neither_answers_my_question_nor_waits_on_me():
    question = msg("q", ME, utc(2026, 1, 2), to=("ben@y.org",), asks=True, role="sent")
    forged = msg("f", ME, utc(2026, 1, 3), to=(ME,), asks=True, role="received")
    assert awaiting_their_reply(thread(question, forged), MINE, SETTINGS, NOW).message_id == "<q@test>"
    # A note to myself found in the inbox waits on nobody.
    assert awaiting_my_reply(thread(forged), MINE, SETTINGS, NOW) is None


def test_reply_lags_per_contact():
    t1 = thread(msg("a", "anna@x.org", utc(2026, 1, 1, 8)),
                msg("b", ME, utc(2026, 1, 1, 12), to=("anna@x.org",)),
                msg("c", "anna@x.org", utc(2026, 1, 2, 12)))
    t2 = Thread(key="t2", account="acct", subject="s2", messages=(
        msg("d", "anna@x.org", utc(2026, 1, 3, 8)),
        msg("e", ME, utc(2026, 1, 3, 10), to=("anna@x.org",)),
    ))
    lags = reply_lags([t1, t2], MINE)
    anna = lags["anna@x.org"]
    assert sorted(anna.my_replies) == [2.0, 4.0]
    assert anna.my_median == 3.0
    assert anna.their_replies == (24.0,)
    assert anna.their_median == 24.0
    assert anna.my_p90 == 4.0 and anna.their_p90 == 24.0
    assert median_reply_hours([t1, t2], MINE, utc(2026, 1, 3), utc(2026, 1, 4)) == 2.0


def test_answers_walked_once_give_the_lags_and_medians_of_the_threads():
    """The digest walks the answers once (`all_reply_events`) for the lags and both reply-lag windows."""
    t1 = thread(msg("a", "anna@x.org", utc(2026, 1, 1, 8)),
                msg("b", ME, utc(2026, 1, 1, 12), to=("anna@x.org",)),
                msg("c", "anna@x.org", utc(2026, 1, 2, 12)))
    t2 = Thread(key="t2", account="acct", subject="s2", messages=(
        msg("d", "bo@y.org", utc(2026, 1, 3, 8)),
        msg("e", ME, utc(2026, 1, 3, 11), to=("bo@y.org",)),
    ))
    events = all_reply_events([t1, t2], MINE)
    assert [(direction, contact) for direction, contact, _, _ in events] == [
        ("mine", "anna@x.org"), ("theirs", "anna@x.org"), ("mine", "bo@y.org")
    ]
    assert lags_of(events) == reply_lags([t1, t2], MINE)
    assert lags_of(events, utc(2026, 1, 3)) == reply_lags([t1, t2], MINE, utc(2026, 1, 3)) != lags_of(events)
    for since, until, hours in ((utc(2026, 1, 1), utc(2026, 1, 2), 4.0), (utc(2026, 1, 3), utc(2026, 1, 4), 3.0),
                                (utc(2026, 1, 1), utc(2026, 1, 4), 3.5), (utc(2026, 1, 5), utc(2026, 1, 6), None)):
        assert median_of_my_replies(events, since, until) == hours
        assert median_reply_hours([t1, t2], MINE, since, until) == hours


def test_auto_reply_does_not_answer_my_question():
    asked = msg("q", ME, utc(2026, 1, 2), to=("hugo@y.org",), asks=True)
    away = msg("ooo", "hugo@y.org", utc(2026, 1, 2, 1), automated=True)
    assert awaiting_their_reply(thread(asked, away), MINE, SETTINGS, NOW).message_id == "<q@test>"


def test_statement_stops_waiting_after_expiry_but_question_does_not():
    old_update = msg("u", "ben@y.org", NOW - timedelta(days=40))
    assert awaiting_my_reply(thread(old_update), MINE, SETTINGS, NOW) is None
    recent_update = msg("r", "ben@y.org", NOW - timedelta(days=10))
    assert awaiting_my_reply(thread(recent_update), MINE, SETTINGS, NOW) is not None
    old_question = msg("q", "ben@y.org", NOW - timedelta(days=40), asks=True)
    assert awaiting_my_reply(thread(old_question), MINE, SETTINGS, NOW).message_id == "<q@test>"
    # an expired statement does not hide a later question in the same thread
    both = thread(msg("u2", "ben@y.org", NOW - timedelta(days=40)),
                  msg("q2", "ben@y.org", NOW - timedelta(days=5), asks=True))
    assert awaiting_my_reply(both, MINE, SETTINGS, NOW).message_id == "<q2@test>"


# -- a person is waiting (issue #14, item 3)

from dataclasses import replace  # noqa: E402

from kept.extractors.asks import GROUP  # noqa: E402
from kept.extractors.waiting import (  # noqa: E402
    ANSWER_WINDOW,
    MASS_RECIPIENTS,
    is_personal_question,
    mail_history,
    my_names,
)

NAMES = frozenset({"sam", "rivera"})


def named(item, *names):
    return replace(item, addressed=tuple(names))


def test_mass_mail_does_not_wait_on_me_and_a_question_to_a_crowd_is_no_follow_up():
    crowd = tuple(f"p{i}@x.org" for i in range(MASS_RECIPIENTS))
    many = thread(msg("a", "anna@x.org", utc(2026, 1, 5), to=(ME, *crowd), asks=True))
    assert awaiting_my_reply(many, MINE, SETTINGS, NOW) is None
    few = thread(msg("a", "anna@x.org", utc(2026, 1, 5), to=(ME, *crowd[:-1]), asks=True))
    assert awaiting_my_reply(few, MINE, SETTINGS, NOW) is not None
    asked_all = thread(msg("q", ME, utc(2026, 1, 2), to=(*crowd, "one@x.org"), asks=True))
    assert awaiting_their_reply(asked_all, MINE, SETTINGS, NOW) is None


def test_question_addressed_to_someone_else_by_name_does_not_wait_on_me():
    to_john = thread(named(msg("a", "anna@x.org", utc(2026, 1, 5), to=(ME, "john@x.org"), asks=True), "john"))
    assert awaiting_my_reply(to_john, MINE, SETTINGS, NOW, names=NAMES) is None
    to_me = thread(named(msg("a", "anna@x.org", utc(2026, 1, 5), to=(ME, "john@x.org"), asks=True), "sam"))
    assert awaiting_my_reply(to_me, MINE, SETTINGS, NOW, names=NAMES) is not None
    # a short form of the user's name is theirs
    phil = thread(named(msg("a", "anna@x.org", utc(2026, 1, 5), asks=True), "phil"))
    assert awaiting_my_reply(phil, MINE, SETTINGS, NOW, names=frozenset({"phillip"})) is not None
    group = thread(named(msg("a", "anna@x.org", utc(2026, 1, 5), asks=True), GROUP))
    assert awaiting_my_reply(group, MINE, SETTINGS, NOW, names=NAMES) is None


def test_my_names_come_from_the_name_and_the_addresses():
    assert my_names("Phillip K. Allen", ["k..allen@enron.com", "pallen70@hotmail.com"]) >= {
        "phillip", "allen", "pallen"}


def history_with(*threads_):
    return mail_history(threads_, MINE)


def test_a_mail_to_the_sender_soon_after_answers_whatever_the_subject():
    question = thread(msg("a", "anna@x.org", utc(2026, 1, 2), asks=True))
    written_before = Thread(key="old", account="acct", subject="older matter",
                            messages=(msg("o", ME, utc(2025, 12, 1), to=("anna@x.org",)),))
    soon = Thread(key="s", account="acct", subject="lunch",
                  messages=(msg("b", ME, utc(2026, 1, 3), to=("anna@x.org",)),))
    late = Thread(key="l", account="acct", subject="lunch",
                  messages=(msg("c", ME, utc(2026, 1, 2) + ANSWER_WINDOW + timedelta(hours=1), to=("anna@x.org",)),))
    assert awaiting_my_reply(question, MINE, SETTINGS, NOW, history_with(question, written_before, soon)) is None
    assert awaiting_my_reply(question, MINE, SETTINGS, NOW, history_with(question, written_before, late)) is not None


def test_a_later_mail_to_the_sender_about_the_same_matter_answers():
    question = Thread(key="t", account="acct", subject="tennessee gas pipeline company edi agreement",
                      messages=(msg("a", "scott@x.org", utc(2026, 1, 1), asks=True),))
    answer = Thread(key="r", account="acct", subject="tennessee gas",
                    messages=(msg("b", ME, utc(2026, 1, 6), to=("scott@x.org",)),))
    other = Thread(key="o", account="acct", subject="lunch on friday",
                   messages=(msg("c", ME, utc(2026, 1, 6), to=("scott@x.org",)),))
    assert awaiting_my_reply(question, MINE, SETTINGS, NOW, history_with(question, answer)) is None
    assert awaiting_my_reply(question, MINE, SETTINGS, NOW, history_with(question, other)) is not None


def test_strangers_wait_on_me_only_with_a_question_to_me_alone():
    alone = msg("a", "new@x.org", utc(2026, 1, 5), asks=True)
    assert is_personal_question(alone, MINE)
    t = thread(alone)
    assert awaiting_my_reply(t, MINE, SETTINGS, NOW, history_with(t)) is not None
    shared = thread(msg("b", "new@x.org", utc(2026, 1, 5), to=(ME, "boss@x.org"), asks=True))
    assert awaiting_my_reply(shared, MINE, SETTINGS, NOW, history_with(shared)) is None
    # the same message from someone the user writes to does wait
    known = Thread(key="k", account="acct", subject="k",
                   messages=(msg("k", ME, utc(2025, 12, 1), to=("new@x.org",)),))
    assert awaiting_my_reply(shared, MINE, SETTINGS, NOW, history_with(shared, known)) is not None


def test_with_history_only_a_message_that_asks_waits_on_me():
    known = Thread(key="k", account="acct", subject="k",
                   messages=(msg("k", ME, utc(2025, 12, 1), to=("ben@y.org",)),))
    update = thread(msg("u", "ben@y.org", NOW - timedelta(days=3)))
    assert awaiting_my_reply(update, MINE, SETTINGS, NOW) is not None  # without history: until expiry
    assert awaiting_my_reply(update, MINE, SETTINGS, NOW, history_with(update, known)) is None


def test_their_mail_soon_after_my_question_answers_it_in_another_thread():
    asked = thread(msg("q", ME, utc(2026, 1, 2), to=("ben@y.org",), asks=True))
    reply_elsewhere = Thread(key="r", account="acct", subject="re",
                             messages=(msg("r", "ben@y.org", utc(2026, 1, 3)),))
    assert awaiting_their_reply(asked, MINE, SETTINGS, NOW) is not None
    assert awaiting_their_reply(asked, MINE, SETTINGS, NOW, history_with(asked, reply_elsewhere)) is None


def test_a_request_to_a_newsletter_is_no_follow_up():
    newsletter = thread(msg("n", "padi@mail2.padi.org", utc(2026, 1, 1), automated=True))
    asked = Thread(key="q", account="acct", subject="q", messages=(
        msg("q", ME, utc(2026, 1, 2), to=("padi@mail2.padi.org",), asks=True),))
    assert awaiting_their_reply(asked, MINE, SETTINGS, NOW) is not None
    assert awaiting_their_reply(asked, MINE, SETTINGS, NOW, history_with(newsletter, asked)) is None
    # someone who also writes as a person is no machine
    person = Thread(key="p", account="acct", subject="p", messages=(
        msg("p", "padi@mail2.padi.org", utc(2025, 12, 1)),))
    assert awaiting_their_reply(asked, MINE, SETTINGS, NOW, history_with(newsletter, person, asked)) is not None


def test_a_question_about_a_day_that_has_passed_waits_on_nobody() -> None:
    """'Are you available at 5:30 ET today?' nine days later; a deadline ('by Friday') keeps waiting."""
    from datetime import date as day

    from kept.extractors.asks import asks_until
    from kept.extractors.waiting import awaiting_their_reply
    from kept.models import Thread, ThreadMessage
    from kept.settings import ThreadSettings

    sent_at = datetime(2000, 10, 23, 9, tzinfo=timezone.utc)
    assert asks_until("Are you available at 5:30 ET today?", sent_at) == day(2000, 10, 23)
    assert asks_until("Can we meet on Monday? Thursday would work too.", sent_at) == day(2000, 10, 30)
    assert asks_until("Can you send me the report by Friday?", sent_at) is None
    assert asks_until("Can you send me the report?", sent_at) is None
    assert asks_until("Are you free today? And can you send the file?", sent_at) is None

    def thread(until: day | None) -> Thread:
        item = ThreadMessage("<q@x>", "sent", sent_at, "me@x.org", to=("ed@x.org",), asks=True, asks_until=until)
        return Thread("t", "a", "s", (item,))

    me = frozenset({"me@x.org"})
    later = sent_at + timedelta(days=9)
    assert awaiting_their_reply(thread(day(2000, 10, 23)), me, ThreadSettings(), later) is None
    assert awaiting_their_reply(thread(None), me, ThreadSettings(), later) is not None
    soon = sent_at + timedelta(days=3, hours=20)
    assert awaiting_their_reply(thread(day(2000, 10, 26)), me, ThreadSettings(), soon) is not None


def test_an_assistants_question_in_the_sent_folder_is_no_follow_up() -> None:
    from kept.extractors.waiting import awaiting_their_reply
    from kept.models import Thread, ThreadMessage
    from kept.settings import ThreadSettings

    sent_at = datetime(2001, 3, 26, 9, tzinfo=timezone.utc)
    me = frozenset({"me@x.org"})
    mine = ThreadMessage("<q@x>", "sent", sent_at, "me@x.org", to=("bob@x.org",), asks=True)
    theirs = ThreadMessage("<q@x>", "sent", sent_at, "assistant@x.org", to=("bob@x.org",), asks=True)
    later = sent_at + timedelta(days=5)
    assert awaiting_their_reply(Thread("t", "a", "s", (mine,)), me, ThreadSettings(), later) is not None
    assert awaiting_their_reply(Thread("t", "a", "s", (theirs,)), me, ThreadSettings(), later) is None


def test_a_question_about_an_event_named_in_another_sentence_ends_with_it() -> None:
    """The user's "is there anything we can do ...? ... the presentation next Tuesday night" passes with Tuesday."""
    from kept.extractors.asks import asking_sentences, last_day_around

    sent_at = datetime(2000, 9, 15, 8, 46, tzinfo=timezone.utc)  # a Friday

    def until(text: str) -> date | None:
        return last_day_around(text, asking_sentences(text), sent_at)

    assert until("Is there anything we can do so that Jody can make it? "
                 "It would be great for him to be at the presentation next Tuesday night.") == date(2000, 9, 19)
    assert until("No plans for Thursday yet. Could meet you guys there later. Let me know.") == date(2000, 9, 21)
    # A clock time without a day is the day it was written.
    assert until("My friend is coming over at about 6:30 and we are going out. What are you doing?") == date(2000, 9, 15)
    # A day in the question itself decides, as before.
    assert until("Can we meet on Monday? The report is due Friday.") == date(2000, 9, 18)
    # The writer's absence, a deadline, or no day at all keep the question waiting.
    assert until("I'll be out next week. Can you send me the file?") is None
    assert until("Can you send me the numbers? I need them by Friday.") is None
    assert until("Can you send me the numbers? Thanks.") is None
    # Some questions name a day and some do not: the undated ones keep waiting.
    assert until("Are you free today? And can you send the file? The board meets Friday.") is None


def test_the_subject_the_user_wrote_can_name_the_day() -> None:
    """ "GAME @ 9 on Wed" / "Let me know whether or not you will come." is over after Wednesday."""
    from kept.extractors.asks import asking_sentences, last_day_around

    sent_at = datetime(2000, 10, 10, 9, 21, tzinfo=timezone.utc)  # a Tuesday
    text = "Let me know whether or not you will come."
    assert last_day_around(text, asking_sentences(text), sent_at, "GAME @ 9 on Wed") == date(2000, 10, 11)
    # A reply's or a forward's subject names days of older mail.
    assert last_day_around(text, asking_sentences(text), sent_at, "FW: Orientation tomorrow") is None
    assert last_day_around(text, asking_sentences(text), sent_at, "Re: GAME @ 9 on Wed") is None
    # A deadline or a past event's label in the subject says nothing of when the question ends.
    text = "Can you send me your comments on the draft?"
    assert last_day_around(text, asking_sentences(text), sent_at, "Draft due Friday") is None
    assert last_day_around(text, asking_sentences(text), sent_at, "Minutes of Monday's meeting") is None
    assert last_day_around(text, asking_sentences(text), sent_at, "[EXTERNAL] RE: GAME @ 9 on Wed") is None
    # A deadline in the text still keeps the question waiting.
    text = "Let me know whether or not you will come. I need to know by Friday."
    assert last_day_around(text, asking_sentences(text), sent_at, "GAME @ 9 on Wed") is None

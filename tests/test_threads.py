"""Threading by headers and, where headers are missing, by subject and people."""

from __future__ import annotations

from kept.daemon.threader import Threader
from kept.settings import ThreadSettings
from kept.storage.memory import MemoryStore

from tests.helpers import ME, record, utc


def make_threader():
    store = MemoryStore()
    return store, Threader(store, (ME,), ThreadSettings(subject_window_days=30))


def test_reply_joins_by_in_reply_to_even_with_other_subject():
    store, threader = make_threader()
    first, _ = threader.add(record("a", sender="anna@x.org", date=utc(2026, 1, 1), subject="Plans"))
    reply, changed = threader.add(record("b", sender=ME, to=("anna@x.org",), date=utc(2026, 1, 2),
                                         subject="Something else", in_reply_to="a"))
    assert changed and reply.key == first.key
    assert [m.message_id for m in reply.messages] == ["<a@test>", "<b@test>"]


def test_references_are_used_when_in_reply_to_is_unknown():
    store, threader = make_threader()
    first, _ = threader.add(record("a", sender="anna@x.org", date=utc(2026, 1, 1)))
    later, _ = threader.add(record("c", sender="anna@x.org", date=utc(2026, 1, 3),
                                   in_reply_to="unknown", references=("a", "unknown")))
    assert later.key == first.key


def test_subject_fallback_needs_shared_participant_and_window():
    store, threader = make_threader()
    first, _ = threader.add(record("a", sender="anna@x.org", date=utc(2026, 1, 1), subject="Budget"))
    same, _ = threader.add(record("b", sender=ME, to=("anna@x.org",), date=utc(2026, 1, 2),
                                  subject="RE: Budget"))
    assert same.key == first.key
    stranger, _ = threader.add(record("c", sender="carl@y.org", date=utc(2026, 1, 3), subject="Re: Budget"))
    assert stranger.key != first.key
    too_late, _ = threader.add(record("d", sender="anna@x.org", date=utc(2026, 6, 1), subject="Re: budget"))
    assert too_late.key != first.key


def test_same_subject_without_reply_prefix_starts_new_thread():
    store, threader = make_threader()
    first, _ = threader.add(record("a", sender="anna@x.org", date=utc(2026, 1, 1), subject="Lunch"))
    second, _ = threader.add(record("b", sender="anna@x.org", date=utc(2026, 1, 8), subject="Lunch"))
    assert second.key != first.key


def test_original_arriving_after_its_reply_joins_it():
    store, threader = make_threader()
    reply, _ = threader.add(record("b", sender="anna@x.org", date=utc(2026, 1, 2), subject="Fw: Report"))
    original, _ = threader.add(record("a", sender=ME, to=("anna@x.org",), date=utc(2026, 1, 1),
                                      subject="Report"))
    assert original.key == reply.key
    assert [m.message_id for m in original.messages] == ["<a@test>", "<b@test>"]


def test_adding_the_same_message_twice_changes_nothing():
    store, threader = make_threader()
    message = record("a", sender="anna@x.org", date=utc(2026, 1, 1))
    first, changed = threader.add(message)
    again, changed_again = threader.add(message)
    assert changed and not changed_again
    assert again.messages == first.messages
    assert len(list(store.threads())) == 1


# -- empty subjects and competing threads (issue #14, item 3)


def test_reply_without_subject_joins_the_nearby_empty_subject_thread():
    store, threader = make_threader()
    mine, _ = threader.add(record("a", sender=ME, to=("renee@x.org",), date=utc(2026, 1, 1), subject=""))
    answer, _ = threader.add(record("b", sender="renee@x.org", date=utc(2026, 1, 2), subject="RE:"))
    assert answer.key == mine.key
    my_reply, _ = threader.add(record("c", sender=ME, to=("renee@x.org",), date=utc(2026, 1, 6), subject="RE:"))
    assert my_reply.key == mine.key


def test_empty_subject_joining_needs_a_reply_prefix_people_and_a_short_window():
    store, threader = make_threader()
    first, _ = threader.add(record("a", sender=ME, to=("renee@x.org",), date=utc(2026, 1, 1), subject=""))
    fresh, _ = threader.add(record("b", sender="renee@x.org", date=utc(2026, 1, 2), subject=""))
    assert fresh.key != first.key
    other, _ = threader.add(record("c", sender="carl@y.org", date=utc(2026, 1, 2), subject="Re:"))
    assert other.key not in (first.key, fresh.key)
    late, _ = threader.add(record("d", sender="renee@x.org", date=utc(2026, 1, 20), subject="RE:"))
    assert late.key not in (first.key, fresh.key)


def test_reply_joins_the_thread_of_the_person_it_answers_over_a_nearer_forward():
    store, threader = make_threader()
    asked, _ = threader.add(record("a", sender="kerry@x.org", date=utc(2026, 4, 3, 23),
                                   subject="Forecast for 2001"))
    # The user forwards it to a colleague (no prefix: a thread of its own) ...
    forward, _ = threader.add(record("b", sender=ME, to=("beth@x.org",), date=utc(2026, 4, 4, 10),
                                     subject="Forecast for 2001"))
    assert forward.key != asked.key
    # ... then answers Kerry, copying the colleague: the answer belongs with Kerry's question.
    answer, _ = threader.add(record("c", sender=ME, to=("kerry@x.org",), cc=("beth@x.org",),
                                    date=utc(2026, 4, 4, 13), subject="Re: Forecast for 2001"))
    assert answer.key == asked.key


def test_thread_message_keeps_whom_the_questions_address():
    from kept.daemon.threader import thread_message

    item = thread_message(record("a", sender="mike@x.org", date=utc(2026, 1, 1),
                                 body="Mark,\n\nHave you received the docs?"), asks=True)
    assert item.addressed == ("mark",)
    mine = thread_message(record("b", sender=ME, to=("x@y.org",), date=utc(2026, 1, 1),
                                 body="Mark,\n\nHave you received the docs?"), asks=True)
    assert mine.addressed == ()

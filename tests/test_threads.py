"""Threading by headers and, where headers are missing, by subject and people."""

from __future__ import annotations

from kept.extractors.threads import Threader
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

"""Promises not owed yet: on the reader's move, or on an event."""

from __future__ import annotations

import pytest

from kept.extractors.promise_conditions import on_an_event, on_the_readers_move, pleasantry


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Send me your names and I'll print them in color for her.", True),
        ("Please provide me with your suggested changes and I will forward same to credit.", True),
        ("Call me when you have time tomorrow and we will set a time.", True),
        ("Next time you are headed this way, please do give me a shout and we will get together.", True),
        # an open offer or a bare comma first: the promise stands on its own
        ("Let me know what you think, and I will call you tomorrow to discuss.", False),
        ("Please call me if you have questions; I will send the final version Friday.", False),
        ("Get back to me when you can, I'll have the draft ready by Thursday.", False),
        ("Tell John that, as promised, I'll send the contract tomorrow.", False),
        ("Let me know when you get the originals and I will initial.", True),
        ("If acceptable, I will prepare two executables for routing.", True),
        ("If that works for you, I'll book the room.", True),
        ("If I can, I will come.", False),
        ("I'll send you the deck tomorrow.", False),
        ("Thanks for the note, I will send it Monday.", False),
        ("Let me know. I will call you Friday.", False),
        ("Sending the draft now and I will call you after lunch.", False),
    ],
)
def test_a_promise_that_waits_on_the_readers_move_first(sentence, expected):
    assert on_the_readers_move(sentence) is expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("I'll try to keep you up to date with any changes.", True),
        ("There are no plans as of yet, but I will be sure to keep you informed of any progress.", True),
        ("so I'll endeavor to pass on any info I receive.", True),
        ("I'll let you know if anything changes.", True),
        ("I will keep you informed.", False),
        ("I'll let you know when the contract is signed.", False),
        ("I'll pass on the figures tomorrow.", False),
        # joined to another promise, or with a day: a deliverable
        ("I will send you the revised contract tomorrow and keep you posted on any changes.", False),
        ("I'll send the signed copy Friday and let you know if anything else is needed.", False),
        ("I will pass along any comments from Legal by Friday.", False),
        ("From time to time we will all be called on to help, so I'll endeavor to pass on any info I receive.", True),
    ],
)
def test_a_standing_offer_waits_on_an_event(sentence, expected):
    assert on_an_event(sentence) is expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("I will talk to you next week.", True),
        ("and I will speak to you soon!", True),
        ("Lunch is tough, but I will keep in touch.", True),
        ("I'll see you in the new year.", True),
        # a matter, a meeting or an attendance named
        ("I'll talk to you about this tonight.", False),
        ("We will talk to you next week about the contract.", False),
        ("I will see you at 9 am on Sunday.", False),
        ("Thanks - I'll see you there!", False),
        ("I will be in touch tomorrow on details.", False),
        # a promise before the sign-off
        ("I'll send the draft tonight and I'll talk to you tomorrow.", False),
        ("I'll fix the invoice, then we'll catch up next week.", False),
    ],
)
def test_a_pleasantry_is_no_promise(sentence, expected):
    assert pleasantry(sentence) is expected

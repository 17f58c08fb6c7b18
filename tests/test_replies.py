"""Which received messages deserve an answer."""

import pytest

from kept.extractors.replies import is_acknowledgement, needs_reply


@pytest.mark.parametrize("text", [
    "Thanks, that's great!",
    "Got it, thank you.\n\nBest,\nAnna",
    "Perfect, see you Thursday.",
    "Sounds good.",
    "",
])
def test_acknowledgements_need_no_reply(text):
    assert is_acknowledgement(text)
    assert not needs_reply(text)


@pytest.mark.parametrize("text", [
    "Thanks! Could you send me the deck as well?",
    "Can we move our call to Friday?",
    "Here is the proposal for the Q3 workshop. We looked at three options for the venue and the "
    "budget, and the second one fits best. The team would like to start in early March, with two "
    "half-day sessions a week, and we need your input on the agenda before we book the room.",
])
def test_questions_and_substance_need_a_reply(text):
    assert needs_reply(text)


@pytest.mark.parametrize("text", [
    "FYI - the Q3 numbers came in higher than planned, mostly because of the new storage deals in "
    "Texas and a colder November than the forecast assumed. The details are in the attached file.",
    "With heartfelt sadness and warmest wishes for future success, I am bidding farewell to the "
    "following special professionals who have accepted offers with AEP/HPL: Kim, Sandi and Dan.",
    "Attached are the minutes of the meeting held on January 21. The next board meeting is in "
    "February at the usual place; Lisa will send the reminders once the location is confirmed.",
    "Just a reminder that the weekly staff meeting will take place on Monday from 8:30 to 9:30 in "
    "the video conference room. The staff meetings will continue every Monday at the same time.",
    "Tomorrow is my last day at Enron. It has been a pleasure working with all of you over the "
    "past six years, and I will miss the people most of all. My new address is below.",
])
def test_notices_need_no_reply(text):
    assert not needs_reply(text)


def test_a_notice_that_asks_still_needs_a_reply():
    assert needs_reply("FYI - the numbers came in today. Can you check the storage line before 5?")

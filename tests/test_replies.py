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

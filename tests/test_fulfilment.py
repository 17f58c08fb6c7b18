"""Whether a later sent message keeps a promise."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from kept.extractors.fulfilment import find_fulfilment
from kept.models import Address, MailMessage, Promise

MADE_AT = datetime(2001, 3, 14, 18, 0, tzinfo=timezone.utc)
LATER = MADE_AT + timedelta(days=1)
SALLY = Address("Sally Beck", "sally.beck@enron.com")
OTHER = Address("Greg Whalley", "greg.whalley@enron.com")


def promise(kind: str, action: str = "send you the storage report") -> Promise:
    return Promise(
        id="p1",
        account="work",
        message_id="<promise@enron.com>",
        thread_key="t-storage",
        sentence=f"I will {action} tomorrow.",
        action=action,
        kind=kind,
        counterparties=("sally.beck@enron.com",),
        made_at=MADE_AT,
        due=date(2001, 3, 15),
        due_is_default=False,
        confidence=0.9,
        rule_id="will-verb",
    )


def message(**fields) -> MailMessage:
    base = MailMessage(
        account="work",
        role="sent",
        folder=".Sent",
        message_id="<later@enron.com>",
        to=(SALLY,),
        date=LATER,
        subject="Re: storage",
        body_text="Sally, see below.",
        thread_key="t-storage",
    )
    return replace(base, **fields)


def test_attachment_in_the_thread_keeps_a_deliver_promise() -> None:
    later = message(has_attachment=True, attachment_names=("storage.xls",))
    assert find_fulfilment(promise("deliver"), later) == "attachment storage.xls in <later@enron.com>"


def test_link_keeps_a_deliver_promise() -> None:
    later = message(links=("http://example.com/report",))
    assert find_fulfilment(promise("deliver"), later) == "link http://example.com/report in <later@enron.com>"


def test_here_is_wording_keeps_a_deliver_promise() -> None:
    later = message(body_text="Here is the storage report you asked for.")
    assert "Here is" in find_fulfilment(promise("deliver"), later)


def test_plain_reply_does_not_keep_a_deliver_promise() -> None:
    assert find_fulfilment(promise("deliver"), message(body_text="Thanks, talk soon.")) is None


def test_attachment_to_the_counterparty_elsewhere_needs_the_same_topic() -> None:
    unrelated = message(thread_key="t-other", subject="Golf", has_attachment=True, attachment_names=("golf.jpg",))
    assert find_fulfilment(promise("deliver"), unrelated) is None
    related = replace(unrelated, subject="storage report", attachment_names=("q1.xls",))
    assert find_fulfilment(promise("deliver"), related) == "attachment q1.xls in <later@enron.com>"


def test_calendar_invitation_keeps_a_call_or_meet_promise() -> None:
    later = message(calendar_invite=True)
    assert find_fulfilment(promise("call-or-meet", "call you"), later) == "calendar invitation in <later@enron.com>"


def test_talked_wording_keeps_a_call_or_meet_promise() -> None:
    later = message(body_text="Good talking to you this morning.")
    assert find_fulfilment(promise("call-or-meet", "call you"), later) == '"Good talking" in <later@enron.com>'


def test_reply_in_thread_keeps_a_follow_up_promise() -> None:
    assert find_fulfilment(promise("follow-up", "get back to you"), message()) == (
        "reply in the thread in <later@enron.com>"
    )


def test_follow_up_needs_the_thread_or_wording() -> None:
    elsewhere = message(thread_key="t-other", subject="Lunch", body_text="Are you free Friday?")
    assert find_fulfilment(promise("follow-up", "get back to you"), elsewhere) is None


def test_as_promised_wording_keeps_any_kind_in_the_thread() -> None:
    later = message(body_text="As promised, the numbers are below.")
    assert find_fulfilment(promise("other", "fix the model"), later) == '"As promised" in <later@enron.com>'


def test_introduction_keeps_an_introduce_promise() -> None:
    later = message(thread_key="t-new", subject="Introduction: Sally, meet Greg", to=(SALLY, OTHER))
    assert find_fulfilment(promise("introduce", "introduce you to Greg"), later) == (
        '"Introduction" in <later@enron.com>'
    )


@pytest.mark.parametrize(
    "later",
    [
        message(role="received", has_attachment=True),
        message(date=MADE_AT - timedelta(hours=1), has_attachment=True),
        message(date=MADE_AT, has_attachment=True),
        message(message_id="<promise@enron.com>", has_attachment=True),
        message(thread_key="t-other", to=(OTHER,), has_attachment=True, subject="storage report"),
    ],
    ids=["received", "earlier", "same-time", "same-message", "other-thread-and-person"],
)
def test_messages_that_can_never_keep_it(later: MailMessage) -> None:
    assert find_fulfilment(promise("deliver"), later) is None


def test_naive_dates_do_not_raise() -> None:
    later = message(date=datetime(2001, 3, 20), has_attachment=True)
    assert find_fulfilment(promise("deliver"), later) is not None


def test_outside_the_thread_cc_only_mail_keeps_nothing() -> None:
    later = message(thread_key="t-other", to=(OTHER,), cc=(SALLY,), subject="Storage report",
                    has_attachment=True, attachment_names=("storage report.xls",))
    assert find_fulfilment(promise("deliver"), later) is None


def test_outside_the_thread_one_shared_word_is_not_the_same_topic() -> None:
    later = message(thread_key="t-other", subject="Weekly report", has_attachment=True,
                    attachment_names=("weekly.xls",), body_text="The weekly report is attached.")
    assert find_fulfilment(promise("deliver"), later) is None
    on_topic = replace(later, subject="Storage report")
    assert find_fulfilment(promise("deliver"), on_topic) is not None


def test_a_promise_to_a_crowd_is_only_kept_in_its_thread() -> None:
    crowd = replace(promise("deliver"), counterparties=tuple(f"p{n}@enron.com" for n in range(12)) + (
        "sally.beck@enron.com",))
    elsewhere = message(thread_key="t-other", subject="Storage report", has_attachment=True)
    assert find_fulfilment(crowd, elsewhere) is None
    assert find_fulfilment(crowd, replace(elsewhere, thread_key="t-storage")) is not None


def test_as_discussed_is_not_a_delivery_and_meeting_words_need_the_topic() -> None:
    later = message(thread_key="t-other", subject="Budget", body_text="As discussed, the budget is below.")
    assert find_fulfilment(promise("deliver"), later) is None
    meet = promise("call-or-meet", action="meet with Kim on her comments")
    unrelated = message(thread_key="t-other", subject="Lunch", body_text="Nice to see you yesterday!")
    assert find_fulfilment(meet, unrelated) is None
    assert find_fulfilment(meet, replace(unrelated, thread_key="t-storage")) is not None

"""Due dates named in a sentence, resolved against a fixed sent date."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from kept.extractors.dates import resolve_due

WEDNESDAY = datetime(2001, 3, 14, 10, 22, tzinfo=timezone(timedelta(hours=-8)))
FRIDAY = datetime(2001, 3, 16, 17, 0)
SATURDAY = datetime(2001, 3, 17, 9, 0)


@pytest.mark.parametrize(
    ("text", "due", "words"),
    [
        ("I'll send it by Friday.", date(2001, 3, 16), "by Friday"),
        ("I'll call you on Wednesday.", date(2001, 3, 21), "on Wednesday"),
        ("I'll call you Monday morning.", date(2001, 3, 19), "Monday morning"),
        ("I'll send it by Fri.", date(2001, 3, 16), "by Fri."),
        ("I'll call you next Tuesday.", date(2001, 3, 20), "next Tuesday"),
        ("I'll call you next Friday.", date(2001, 3, 23), "next Friday"),
        ("I'll send it tomorrow.", date(2001, 3, 15), "tomorrow"),
        ("I will get it to you tommorrow.", date(2001, 3, 15), "tommorrow"),
        ("Let's talk in the morning.", date(2001, 3, 15), "in the morning"),
        ("I'll do it today.", date(2001, 3, 14), "today"),
        ("I'll call you tonight.", date(2001, 3, 14), "tonight"),
        ("I'll call you this afternoon.", date(2001, 3, 14), "this afternoon"),
        ("I'll call you before I leave.", date(2001, 3, 14), "before I leave"),
        ("I will call you before I go home, promise.", date(2001, 3, 14), "before I go home"),
        ("I'll send it by 5 pm.", date(2001, 3, 14), "by 5 pm"),
        ("Let's meet next week.", date(2001, 3, 19), "next week"),
        ("I'll call early next week.", date(2001, 3, 19), "early next week"),
        ("I'll finish by the end of the week.", date(2001, 3, 16), "by the end of the week"),
        ("I'll finish it this week.", date(2001, 3, 16), "this week"),
        ("I'll send it by the end of next week.", date(2001, 3, 23), "by the end of next week"),
        ("We will pay by the end of the month.", date(2001, 3, 31), "by the end of the month"),
        ("We will pay next month.", date(2001, 4, 1), "next month"),
        ("I'll fix it in two days.", date(2001, 3, 16), "in two days"),
        ("I will follow up with her mid-afternoon.", date(2001, 3, 14), "mid-afternoon"),
        ("I will be calling during the day.", date(2001, 3, 14), "during the day"),
        ("I will send the memo before I leave for the day.", date(2001, 3, 14), "before I leave for the day"),
        ("I will have the report in production by the end of the year.", date(2001, 12, 31), "by the end of the year"),
        ("We will close the books at year-end.", date(2001, 12, 31), "year-end"),
        ("I will attend the reception on Thursday, April 5, 2001.", date(2001, 4, 5), "on Thursday, April 5, 2001"),
        ("I'll fix it in a couple of days.", date(2001, 3, 16), "in a couple of days"),
        ("I'll be done in 2 weeks.", date(2001, 3, 28), "in 2 weeks"),
        ("I'll have it by 3/15.", date(2001, 3, 15), "by 3/15"),
        ("I'll have it by 4/2/01.", date(2001, 4, 2), "by 4/2/01"),
        ("I'll call you on March 20th.", date(2001, 3, 20), "on March 20th"),
        ("I'll call you on Jan 5.", date(2002, 1, 5), "on Jan 5"),
        ("I'll send it by the 20th.", date(2001, 3, 20), "by the 20th"),
        ("I'll send it by the 2nd.", date(2001, 4, 2), "by the 2nd"),
        ("Let's play golf this weekend.", date(2001, 3, 17), "this weekend"),
        ("I will review it over the weekend.", date(2001, 3, 17), "over the weekend"),
        ("can you help me out sometime this w/e?", date(2001, 3, 17), "this w/e"),
        ("How about 2:30?", date(2001, 3, 14), "How about 2:30"),
        ("I will send it in 2-3 weeks.", date(2001, 4, 4), "in 2-3 weeks"),
        ("We will be done in two or three days.", date(2001, 3, 17), "in two or three days"),
        ("We will resend the latest version when finished (2-3 weeks).", date(2001, 4, 4), "(2-3 weeks)"),
        ("I'll call you this evening.", date(2001, 3, 14), "this evening"),
        ("I'll send it by end of day tomorrow.", date(2001, 3, 15), "by end of day tomorrow"),
        ("I'll send it by close of business tomorrow.", date(2001, 3, 15), "by close of business tomorrow"),
        ("I'll get back to you in a day or two.", date(2001, 3, 15), "in a day or two"),
        ("I'll send it later in the week.", date(2001, 3, 16), "later in the week"),
        ("I'll send it this coming Monday.", date(2001, 3, 19), "this coming Monday"),
        ("We'll meet at 9 am 3-20-01 in EB 3583.", date(2001, 3, 20), "3-20-01"),
        ("I'll call you at 3:30 p.m.", date(2001, 3, 14), "at 3:30 p.m."),
        # a clock time yields to anything that names the day
        ("I'll see you at Two Rows at 6:30 PM on Sunday.", date(2001, 3, 18), "on Sunday"),
        ("I'll send it by 3 pm tomorrow.", date(2001, 3, 15), "tomorrow"),
    ],
)
def test_expressions(text: str, due: date, words: str) -> None:
    assert resolve_due(text, WEDNESDAY) == (due, words)


@pytest.mark.parametrize(
    "text",
    [
        "I'll call you when I am back.",
        "I'll call 713-853-1591.",
        "It takes 3-5 days.",
        "I'll send it soon.",
        "I'll send it.",
        "I may have it.",
        "in May",
        # urgency that is the reader's, conditional, or a start, not a deadline
        "I'll call you as soon as I hear from them.",
        "Please let me know as soon as possible and I will tell Paige.",
        "We will give better service starting immediately.",
        # weekends and quarters only as times, not in passing
        "Have a nice weekend and I will send it.",
        # how long something took, in parentheses, is no due date
        "I took that course last year (2 weeks) and will send you my notes.",
        "The call ran about 1:30 and I will send the notes.",
        "I will send the second quarter results.",
        # prices, fractions and decimals are not dates
        "I'll buy it at $3/15 a unit.",
        "I'll need 1/2 hour with you.",
        "I'll stay 2 1/2 more.",
        "I'll lower the rate to 1.3/15.",
        "The score was 3:30 at the half and I will tell you more.",
        # time already gone
        "I sent it last Friday and will resend it.",
        "I will list the deals done yesterday and today.",
        "We will meet each Monday to set priorities.",
        # "HR" is Human Resources, not an hour
        "Let me check with Scott on her in an HR role.",
    ],
)
def test_no_date(text: str) -> None:
    assert resolve_due(text, WEDNESDAY) == (None, None)


def test_weekday_on_the_same_weekday_means_next_week() -> None:
    assert resolve_due("by Friday", FRIDAY)[0] == date(2001, 3, 23)


def test_end_of_week_on_a_weekend_is_the_coming_friday() -> None:
    assert resolve_due("by the end of the week", SATURDAY)[0] == date(2001, 3, 23)


def test_first_expression_wins() -> None:
    assert resolve_due("I'll call you tomorrow about Friday's meeting.", WEDNESDAY)[0] == date(2001, 3, 15)


def test_month_end_and_year_wrap() -> None:
    assert resolve_due("by the end of the month", datetime(2001, 2, 27))[0] == date(2001, 2, 28)
    assert resolve_due("tomorrow", datetime(2026, 12, 31))[0] == date(2027, 1, 1)
    assert resolve_due("next week", datetime(2026, 12, 30))[0] == date(2027, 1, 4)
    assert resolve_due("next month", datetime(2026, 12, 30))[0] == date(2027, 1, 1)


def test_resolved_in_the_writers_own_time_zone() -> None:
    late_evening = datetime(2001, 3, 14, 23, 30, tzinfo=timezone(timedelta(hours=-8)))
    assert resolve_due("tomorrow", late_evening)[0] == date(2001, 3, 15)


def test_impossible_dates_give_none() -> None:
    assert resolve_due("by 2/30", WEDNESDAY) == (None, None)


THURSDAY_JULY = datetime(2001, 7, 12, 9, 0)


@pytest.mark.parametrize(
    ("text", "due", "words"),
    [
        ("I'll do it ASAP.", date(2001, 3, 15), "ASAP"),
        ("I'll send it as soon as possible.", date(2001, 3, 15), "as soon as possible"),
        ("I'll call you shortly.", date(2001, 3, 15), "shortly"),
        ("I'll get on it right away.", date(2001, 3, 15), "right away"),
        ("I'll send my comments shortly after lunch.", date(2001, 3, 14), "shortly after lunch"),
        ("I'll call you ASAP tomorrow.", date(2001, 3, 15), "tomorrow"),
        ("I will call you on weekend.", date(2001, 3, 17), "on weekend"),
        ("I'll know by the end of the weekend.", date(2001, 3, 18), "by the end of the weekend"),
        ("Let's play golf next weekend.", date(2001, 3, 24), "next weekend"),
        ("I'll pay on the last day of the month.", date(2001, 3, 31), "on the last day of the month"),
        ("I'll finish the course this semester.", date(2001, 5, 15), "this semester"),
        ("I'll take the class next semester.", date(2001, 12, 15), "next semester"),
        ("I'll send it by close of business.", date(2001, 3, 14), "by close of business"),
        ("I'll call you first thing tomorrow morning.", date(2001, 3, 15), "first thing tomorrow morning"),
        ("I'll send it first thing in the morning.", date(2001, 3, 15), "first thing in the morning"),
        ("I'll have it by mid-month.", date(2001, 3, 15), "by mid-month"),
        ("I'll have it by the middle of next month.", date(2001, 4, 15), "by the middle of next month"),
        ("I'll close it by the end of the quarter.", date(2001, 3, 31), "by the end of the quarter"),
        ("We will start it next quarter.", date(2001, 6, 30), "next quarter"),
        ("We will ship it in Q3.", date(2001, 9, 30), "in Q3"),
        ("We will ship it in the third quarter.", date(2001, 9, 30), "in the third quarter"),
        ("I'll get back to you over the next day or so.", date(2001, 3, 15), "over the next day or so"),
        ("I'll review it in the next week or so.", date(2001, 3, 21), "in the next week or so"),
        ("I'll fix it within 3 days.", date(2001, 3, 17), "within 3 days"),
        ("I'll fix it within two weeks.", date(2001, 3, 28), "within two weeks"),
        ("We will clarify it by mid-week.", date(2001, 3, 14), "by mid-week"),
        ("I'll have it by mid-April.", date(2001, 4, 15), "by mid-April"),
        ("I'll have it in early May.", date(2001, 5, 10), "early May"),
        ("I'll have it by the end of April.", date(2001, 4, 30), "by the end of April"),
        ("We'll meet at 4:00 p.m. on March 20.", date(2001, 3, 20), "on March 20"),
        ("I'll get it at lunch.", date(2001, 3, 14), "at lunch"),
        ("I'll see you at 3:30.", date(2001, 3, 14), "at 3:30"),
        ("My friend is coming at about 6:30.", date(2001, 3, 14), "at about 6:30"),
        # the day before the month, with a capitalised month only
        ("I will send it on 20 March.", date(2001, 3, 20), "on 20 March"),
        ("I will send it by 20th March 2001.", date(2001, 3, 20), "by 20th March 2001"),
        ("Let's meet at 3:30 on Tuesday 20 Mar.", date(2001, 3, 20), "on Tuesday 20 Mar"),
        ("Option 2 may work better, I will call you.", None, None),
        ("We have 3 march deals to close.", None, None),
        ("576275 STCA buys ARCO SP-15 May-01 Off Peak 15 MW @ $135", None, None),
        # "our 1:00 meeting" names no day: minutes of it, or a call per it yesterday, are not due today
        ("I'll send the minutes from our 1:00 meeting.", None, None),
        ("Per our 9:00 call yesterday, I will send the revised term sheet.", None, None),
        ("Let's discuss in the afternoon.", date(2001, 3, 14), "in the afternoon"),
        ("Let's discuss it tomorrow in the afternoon.", date(2001, 3, 15), "tomorrow"),
        ("I'll change this in about 45 minutes.", date(2001, 3, 14), "in about 45 minutes"),
        ("I'll call you back in an hour.", date(2001, 3, 14), "in an hour"),
        ("I'll call you back in 2 hrs.", date(2001, 3, 14), "in 2 hrs"),
        ("I will be back the following Friday.", date(2001, 3, 23), "the following Friday"),
        # time already gone names no date; what follows it may
        ("After our talk earlier this week, I will send it on Monday.", date(2001, 3, 19), "on Monday"),
        ("It is effective as of March 1 and I'll send it Friday.", date(2001, 3, 16), "Friday"),
        ("As discussed with you today, I will send it on Friday.", date(2001, 3, 16), "on Friday"),
        ("I'll forward each of these per our discussion this morning by Friday.", date(2001, 3, 16), "by Friday"),
        # a weekday and a date that falls on another day elsewhere: the first wins
        ("I'll send it Friday; the lease starts April 3.", date(2001, 3, 16), "Friday"),
        # the date the sentence gives for the weekday it names wins
        ("I'll call you Monday to confirm the March 26 meeting.", date(2001, 3, 26), "March 26"),
    ],
)
def test_more_expressions(text: str, due: date, words: str) -> None:
    assert resolve_due(text, WEDNESDAY) == (due, words)


def test_explicit_date_after_a_weekday_and_a_clock_time_wins() -> None:
    # "Monday" alone would be 16 July, the Monday after the sent date.
    text = "Let's meet on Monday at 4:00 p.m., July 23rd."
    assert resolve_due(text, THURSDAY_JULY) == (date(2001, 7, 23), "July 23rd")


def test_explicit_date_right_after_a_weekday_wins_even_on_another_day() -> None:
    # 24 July 2001 is a Tuesday: the writer's date is kept, not the weekday.
    assert resolve_due("Let's meet Monday, 7/24.", THURSDAY_JULY) == (date(2001, 7, 24), "7/24")


def test_ordinal_before_the_sent_day_is_next_month() -> None:
    assert resolve_due("I'll have it before the meeting on the 12th.", datetime(2001, 3, 20)) == (
        date(2001, 4, 12),
        "on the 12th",
    )


def test_mid_month_after_the_15th_is_next_month() -> None:
    assert resolve_due("by mid-month", datetime(2001, 3, 20))[0] == date(2001, 4, 15)


def test_semester_in_december_is_the_spring_one() -> None:
    assert resolve_due("this semester", datetime(2001, 12, 20))[0] == date(2002, 5, 15)


def test_quarter_already_past_is_next_year() -> None:
    assert resolve_due("by Q1", datetime(2001, 5, 2))[0] == date(2002, 3, 31)
    assert resolve_due("by Q1 2000", datetime(2001, 5, 2)) == (None, None)


def test_mid_week_later_in_the_week_is_next_wednesday() -> None:
    assert resolve_due("by mid-week", FRIDAY)[0] == date(2001, 3, 21)


def test_date_without_year_recently_past_is_no_due_date() -> None:
    # written 2 January: 31 December was two days ago, so the next expression decides
    assert resolve_due("Over the next day or so I will check the 12/31 books.", datetime(2002, 1, 2)) == (
        date(2002, 1, 3),
        "Over the next day or so",
    )
    assert resolve_due("I'll send the bills from 4/20.", datetime(2001, 6, 18)) == (None, None)
    # further back than two months it is next year's
    assert resolve_due("I'll call you on Jan 5.", WEDNESDAY)[0] == date(2002, 1, 5)


def test_end_of_a_named_month_checks_the_month_end_not_its_first_day() -> None:
    # 31 January is 42 days before the sent date: past, not next year's.
    assert resolve_due("I'll see you at the end of January.", WEDNESDAY) == (None, None)
    assert resolve_due("I'll see you at the end of January.", datetime(2001, 1, 12))[0] == date(2001, 1, 31)


def test_only_the_first_characters_are_read() -> None:
    assert resolve_due("x " * 1500 + "tomorrow", WEDNESDAY) == (None, None)


def test_a_misspelled_weekday_is_that_weekday():
    """'let's discuss when you get back Wednesay' (real mail) is due that Wednesday."""
    monday = datetime(2001, 9, 10, 10, tzinfo=timezone.utc)
    assert resolve_due("John, let's discuss when you get back Wednesay.", monday) == (date(2001, 9, 12), "Wednesay")
    assert resolve_due("I will call you Thrusday.", monday)[0] == date(2001, 9, 13)

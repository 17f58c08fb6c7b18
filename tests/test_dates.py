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
    ["I'll call you when I am back.", "I'll call 713-853-1591.", "It takes 3-5 days.", "I'll send it soon.", "I'll call you shortly.", "I'll do it ASAP.", "I'll send it.", "I may have it.", "in May"],
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

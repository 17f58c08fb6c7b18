"""Due dates named in a sentence, resolved against the date it was written.

`resolve_due` finds the first date expression in a sentence with a small set
of regular expressions and resolves it itself. Writing the resolution out
keeps it fast (the extractor calls it for every promise) and makes the
conventions explicit instead of leaving them to a general-purpose parser:

* a weekday name means the next such day strictly after the sent date
  ("by Friday" written on a Wednesday is two days later; written on a Friday
  it is a week later); "next Friday" is the Friday of the next calendar week
  (weeks start on Monday);
* "next week" is the Monday of the following week; "end of the week", "this
  week" and "before the weekend" the Friday of the current week (the coming
  Friday when written on a weekend); "this weekend" the Saturday on or after;
* "in the morning", "in a day or so" / "or two" are the next day; "by end of
  day tomorrow" is tomorrow, not the sent day;
* "over the weekend" is "this weekend"; "later in the week" is "this week";
* "end of the month" is the month's last day, "next month" the first day of
  the next month;
* "tomorrow" is one day later, "today", "tonight", "this afternoon",
  "mid-afternoon", "during the day", "before I leave for the day" and
  "by 3pm" the sent day itself, "in two days" two days later; a clock time
  counts only when nothing else names a day ("at 6:30 PM on Sunday" is
  Sunday, "by 3 pm tomorrow" tomorrow);
* "by the end of the year" / "year-end" is 31 December of the sent year;
* "soon", "shortly", "ASAP" and sentences without a date give no date: the
  caller applies the default horizon for the promise's kind;
* explicit dates ("by 3/15", "8-14-01", "on March 15th", "the 15th", "on Thursday,
  January 6" -- the date, not the weekday, decides) take the year of
  the sent date, or the next year when that would put them more than a
  month in the past.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

__all__ = ["resolve_due"]

_WEEKDAYS = {
    "monday": 0, "mon": 0,
    "tuesday": 1, "tue": 1, "tues": 1,
    "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3,
    "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}  # fmt: skip

_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3,
    "april": 4, "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7,
    "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9,
    "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip

_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "a couple of": 2, "a couple": 2, "couple of": 2, "a few": 3, "few": 3,
}  # fmt: skip

# Short weekday forms only count when capitalised or followed by a dot, so
# "sun", "sat" and "wed" in running text are not read as dates.
_WEEKDAY_LONG = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_WEEKDAY_SHORT = r"Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun"
_MONTH_NAMES = (
    r"january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
)
_NUMBER_WORDS = r"\d{1,2}|a couple of|a couple|couple of|a few|few|an?|one|two|three|four|five|six|seven|eight|nine|ten"
# "over"/"during" frame a weekend or a span ("over the weekend") like "by" frames a deadline.
_PREP = r"(?:(?:by|before|on|until|till|for|around|over|during|no later than|first thing)\s+)?"

Resolver = Callable[[re.Match[str], date], date | None]


def _weekday_after(base: date, weekday: int) -> date:
    """The next `weekday` strictly after `base`."""
    days = (weekday - base.weekday()) % 7 or 7
    return base + timedelta(days=days)


def _friday_this_week(base: date) -> date:
    """Friday of the week of `base`; on a weekend, the coming Friday."""
    if base.weekday() >= 5:
        return _weekday_after(base, 4)
    return base + timedelta(days=4 - base.weekday())


def _monday_next_week(base: date) -> date:
    return base + timedelta(days=7 - base.weekday())


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _next_month_start(base: date) -> date:
    return date(base.year + (base.month == 12), base.month % 12 + 1, 1)


def _number(word: str) -> int:
    word = " ".join(word.lower().split())
    return int(word) if word.isdigit() else _NUMBERS[word]


def _month_day(base: date, month: int, day: int, year: int | None) -> date | None:
    """A calendar date; without a year, the one nearest ahead of `base`."""
    if year is not None and year < 100:
        year += 2000 if year < 70 else 1900
    try:
        found = date(year or base.year, month, day)
    except ValueError:
        return None
    if year is None and found < base - timedelta(days=31):
        try:
            found = found.replace(year=base.year + 1)
        except ValueError:  # 29 February
            return None
    return found


def _resolve_weekday(match: re.Match[str], base: date) -> date:
    name = match.group("weekday").lower().rstrip(".")
    found = _weekday_after(base, _WEEKDAYS[name])
    if (match.group("which") or "").lower() in ("next", "next week"):
        # "next Friday": the Friday of the next calendar week.
        found = _monday_next_week(base) + timedelta(days=_WEEKDAYS[name])
    return found


def _resolve_in_days(match: re.Match[str], base: date) -> date:
    count = _number(match.group("count"))
    unit = match.group("unit").lower()
    return base + timedelta(days=count * (7 if unit.startswith("week") else 1))


def _resolve_month_name(match: re.Match[str], base: date) -> date | None:
    year = match.group("year")
    return _month_day(
        base, _MONTHS[match.group("month").lower().rstrip(".")], int(match.group("day")), int(year) if year else None
    )


def _resolve_day_month_name(match: re.Match[str], base: date) -> date | None:
    return _month_day(base, _MONTHS[match.group("month").lower().rstrip(".")], int(match.group("day")), None)


def _resolve_numeric(match: re.Match[str], base: date) -> date | None:
    year = match.group("year")
    return _month_day(base, int(match.group("month")), int(match.group("day")), int(year) if year else None)


def _resolve_ordinal(match: re.Match[str], base: date) -> date | None:
    day = int(match.group("day"))
    found = _month_day(base, base.month, day, base.year)
    if found is not None and found >= base:
        return found
    following = _next_month_start(base)
    return _month_day(base, following.month, day, following.year)


def _resolve_end_of_next_week(match: re.Match[str], base: date) -> date:
    return _monday_next_week(base) + timedelta(days=4)


def _resolve_end_of_month(match: re.Match[str], base: date) -> date:
    return _month_end(base.year, base.month)


def _resolve_end_of_next_month(match: re.Match[str], base: date) -> date:
    following = _next_month_start(base)
    return _month_end(following.year, following.month)


def _fixed(days: int) -> Resolver:
    return lambda match, base: base + timedelta(days=days)


def _compile(pattern: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile(r"(?<![\w/])" + pattern + r"(?![\w/])", flags)


# Order matters only for expressions starting at the same place: the longest
# match wins, then the earlier rule.
_RULES: tuple[tuple[re.Pattern[str], Resolver], ...] = (
    (_compile(_PREP + r"(?:the\s+)?day after tomorrow"), _fixed(2)),
    # "by end of day tomorrow" is tomorrow: the day named wins over the
    # time-of-day phrase that would otherwise resolve to the sent day.
    (
        _compile(
            _PREP + r"(?:(?:the\s+)?(?:end|close)\s+of\s+(?:the\s+)?(?:business\s+day|business|day)\s+|eod\s+|cob\s+)?"
            r"tomm?orr?ow(?:\s+(?:morning|afternoon|evening|night|am|pm))?"
        ),
        _fixed(1),
    ),
    (_compile(r"(?:first thing )?in the morning|in a day or (?:so|two)"), _fixed(1)),
    (
        _compile(
            _PREP + r"(?:today|tonight|this\s+(?:morning|afternoon|evening)|later\s+today|"
            r"(?:the\s+)?end\s+of\s+(?:the\s+|to)?day|eod|cob|close\s+of\s+business|"
            r"mid\s*-?\s*(?:morning|afternoon|day)|later\s+this\s+(?:morning|afternoon|evening)|"
            r"during\s+the\s+day|(?:before\s+)?(?:I|we)\s+leave\s+(?:for\s+the\s+day|today|tonight|the\s+office\s+today))"
        ),
        _fixed(0),
    ),
    (_compile(_PREP + r"(?:the\s+)?end\s+of\s+next\s+week"), _resolve_end_of_next_week),
    (
        _compile(
            _PREP + r"(?:the\s+)?(?:end\s+of\s+(?:the\s+|this\s+)?week|eow|"
            r"(?:later\s+|sometime\s+)?this\s+week|later\s+in\s+the\s+week|before\s+the\s+weekend)"
        ),
        lambda m, b: _friday_this_week(b),
    ),
    (_compile(_PREP + r"(?:early\s+|sometime\s+|the\s+first\s+of\s+|first\s+of\s+)?next\s+week"), lambda m, b: _monday_next_week(b)),
    (_compile(_PREP + r"(?:this|the)\s+weekend"), lambda m, b: _weekday_after(b - timedelta(days=1), 5)),
    (_compile(_PREP + r"(?:the\s+)?end\s+of\s+next\s+month"), _resolve_end_of_next_month),
    (
        _compile(_PREP + r"(?:the\s+)?(?:end\s+of\s+(?:the\s+|this\s+)?month|month[-\s]end|eom)"),
        _resolve_end_of_month,
    ),
    (_compile(_PREP + r"(?:early\s+)?next\s+month"), lambda m, b: _next_month_start(b)),
    (
        _compile(_PREP + r"(?:the\s+)?(?:end\s+of\s+(?:the\s+|this\s+)?year|year[-\s]end)"),
        lambda m, b: date(b.year, 12, 31),
    ),
    (
        _compile(
            r"(?:in|within)\s+(?:the\s+next\s+)?(?P<count>" + _NUMBER_WORDS + r")\s+(?:more\s+)?"
            r"(?:business\s+|working\s+)?(?P<unit>days?|weeks?)"
        ),
        _resolve_in_days,
    ),
    (
        _compile(
            _PREP + r"(?:(?P<which>next week|next|this coming|this|coming)\s+)?"
            r"(?P<weekday>" + _WEEKDAY_LONG + r")(?:\s+(?:morning|afternoon|evening|night|am|pm))?"
        ),
        _resolve_weekday,
    ),
    (
        _compile(_PREP + r"(?:(?P<which>next|this|coming)\s+)?(?P<weekday>" + _WEEKDAY_SHORT + r")\b\.?", 0),
        _resolve_weekday,
    ),
    (
        _compile(
            # A weekday before the date ("Thursday, January 6") adds nothing;
            # matching it here lets the longer, explicit expression win.
            _PREP + r"(?:(?:" + _WEEKDAY_LONG + r"),?\s+)?"
            r"(?P<month>" + _MONTH_NAMES + r")\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?"
            r"(?:,?\s+(?P<year>(?:19|20)\d\d))?"
        ),
        _resolve_month_name,
    ),
    (
        _compile(_PREP + r"(?:the\s+)?(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+of\s+(?P<month>" + _MONTH_NAMES + r")"),
        _resolve_day_month_name,
    ),
    (
        _compile(_PREP + r"(?P<month>1[0-2]|0?[1-9])/(?P<day>3[01]|[12]\d|0?[1-9])(?:/(?P<year>\d{4}|\d\d))?"),
        _resolve_numeric,
    ),
    # "8-14-01": with dashes only with a year, so that ranges ("3-5 days")
    # and phone numbers stay out.
    (
        _compile(_PREP + r"(?P<month>1[0-2]|0?[1-9])-(?P<day>3[01]|[12]\d|0?[1-9])-(?P<year>\d{4}|\d\d)(?!-)"),
        _resolve_numeric,
    ),
    (_compile(r"(?:by|before|on|until)\s+the\s+(?P<day>3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)"), _resolve_ordinal),
)

#: A clock time alone ("at 3 pm") is the sent day, but only when nothing
#: else in the sentence names a day: "at 6:30 PM on Sunday" is Sunday, and
#: "by 3 pm tomorrow" tomorrow.
_CLOCK_TIME = _compile(_PREP + r"(?:at\s+)?\d{1,2}(?::\d\d)?\s*(?:am|pm|a\.m\.|p\.m\.)")


def resolve_due(text: str, sent_at: datetime) -> tuple[date | None, str | None]:
    """The due date a sentence names and the words that name it.

    The first date expression in `text` wins; a clock time alone only
    when there is no other. Relative expressions are
    resolved against ``sent_at`` in its own time zone (the writer's calendar
    day). Vague expressions ("soon", "ASAP") and sentences without any give
    ``(None, None)``; see the module docstring for the conventions.

    :param text: one sentence.
    :param sent_at: when it was written; naive datetimes are taken as-is.
    :returns: ``(due date, matched words)`` or ``(None, None)``.
    """
    base = sent_at.date()
    best: tuple[int, int, re.Match[str], Resolver] | None = None
    for pattern, resolver in _RULES:
        match = pattern.search(text)
        if match is None:
            continue
        key = (match.start(), -(match.end() - match.start()))
        if best is None or key < best[:2]:
            best = (*key, match, resolver)
    if best is None:
        clock = _CLOCK_TIME.search(text)
        if clock is None:
            return None, None
        best = (clock.start(), 0, clock, _fixed(0))
    match, resolver = best[2], best[3]
    try:
        found = resolver(match, base)
    except (KeyError, ValueError, OverflowError):
        return None, None
    if found is None:
        return None, None
    return found, " ".join(match.group(0).split())

"""Due dates named in a sentence, resolved against the date it was written.

`resolve_due` finds the date expressions in a sentence with a small set of
regular expressions and resolves them itself. Writing the resolution out
keeps it fast (the extractor calls it for every promise) and makes the
conventions explicit instead of leaving them to a general-purpose parser.
This docstring is the one place they are written down.

Which expression decides:

* the first one in the sentence ("I'll call you tomorrow about Friday's
  meeting" is tomorrow), with these exceptions:
* a calendar date beats a weekday when it is the weekday's own date: right
  after it, with at most a clock time, commas, "at", "on" between ("Monday
  at 4:00 p.m., July 23rd" is 23 July whichever day that is), or anywhere
  in the sentence when it falls on that weekday ("Monday ... the March 26
  meeting" is 26 March if that is a Monday); otherwise the first wins
  ("Friday; the lease starts April 3" is Friday);
* a calendar date before the sent date is something that happened
  ("effective as of March 1"), not a due date: it is skipped and the next
  expression decides; so is time already gone ("earlier this week",
  "earlier today", "last Friday", "last week", "as discussed today", "our
  conversation this morning", "yesterday and today") and a habit ("each
  Monday", "every week");
* a clock time ("at 3 pm", "by 4:00 p.m.", "at 3:30" -- without am/pm
  only after at / by / before / around / until / how about: "How about 2:30?",
  "at about 6:30"), lunch ("after lunch",
  "at lunch") or "in the afternoon / evening" is the sent day, and an urgent word the next day, but only when
  nothing else names a day ("at 6:30 PM on Sunday" is Sunday, "by 3 pm
  tomorrow" tomorrow, "shortly after lunch" the sent day);
* only the first `MAX_CHARS` characters are read.

What each expression means (all relative to the writer's calendar day):

* a weekday name means the next such day strictly after the sent date
  ("by Friday" written on a Wednesday is two days later; written on a Friday
  it is a week later); "next Friday" is the Friday of the next calendar week
  (weeks start on Monday);
* "tomorrow" (also "first thing tomorrow morning", "by end of day
  tomorrow"), "in the morning", "in / over the next day or so" are the next
  day; "the day after tomorrow" two days later;
* "today", "tonight", "this afternoon", "later today", "later in the day",
  "mid-afternoon", "during the day", "before I leave for the day", "by close
  of business" / "COB" / "EOD" are the sent day;
* "this week", "end of the week", "later in the week", "within the week",
  "before the weekend" are the Friday of the current week (the coming
  Friday when written on a weekend); "mid-week" the Wednesday of the current
  week (the next one when written after Wednesday); "next week", "early
  next week" the Monday of the following week; "end of next week" its
  Friday; "the following Friday" is "next Friday";
* "this / the weekend" (or "this w/e"), "over / on / during the weekend", "on weekend" are
  the Saturday on or after the sent date; "end of the weekend" the Sunday;
  "next weekend" the Saturday of the next calendar week; "have a nice
  weekend" names no date (a bare "weekend" needs a preposition);
* "end of the month", "month-end", "the last day of the month" are the
  month's last day; "mid-month", "middle of the month" the 15th (next
  month's when written after the 15th), "middle of next month" next month's
  15th; "next month", "early next month" its 1st; "end of next month" its
  last day;
* a part of a named month: "beginning / start of March" the 1st, "early
  March" the 10th, "mid-March" / "middle of March" the 15th, "late March" /
  "end of March" its last day;
* "end of the quarter", "this quarter", "quarter-end" are the current
  calendar quarter's last day, "next quarter" the next one's; a named
  quarter after a preposition ("in Q3", "by the third quarter", "end of Q1
  2002") its last day, this year or, when that is past, next year ("second
  quarter results" is a topic, not a date);
* "this semester" is the end of the current semester, taken as 15 May
  (January to 15 May) or 15 December (16 May to 15 December; after that
  next year's 15 May); "next semester" the end of the one after;
* "by the end of the year" / "year-end" is 31 December of the sent year;
* "in two days", "within 3 days", "in a couple of days", "in the next few
  days" (few = 3), "within two weeks" count calendar days from the sent
  date; "in the next week (or so)" is a week later; "in about 45 minutes",
  "in an hour", "within a few hours" the sent day;
* explicit dates ("by 3/15", "8-14-01", "on March 15th", "the 15th of
  March", "on Thursday, January 6") without a year take the sent date's
  year, or the next year when that would put them more than two months
  (`_PAST_DAYS`) in the past; a date up to two months past is a past date
  (see above); the day may come first ("on 20 March", "by 20th March
  2001") when the month is capitalised. "by / before / on / until the 12th" is this month's 12th, or
  next month's when the 12th has passed;
* numbers that are not dates: prices ("$3/15"), fractions ("1/2 hour",
  "2 1/2"), decimals ("1.3/15"), ranges ("3-5 days"), phone numbers
  ("713-853-1591": dashed dates need a year), a score or ratio ("3:30"
  with no at / by before it);
* urgency: "ASAP", "as soon as possible" / "as soon as I can", "right
  away", "immediately", "shortly" mean the next day (a day's grace): the
  writer named a time, so the promise should not wait for the kind's
  default horizon (3 to 14 days) and is not marked as undated. Not when
  the urgency is asked of the reader ("please let me know ASAP and I will
  ..."), conditional ("shortly after", "as soon as I hear") or a start
  ("starting immediately");
* "soon", "sometime", "later" and sentences without any time give no date:
  the caller applies the default horizon for the promise's kind and marks
  the promise `due_is_default`.
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
    # Misspellings seen in real mail: "let's discuss when you get back Wednesay".
    "tuseday": 1, "teusday": 1, "wednesay": 2, "wedensday": 2, "wendsday": 2, "wensday": 2, "wednsday": 2,
    "thrusday": 3, "thurday": 3, "firday": 4, "saterday": 5,
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
_WEEKDAY_LONG = (
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|tuseday|teusday|wednesay|wedensday|wendsday|wensday|wednsday|thrusday|thurday|firday|saterday"
)
_WEEKDAY_SHORT = r"Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun"
_MONTH_NAMES = (
    r"january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
)
_MONTH_NAMES_CAPITALISED = "|".join(name.capitalize() for name in _MONTH_NAMES.split("|"))
# Only full names (and the unambiguous abbreviations) after "end of", "mid-":
# "end of may" is a month, "mid-mar" hardly ever.
_MONTH_NAMES_LONG = (
    r"january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|aug|sept|oct|nov|dec"
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
    if year is None and found < base - timedelta(days=_PAST_DAYS):
        try:
            found = found.replace(year=base.year + 1)
        except ValueError:  # 29 February
            return None
    return found


#: A date without a year up to this many days before the sent date is a past
#: date (not a due date); further back it is read as next year's.
_PAST_DAYS = 61


def _resolve_weekday(match: re.Match[str], base: date) -> date:
    name = match.group("weekday").lower().rstrip(".")
    found = _weekday_after(base, _WEEKDAYS[name])
    if (match.group("which") or "").lower().split()[-1:] in (["next"], ["week"], ["following"]):
        # "next Friday" / "the following Friday": the Friday of the next calendar week.
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


#: Where in a named month a part of it falls: "early March" is due by the
#: 10th, "mid-March" the 15th, "end of / late March" its last day.
_MONTH_PART_DAY = {"beginning": 1, "start": 1, "early": 10, "mid": 15, "middle": 15}


def _resolve_part_of_month(match: re.Match[str], base: date) -> date | None:
    month = _MONTHS[match.group("month").lower()]
    part = (match.group("part") or match.group("part2")).lower()
    year = match.group("year")
    if part in ("end", "late"):
        day = calendar.monthrange(int(year) if year else base.year, month)[1]
    else:
        day = _MONTH_PART_DAY[part]
    return _month_day(base, month, day, int(year) if year else None)


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


def _resolve_last_day_of_month(match: re.Match[str], base: date) -> date:
    # "the last day of the month" written on that last day means the
    # month-end itself, not the next one.
    return _month_end(base.year, base.month)


def _resolve_mid_month(match: re.Match[str], base: date) -> date:
    if base.day <= 15 and not match.group("next"):
        return base.replace(day=15)
    return _next_month_start(base).replace(day=15)


def _quarter_end(year: int, quarter: int) -> date:
    return _month_end(year, quarter * 3)


def _resolve_quarter(match: re.Match[str], base: date) -> date | None:
    """A named quarter ("Q3", "third quarter"): its last day, this year or next."""
    word = match.group("quarter") or match.group("quarter_word")
    quarter = int(word) if word.isdigit() else _QUARTER_WORDS[word.lower()]
    year = match.group("qyear")
    if year:
        found = _quarter_end(int(year), quarter)
        return found if found >= base else None
    found = _quarter_end(base.year, quarter)
    return found if found >= base else _quarter_end(base.year + 1, quarter)


def _resolve_this_quarter(match: re.Match[str], base: date) -> date:
    quarter = (base.month - 1) // 3 + 1
    if match.group("next"):
        return _quarter_end(base.year + (quarter == 4), quarter % 4 + 1)
    return _quarter_end(base.year, quarter)


def _semester_end(base: date) -> date:
    """The end of the semester `base` falls in: 15 May or 15 December."""
    if base <= date(base.year, 5, 15):
        return date(base.year, 5, 15)
    if base <= date(base.year, 12, 15):
        return date(base.year, 12, 15)
    return date(base.year + 1, 5, 15)


def _resolve_semester(match: re.Match[str], base: date) -> date:
    found = _semester_end(base)
    if match.group("next"):
        found = _semester_end(found + timedelta(days=1))
    return found


def _resolve_mid_week(match: re.Match[str], base: date) -> date:
    # Written on a Wednesday, mid-week is that day.
    if base.weekday() <= 2:
        return base + timedelta(days=2 - base.weekday())
    return _weekday_after(base, 2)


def _fixed(days: int) -> Resolver:
    return lambda match, base: base + timedelta(days=days)


def _compile(pattern: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile(r"(?<![\w/])" + pattern + r"(?![\w/])", flags)


def _compile_numeric(pattern: str) -> re.Pattern[str]:
    """A numeric date: not a price ("$3/15"), decimal, fraction ("2 1/2", "1/2 hour") or part of a number."""
    return re.compile(
        r"(?<![\w/$\u00a3\u20ac#.:-])(?<!\d\s)" + pattern + r"(?![\w/%]|\.\d|\s*(?:" + _FRACTION_NOUNS + r")\b)",
        re.IGNORECASE,
    )


_QUARTER_WORDS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
# Words after "1/2" or "3/4" that make it a fraction, not a date.
_FRACTION_NOUNS = (
    r"of|hours?|hrs?|days?|weeks?|months?|years?|miles?|inch(?:es)?|points?|pts?|cents?|percent|"
    r"shares?|mw|mwh|mmbtu|bcf|gallons?|barrels?|acres?|pounds?|lbs?|cups?|tsp|tbsp"
)


# Tags: which rule a match came from matters for the weekday/date choice and
# for past dates (see `resolve_due`).
_WEEKDAY = "weekday"
_EXPLICIT = "explicit"
_RELATIVE = "relative"
_PAST = "past"

_TOMORROW_DAYPART = r"(?:\s+(?:morning|afternoon|evening|night|am|pm))?"

# Order matters only for expressions starting at the same place: the longest
# match wins, then the earlier rule.
_RULES: tuple[tuple[re.Pattern[str], Resolver, str], ...] = (
    # Time already gone ("our discussion earlier this week", "last Friday")
    # names no due date; matching it keeps "this week" or "Friday" inside it
    # from being read as one.
    (
        _compile(
            r"(?:earlier|previously)\s+(?:this\s+(?:week|month|year|morning|afternoon|evening)|today|tonight|in\s+the\s+(?:week|day|month))|"
            r"last\s+(?:week(?:end)?|month|year|night|(?:" + _WEEKDAY_LONG + r"))|"
            # a habit names no one day ("each Monday", "every week")
            r"(?:each|every)\s+(?:day|morning|evening|night|week(?:end)?|month|quarter|year|(?:"
            + _WEEKDAY_LONG
            + r"))|"
            # a talk that took place ("as discussed today", "our conversation
            # this morning", "deals done yesterday and today")
            r"(?:yesterday\s+and\s+|(?:discussed|discussion|conversation|talked|spoke)\s+(?:with\s+\w+\s+)?)"
            r"(?:today|this\s+(?:morning|afternoon))"
        ),
        lambda m, b: None,
        _PAST,
    ),
    (_compile(_PREP + r"(?:the\s+)?day after tomorrow"), _fixed(2), _RELATIVE),
    # "by end of day tomorrow" is tomorrow: the day named wins over the
    # time-of-day phrase that would otherwise resolve to the sent day.
    (
        _compile(
            _PREP + r"(?:(?:the\s+)?(?:end|close)\s+of\s+(?:the\s+)?(?:business\s+day|business|day)\s+|eod\s+|cob\s+)?"
            r"(?:first\s+thing\s+)?tomm?orr?ow" + _TOMORROW_DAYPART
        ),
        _fixed(1),
        _RELATIVE,
    ),
    (
        _compile(
            r"(?:first thing )?in the morning|(?:(?:in|over|within)\s+(?:the\s+next\s+)?|in\s+)a\s+day\s+or\s+(?:so|two)"
            r"|(?:in|over|within)\s+the\s+next\s+day\s+or\s+(?:so|two)"
        ),
        _fixed(1),
        _RELATIVE,
    ),
    (
        _compile(
            _PREP + r"(?:today|tonight|this\s+(?:morning|afternoon|evening)|later\s+(?:today|tonight|in\s+the\s+day)|"
            r"(?:the\s+)?end\s+of\s+(?:the\s+|to)?day|eod|cob|(?:the\s+)?close\s+of\s+business|"
            r"mid\s*-?\s*(?:morning|afternoon|day)|later\s+this\s+(?:morning|afternoon|evening)|"
            r"during\s+the\s+day|(?:before\s+)?(?:I|we)\s+leave\s+(?:for\s+the\s+day|today|tonight|the\s+office\s+today)|"
            # "I'll call you before I leave." (labelled held-out digest): the end of that day.
            r"before\s+(?:I|we)\s+(?:leave|go\s+home|head\s+(?:home|out)|take\s+off)(?=\s*(?:[.!;,)]|$)))"
        ),
        _fixed(0),
        _RELATIVE,
    ),
    (_compile(_PREP + r"(?:the\s+)?end\s+of\s+next\s+week"), _resolve_end_of_next_week, _RELATIVE),
    (
        _compile(
            _PREP + r"(?:the\s+)?(?:end\s+of\s+(?:the\s+|this\s+)?week|eow|"
            r"(?:later\s+|sometime\s+)?this\s+week|later\s+in\s+the\s+week|within\s+the\s+week|before\s+the\s+weekend)"
        ),
        lambda m, b: _friday_this_week(b),
        _RELATIVE,
    ),
    (_compile(_PREP + r"(?:the\s+)?mid\s*-?\s*week"), _resolve_mid_week, _RELATIVE),
    (
        _compile(
            _PREP + r"(?:early\s+|sometime\s+|the\s+first\s+of\s+|first\s+of\s+|the\s+beginning\s+of\s+)?next\s+week"
        ),
        lambda m, b: _monday_next_week(b),
        _RELATIVE,
    ),
    # "weekend" is Saturday; its end Sunday. A bare "weekend" counts only
    # after a preposition ("call you on weekend"), so "have a nice weekend"
    # names no date.
    (
        # "this w/e" is how people abbreviate it; "w/e 10/15" (week ending) needs no "this".
        _compile(_PREP + r"(?:(?:this|the|this\s+coming|the\s+coming)\s+(?:weekend|w/e)|(?:on|over|during|by|for)\s+weekend)"),
        lambda m, b: _weekday_after(b - timedelta(days=1), 5),
        _RELATIVE,
    ),
    (
        _compile(_PREP + r"(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)weekend"),
        lambda m, b: _weekday_after(b - timedelta(days=1), 6),
        _RELATIVE,
    ),
    (_compile(_PREP + r"next\s+weekend"), lambda m, b: _monday_next_week(b) + timedelta(days=5), _RELATIVE),
    (_compile(_PREP + r"(?:the\s+)?end\s+of\s+next\s+month"), _resolve_end_of_next_month, _RELATIVE),
    (
        _compile(
            _PREP + r"(?:the\s+)?(?:end\s+of\s+(?:the\s+|this\s+)?month|month[-\s]end|eom|"
            r"last\s+day\s+of\s+(?:the\s+|this\s+)month)"
        ),
        _resolve_end_of_month,
        _RELATIVE,
    ),
    (
        _compile(_PREP + r"(?:the\s+)?(?:mid\s*-?\s*|middle\s+of\s+)(?:(?P<next>next\s+)|the\s+|this\s+)?month"),
        _resolve_mid_month,
        _RELATIVE,
    ),
    (
        _compile(_PREP + r"(?:early\s+|the\s+(?:first|beginning)\s+of\s+|first\s+of\s+)?next\s+month"),
        lambda m, b: _next_month_start(b),
        _RELATIVE,
    ),
    (
        _compile(
            _PREP
            + r"(?:(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?(?:quarter|qtr)|(?:(?P<next>next)|this)\s+(?:quarter|qtr)|"
            r"(?:the\s+)?quarter[-\s]end)"
        ),
        _resolve_this_quarter,
        _RELATIVE,
    ),
    (
        _compile(
            # Only after a preposition: "second quarter results" is a topic.
            r"(?:(?:by|before|in|during|until|till|for)\s+(?:the\s+)?(?:end\s+of\s+(?:the\s+)?)?|(?:the\s+)?end\s+of\s+(?:the\s+)?)"
            r"(?:Q(?P<quarter>[1-4])|"
            r"(?P<quarter_word>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter)"
            r"(?:\s+(?:of\s+)?(?P<qyear>(?:19|20)\d\d))?"
        ),
        _resolve_quarter,
        _RELATIVE,
    ),
    (
        _compile(_PREP + r"(?:the\s+)?(?:end\s+of\s+(?:the\s+)?)?(?:(?P<next>next)|this|the)\s+semester"),
        _resolve_semester,
        _RELATIVE,
    ),
    (
        _compile(_PREP + r"(?:the\s+)?(?:end\s+of\s+(?:the\s+|this\s+)?year|year[-\s]end)"),
        lambda m, b: date(b.year, 12, 31),
        _RELATIVE,
    ),
    (
        # A range ("in 2-3 weeks", "in two or three days") is due at its far end.
        _compile(
            r"(?:in|within|over)\s+(?:the\s+next\s+)?(?:(?:" + _NUMBER_WORDS + r")\s*(?:-|to|or)\s*)?"
            r"(?P<count>" + _NUMBER_WORDS + r")\s+(?:more\s+)?"
            r"(?:business\s+|working\s+)?(?P<unit>days?|weeks?)"
        ),
        _resolve_in_days,
        _RELATIVE,
    ),
    (
        # "... and will resend it when finished (2-3 weeks)".
        _compile(
            # A range or an estimate: "(2 weeks)" alone may be how long something took.
            r"\(\s*(?:(?:about|approx\.?|~)\s*(?:\d{1,2}\s*(?:-|to|or)\s*)?|\d{1,2}\s*(?:-|to|or)\s*)(?P<count>\d{1,2})\s+"
            r"(?:business\s+|working\s+)?(?P<unit>days?|weeks?)\s*\)"
        ),
        _resolve_in_days,
        _RELATIVE,
    ),
    (_compile(r"(?:in|within|over)\s+the\s+next\s+week(?:\s+or\s+(?:so|two))?"), _fixed(7), _RELATIVE),
    (
        _compile(
            r"(?:in|within)\s+(?:the\s+next\s+|about\s+|another\s+)?(?:" + _NUMBER_WORDS + r"|half\s+an)\s+"
            # "hr", not "HR": "in an HR role" is Human Resources.
            r"(?:more\s+)?(?:minutes?|mins?|hours?|(?-i:[Hh]rs?))"
        ),
        _fixed(0),
        _RELATIVE,
    ),
    (
        _compile(
            _PREP + r"(?:(?P<which>next week|next|this coming|this|coming|the\s+following)\s+)?"
            r"(?P<weekday>" + _WEEKDAY_LONG + r")(?:\s+(?:morning|afternoon|evening|night|am|pm))?"
        ),
        _resolve_weekday,
        _WEEKDAY,
    ),
    (
        _compile(_PREP + r"(?:(?P<which>next|this|coming)\s+)?(?P<weekday>" + _WEEKDAY_SHORT + r")\b\.?", 0),
        _resolve_weekday,
        _WEEKDAY,
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
        _EXPLICIT,
    ),
    (
        _compile(
            _PREP + r"(?:(?:the\s+)?(?P<part>end|middle|beginning|start)\s+of\s+|(?P<part2>early|mid|late)\s*-?\s*)"
            r"(?P<month>" + _MONTH_NAMES_LONG + r")(?:,?\s+(?P<year>(?:19|20)\d\d))?"
        ),
        _resolve_part_of_month,
        _EXPLICIT,
    ),
    (
        _compile(_PREP + r"(?:the\s+)?(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+of\s+(?P<month>" + _MONTH_NAMES + r")"),
        _resolve_day_month_name,
        _EXPLICIT,
    ),
    (
        # The day first, as written in Britain and Europe: "on 20 March",
        # "by 20th March 2001", "Tuesday 20 Mar". Only a capitalised month:
        # "option 2 may work" names no date.
        _compile(
            # Not part of a product code: "SP-15 May-01".
            r"(?<!-)" + _PREP + r"(?:(?:" + _WEEKDAY_LONG + r"),?\s+)?(?P<day>3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?\s+"
            r"(?P<month>(?-i:" + _MONTH_NAMES_CAPITALISED + r"))(?!-)(?:,?\s+(?P<year>(?:19|20)\d\d))?"
        ),
        _resolve_month_name,
        _EXPLICIT,
    ),
    (
        _compile_numeric(_PREP + r"(?P<month>1[0-2]|0?[1-9])/(?P<day>3[01]|[12]\d|0?[1-9])(?:/(?P<year>\d{4}|\d\d))?"),
        _resolve_numeric,
        _EXPLICIT,
    ),
    # "8-14-01": with dashes only with a year, so that ranges ("3-5 days")
    # and phone numbers stay out.
    (
        _compile_numeric(_PREP + r"(?P<month>1[0-2]|0?[1-9])-(?P<day>3[01]|[12]\d|0?[1-9])-(?P<year>\d{4}|\d\d)(?!-)"),
        _resolve_numeric,
        _EXPLICIT,
    ),
    (
        _compile(r"(?:by|before|on|until)\s+the\s+(?P<day>3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)"),
        _resolve_ordinal,
        _EXPLICIT,
    ),
)

#: When no rule above names a day: a clock time or a meal of the day is the
#: sent day ("at 6:30 PM on Sunday" is Sunday, "by 3 pm tomorrow" tomorrow),
#: and failing that an urgent word ("ASAP", "shortly", "right away") is the
#: next day. Earlier tiers win.
_FALLBACKS: tuple[tuple[re.Pattern[str], Resolver, bool], ...] = (
    (
        _compile(
            _PREP + r"(?:(?:at\s+)?\d{1,2}(?::\d\d)?\s*(?:am|pm|a\.m\.|p\.m\.)|"
            r"(?:(?:shortly|right|just|immediately)\s+)?after\s+lunch|(?:by|before|at)\s+lunch(?:\s*time)?|"
            # "at 3:30" without am/pm: only after a word that makes it a time
            r"(?:at|by|before|around|until|how\s+about)\s+(?:about\s+|around\s+)?\d{1,2}:\d\d|"
            r"in\s+the\s+(?:afternoon|evening))"
        ),
        _fixed(0),
        False,
    ),
    (
        _compile(
            r"asap|as\s+soon\s+as\s+(?:possible|practical|practicable|(?:I|we)\s+can)|"
            r"(?<!starting\s)(?<!effective\s)(?:right\s+away|immediately|shortly)(?!\s+(?:after|before|following|upon|when|if|once|as)\b)"
        ),
        _fixed(1),
        True,
    ),
)

# Between a weekday and a date that belongs to it: a clock time, "at", "on",
# "the", commas ("on Monday at 4:00 p.m., July 23rd").
_WEEKDAY_DATE_GAP = re.compile(
    r"[\s,(]*(?:(?:at|@|around|from)\s+\d{1,2}(?::\d\d)?\s*(?:am|pm|a\.m\.|p\.m\.)?[\s,]*"
    r"(?:(?:to|-)\s*\d{1,2}(?::\d\d)?\s*(?:am|pm|a\.m\.|p\.m\.)?[\s,]*)?)?(?:on\s+|the\s+)*",
    re.IGNORECASE,
)

# Urgency or a time asked of the reader ("please let me know ASAP and I
# will ...") is not the writer's own.
_ASKED = re.compile(r"\b(?:please|let\s+me\s+know|(?:can|could|would|will)\s+you|if\s+you)\b", re.IGNORECASE)

#: The longest sentence read; mail is hostile and a "sentence" can be a
#: whole unpunctuated message.
MAX_CHARS = 2000


def _matches(text: str) -> list[tuple[re.Match[str], Resolver, str]]:
    """Every rule's matches, in text order; at one start the longest, then the earlier rule; no overlaps."""
    found: list[tuple[int, int, int, re.Match[str], Resolver, str]] = []
    for index, (pattern, resolver, tag) in enumerate(_RULES):
        for match in pattern.finditer(text):
            found.append((match.start(), -(match.end() - match.start()), index, match, resolver, tag))
    found.sort(key=lambda row: row[:3])
    kept: list[tuple[re.Match[str], Resolver, str]] = []
    end = -1
    for start, _, _, match, resolver, tag in found:
        if start >= end:
            kept.append((match, resolver, tag))
            end = match.end()
    return kept


def _resolve(match: re.Match[str], resolver: Resolver, tag: str, base: date) -> date | None:
    try:
        found = resolver(match, base)
    except (KeyError, ValueError, OverflowError):
        return None
    # A calendar date before the sent date is something that happened
    # ("effective as of April 30"), not when anything is due.
    if found is not None and tag == _EXPLICIT and found < base:
        return None
    return found


def _date_for_weekday(
    weekday: re.Match[str], later: list[tuple[re.Match[str], date]]
) -> tuple[re.Match[str], date] | None:
    """A calendar date the sentence gives for the weekday it names, if any.

    Right after it ("Monday at 4:00 p.m., July 23rd") the date is the
    weekday's own, whatever day it falls on; elsewhere in the sentence only
    when it falls on that weekday.
    """
    number = _WEEKDAYS[weekday.group("weekday").lower().rstrip(".")]
    text = weekday.string
    for match, found in later:
        if match.start() >= weekday.end():
            gap = _WEEKDAY_DATE_GAP.match(text, weekday.end(), match.start())
            if gap is not None and gap.end() == match.start():
                return match, found
    for match, found in later:
        if found.weekday() == number:
            return match, found
    return None


def resolve_due(text: str, sent_at: datetime, promise_at: int = 0) -> tuple[date | None, str | None]:
    """The due date a sentence names and the words that name it.

    The first date expression in `text` from `promise_at` (where the
    promise's own clause starts) on wins, or the first of all when that
    clause names none, with two exceptions: a
    calendar date the sentence gives for a weekday beats the weekday, and a
    calendar date before the sent date is skipped. A clock time, a meal or
    an urgent word ("ASAP") only counts when nothing else names a day.
    Relative expressions are resolved against ``sent_at`` in its own time
    zone (the writer's calendar day). Vague expressions ("soon") and
    sentences without any give ``(None, None)``; see the module docstring
    for the conventions.

    :param text: one sentence; only its first `MAX_CHARS` characters are read.
    :param sent_at: when it was written; naive datetimes are taken as-is.
    :param promise_at: where in `text` the promise's own clause begins:
        "I don't have it with me today, but will bring it in tomorrow" is
        due tomorrow, "Tomorrow I will send you the figures for next week's
        meeting" tomorrow.
    :returns: ``(due date, matched words)`` or ``(None, None)``.
    """
    base = sent_at.date()
    text = text[:MAX_CHARS]
    resolved = [
        (match, found, tag)
        for match, resolver, tag in _matches(text)
        if (found := _resolve(match, resolver, tag, base)) is not None
    ]
    if resolved:
        after = [entry for entry in resolved if entry[0].start() >= promise_at]
        match, found, tag = (after or resolved)[0]
        if tag == _WEEKDAY:
            dated = _date_for_weekday(match, [(m, f) for m, f, t in resolved if t == _EXPLICIT])
            if dated is not None:
                match, found = dated
        return found, " ".join(match.group(0).split())
    for pattern, resolver, writers_own in _FALLBACKS:
        fallback = pattern.search(text)
        if fallback is not None and not (writers_own and _ASKED.search(text, 0, fallback.start())):
            return resolver(fallback, base), " ".join(fallback.group(0).split())
    return None, None

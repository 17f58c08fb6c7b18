"""Reading times the user types: ``--now``/``KEPT_NOW``, and days like "friday".

`read_day` is the one grammar of days: ``--before DATE``, a snooze on the
command line and a reply to the digest ("snooze 2 friday") all read their
day with it. The command line and the daemon both use this module, so it
lives below both.
"""

from __future__ import annotations

import calendar
import os
import re
from datetime import date, datetime, timedelta, timezone
from typing import Literal

from kept.errors import UserError

__all__ = ["DAY_EXAMPLES", "DAY_FORMS_DOC", "SNOOZE_DAY_HELP", "Towards", "parse_day", "parse_now", "read_day"]


def parse_now(value: str | None) -> datetime:
    """The clock to use: ``--now``/``KEPT_NOW`` (ISO 8601) or the real time, in UTC."""
    value = value or os.environ.get("KEPT_NOW")
    if not value:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UserError(
            f"--now / KEPT_NOW: {value!r} is not an ISO 8601 time",
            "write it like 2001-05-14T09:00:00+02:00",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


#: Which way a day named without saying which (``friday``, ``12 dec``,
#: ``the 12th``) is read: the next one for a snooze, the last one for
#: ``--before``.
Towards = Literal["ahead", "back"]

#: Month names and their abbreviations ("12 dec", "Dec. 12").
_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9,
    "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}  # fmt: skip
_WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}  # fmt: skip
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_COUNT = r"(?P<count>\d{1,3}|" + "|".join(_COUNTS) + r")"
_UNIT = r"(?P<unit>day|week|month|year)s?"

_LEADING_PREPOSITION = re.compile(r"(?:until|till|til|to|on) ")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_RELATIVE_DAYS = {"today": 0, "tomorrow": 1, "yesterday": -1}
_SPAN_AHEAD = re.compile(rf"(?:for |in )?{_COUNT} {_UNIT}")
_SPAN_BACK = re.compile(rf"{_COUNT} {_UNIT} ago")
_NEXT = re.compile(r"next (?P<unit>week|month)")
_LAST = re.compile(r"last (?P<unit>week|month|year)")
_END_OF = re.compile(r"(?:the )?end of (?:the |this )?(?P<unit>week|month)")
_WEEKDAY = re.compile(r"(?:(?P<which>next|last|this) )?(?P<weekday>[a-z]+)")
_ORDINAL = re.compile(r"the (?P<day>\d{1,2})(?:st|nd|rd|th)")
_DAY_MONTH = re.compile(r"(?:the )?(?P<day>\d{1,2})(?:st|nd|rd|th)? (?:of )?(?P<month>[a-z]+)\.?(?:,? (?P<year>\d{4}))?")
_MONTH_DAY = re.compile(r"(?P<month>[a-z]+)\.? (?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,? (?P<year>\d{4}))?")

#: A few of the forms `read_day` takes, for the hints of errors and help texts.
DAY_EXAMPLES = "2026-12-01, 12 dec, friday, next week, in 3 days, last month or 3 weeks ago"
#: Where every form is listed, with what it means.
DAY_FORMS_DOC = "docs/commands.md, Dates"
#: The line under the digest's answer help, and the hint of a reply's snooze kept could not read.
SNOOZE_DAY_HELP = f"Days for snooze: friday, 12 dec, 2026-12-01, next week, in 3 days (every form: kept's {DAY_FORMS_DOC})"


def read_day(text: str, today: date, *, towards: Towards) -> date | None:
    """The day `text` names, or None when it is not one of the forms below.

    The one grammar of days kept reads from people: ``--before DATE``,
    ``kept promises|threads|nudges snooze ID DATE`` (or ``--until DATE``)
    and a reply to the digest (``snooze 2 friday``) all come here, so they
    take the same words; docs/commands.md ("Dates") lists them with what
    each means, and tests/test_dates_everywhere.py holds that table to
    this function. Case, runs of spaces, a trailing dot and a leading
    ``until``/``till``/``to``/``on`` do not matter. The forms:

    * ``2026-12-01`` (ISO, checked: ``2026-13-01`` is no date, not a guess);
    * ``12 dec``, ``dec 12``, ``12th of December``, ``Dec 12, 2026``,
      ``12 dec 2026``; without a year: the next one after `today`
      (`towards` ``"ahead"``) or the last one up to `today` (``"back"``);
    * ``the 12th``: that day of this month or of the next (last) month
      that has one, the same way;
    * ``friday``, ``fri``: the next one after `today` / the last one
      before it; ``this friday`` the next one, ``next friday`` the one in
      next week (weeks start on Monday), ``last friday`` the last one;
    * ``today``, ``tomorrow``, ``yesterday``;
    * ``next week`` (its Monday), ``next month`` (its 1st), ``end of the
      week`` (this week's Friday; on a weekend the coming one), ``end of
      the month`` (its last day);
    * ``3 days``, ``for 3 days``, ``in two weeks``, ``in a month``,
      ``in 1 year`` after `today`; ``3 days ago``, ``a month ago``,
      ``last week`` / ``last month`` / ``last year`` (one of them ago)
      before it. A month on from the 31st is the last day of a shorter
      month.

    Nothing else: no numeric day/month (``12/1`` is 12 January in most of
    the world and 1 December in the US), no words around the date. A day
    guessed wrongly snoozes the wrong way or makes a bulk
    ``done --before`` close the wrong promises.
    """
    try:
        return _read_day(_normalise(text), today, towards)
    except ValueError:  # an impossible ISO date
        return None


def parse_day(value: str, today: date, *, option: str = "--before", towards: Towards = "back") -> date:
    """`read_day` for a value typed on the command line: the day, or one readable error.

    :raises UserError: (exit code 1) naming `option`, when `value` is not a day.
    """
    try:
        day = _read_day(_normalise(value), today, towards)
    except ValueError as error:
        raise UserError(f"{option} {value!r} is not a date ({error})",
                        "write it like 2026-12-01 (year-month-day)") from None
    if day is None:
        raise UserError(f"{option} {value!r} is not a date kept can read",
                        f"write it like {DAY_EXAMPLES} (every form: {DAY_FORMS_DOC})")
    return day


def _normalise(text: str) -> str:
    """`text` lower-cased, spaces single, no trailing dot or leading "until"."""
    text = " ".join(text.lower().replace(",", ", ").split()).replace(" ,", ",").strip(".!")
    return _LEADING_PREPOSITION.sub("", text, count=1)


def _read_day(text: str, today: date, towards: Towards) -> date | None:
    """`read_day` on normalised text; ValueError for an ISO date that does not exist."""
    iso = _ISO.fullmatch(text)
    if iso:
        return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    if text in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[text])
    try:
        return _read_words(text, today, towards)
    except OverflowError:  # "999 years" from a date near the calendar's ends
        return None


def _read_words(text: str, today: date, towards: Towards) -> date | None:
    """The forms of `read_day` made of words; None for anything else."""
    span = _SPAN_AHEAD.fullmatch(text) or _SPAN_BACK.fullmatch(text)
    if span:
        count = _count(span.group("count"))
        return _shift(today, -count if text.endswith(" ago") else count, span.group("unit"))
    found = _LAST.fullmatch(text)
    if found:
        return _shift(today, -1, found.group("unit"))
    found = _NEXT.fullmatch(text)
    if found:
        if found.group("unit") == "week":
            return today + timedelta(days=7 - today.weekday())
        return _shift(today, 1, "month").replace(day=1)
    found = _END_OF.fullmatch(text)
    if found:
        if found.group("unit") == "week":
            return today + timedelta(days=(4 - today.weekday()) % 7)
        return today.replace(day=calendar.monthrange(today.year, today.month)[1])
    found = _WEEKDAY.fullmatch(text)
    if found and found.group("weekday") in _WEEKDAYS:
        return _weekday(today, _WEEKDAYS[found.group("weekday")], found.group("which"), towards)
    found = _ORDINAL.fullmatch(text)
    if found:
        return _day_of_month(today, int(found.group("day")), towards)
    found = _DAY_MONTH.fullmatch(text) or _MONTH_DAY.fullmatch(text)
    if found and found.group("month") in _MONTHS:
        month, day = _MONTHS[found.group("month")], int(found.group("day"))
        if found.group("year"):
            try:
                return date(int(found.group("year")), month, day)
            except ValueError:
                return None
        return _day_in_year(today, month, day, towards)
    return None


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _COUNTS[word]


def _shift(today: date, count: int, unit: str) -> date:
    """`count` days, weeks, months or years from `today` (back when negative).

    A month day that does not exist becomes that month's last ("a month
    ago" on 31 March is 28 or 29 February).
    """
    if unit in ("day", "week"):
        return today + timedelta(days=count * (7 if unit == "week" else 1))
    months = today.year * 12 + today.month - 1 + count * (12 if unit == "year" else 1)
    year, month = divmod(months, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(today.day, last))


def _weekday(today: date, weekday: int, which: str | None, towards: Towards) -> date:
    """The day a weekday names: see `read_day`."""
    if which == "next":  # in next week, whatever today is
        return today + timedelta(days=7 - today.weekday() + weekday)
    if which == "last" or (which is None and towards == "back"):
        return today - timedelta(days=(today.weekday() - weekday) % 7 or 7)
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)


def _day_of_month(today: date, day: int, towards: Towards) -> date | None:
    """``the 12th``: the next 12th after `today`, or the last one up to it."""
    step = 1 if towards == "ahead" else -1
    for months in range(0, 13):
        moment = _shift(today.replace(day=1), step * months, "month")
        if day > calendar.monthrange(moment.year, moment.month)[1]:
            continue
        found = moment.replace(day=day)
        if (found > today) if towards == "ahead" else (found <= today):
            return found
    return None


def _day_in_year(today: date, month: int, day: int, towards: Towards) -> date | None:
    """``12 dec`` without a year: the next one after `today`, or the last one up to it."""
    step = 1 if towards == "ahead" else -1
    for years in range(0, 9):  # 29 February comes back within eight years
        try:
            found = date(today.year + step * years, month, day)
        except ValueError:
            continue
        if (found > today) if towards == "ahead" else (found <= today):
            return found
    return None

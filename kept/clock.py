"""Reading times the user types: ``--now``/``KEPT_NOW`` and days like "friday".

Shared by the command line and the daemon (which takes ``--now`` too), so it
lives below both.
"""

from __future__ import annotations

import calendar
import os
import re
from datetime import date, datetime, timedelta, timezone

from kept.errors import UserError

__all__ = ["DAY_EXAMPLES", "parse_day", "parse_now"]


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


#: Month names and the abbreviations a reply to the digest also takes ("12 dec").
_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9,
    "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}
_WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_AGO = re.compile(r"(?P<count>\d{1,4}|[a-z]+) (?P<unit>day|week|month|year)s? ago")
_LAST = re.compile(r"last (?P<unit>week|month|year)")
_WEEKDAY = re.compile(r"(?:last )?(?P<weekday>[a-z]+)")
_DAY_MONTH = re.compile(r"(?P<day>\d{1,2})(?:st|nd|rd|th)? (?:of )?(?P<month>[a-z]+)(?:,? (?P<year>\d{4}))?")
_MONTH_DAY = re.compile(r"(?P<month>[a-z]+) (?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,? (?P<year>\d{4}))?")

#: The words `parse_day` reads, for the hint of its error.
DAY_EXAMPLES = "2026-12-01, 12 dec, friday, yesterday, last month or 3 weeks ago"


def parse_day(value: str, today: date, *, option: str = "--before") -> date:
    """The day `value` names, read for an option that looks back (``--before DATE``).

    The grammar, the same shapes a reply to the digest takes for a snooze,
    read towards the past: ``2026-12-01`` (ISO, checked: ``2026-13-01`` is
    an error, not the 1st of something); ``12 dec``, ``dec 12``, ``12
    December 2026`` (without a year: the last one up to `today`);
    ``friday``, ``fri``, ``last friday`` (the last one before `today`);
    ``today``, ``yesterday``, ``tomorrow``; ``last week``, ``last month``,
    ``last year``; ``3 days ago``, ``two weeks ago``, ``a month ago``.
    Anything else is an error: a day guessed wrongly makes a bulk
    ``done --before`` close the wrong promises.

    :raises UserError: (exit code 1) naming `option`, when `value` is not one of these.
    """
    text = " ".join(value.lower().replace(",", ", ").split()).rstrip(".").replace(" ,", ",")
    iso = _ISO.fullmatch(text)
    if iso:
        try:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        except ValueError as error:
            raise UserError(f"{option} {value!r} is not a date ({error})",
                            "write it like 2026-12-01 (year-month-day)") from None
    day = _read_day(text, today)
    if day is None:
        raise UserError(f"{option} {value!r} is not a date kept can read", f"write it like {DAY_EXAMPLES}")
    return day


def _read_day(text: str, today: date) -> date | None:
    """`parse_day` without the ISO form; None when `text` is none of its words."""
    relative = {"today": 0, "yesterday": -1, "tomorrow": 1}
    if text in relative:
        return today + timedelta(days=relative[text])
    found = _AGO.fullmatch(text) or _LAST.fullmatch(text)
    if found:
        count_text = found.groupdict().get("count") or "1"
        count = int(count_text) if count_text.isdigit() else _COUNTS.get(count_text)
        if count is None:
            return None
        return _back(today, count, found.group("unit"))
    weekday = _WEEKDAY.fullmatch(text)
    if weekday and weekday.group("weekday") in _WEEKDAYS:
        back = (today.weekday() - _WEEKDAYS[weekday.group("weekday")]) % 7 or 7
        return today - timedelta(days=back)
    dated = _DAY_MONTH.fullmatch(text) or _MONTH_DAY.fullmatch(text)
    if dated and dated.group("month") in _MONTHS:
        month, day_of_month = _MONTHS[dated.group("month")], int(dated.group("day"))
        year = int(dated.group("year")) if dated.group("year") else today.year
        try:
            day = date(year, month, day_of_month)
            if not dated.group("year") and day > today:
                day = date(year - 1, month, day_of_month)
        except ValueError:
            return None
        return day
    return None


def _back(today: date, count: int, unit: str) -> date:
    """`count` days, weeks, months or years before `today`; a month day that does not exist becomes the month's last."""
    if unit in ("day", "week"):
        return today - timedelta(days=count * (7 if unit == "week" else 1))
    months = today.year * 12 + today.month - 1 - count * (12 if unit == "year" else 1)
    year, month = divmod(months, 12)
    if year < 1:
        return date.min
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(today.day, last))

"""Reading times the user types: ``--now``/``KEPT_NOW`` and days like "friday".

Shared by the command line and the daemon (which takes ``--now`` too), so it
lives below both.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timezone

from kept.errors import UserError

__all__ = ["parse_day", "parse_now"]


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


def parse_day(value: str, today: date) -> date:
    """A date from --until: ISO (2026-12-01) or words (friday, tomorrow, next week)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    import dateparser  # 50 ms, and only words (not ISO dates) need it

    moment: datetime | None = dateparser.parse(  # dateparser is untyped
        value, settings={"RELATIVE_BASE": datetime.combine(today, datetime.min.time()),
                         "PREFER_DATES_FROM": "future"},
    )
    if moment is None:
        raise UserError(f"--until {value!r} is not a date", "write it like 2026-12-01 or friday")
    return moment.date()

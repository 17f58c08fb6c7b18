"""Text helpers of the digest: one-line names and subjects, English dates, greetings, mailto links.

Shared by the builder (`kept.digest.build`), the nudge sections
(`kept.digest.nudges`) and the renderer (`kept.digest.render`), below all three.
"""

from __future__ import annotations

import logging
import re
from datetime import date, timezone, tzinfo
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kept.extractors.people import first_name_from_address, given_name
from kept.models import Address
from kept.settings import DEFAULT_HOLDING_REPLY

__all__ = [
    "MAX_NAME_CHARS",
    "MAX_SUBJECT_CHARS",
    "MONTHS",
    "WEEKDAYS",
    "first_name",
    "holding_reply_body",
    "holding_reply_link",
    "long_date",
    "one_line",
    "user_timezone",
]

logger = logging.getLogger(__name__)

# Subjects and names come from other people's mail; a mailto: link or a line
# in the digest does not need more than this.
MAX_SUBJECT_CHARS = 200
MAX_NAME_CHARS = 80

# English names, not the C library's locale: the digest and the holding
# reply are written in English whatever locale the daemon runs under.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv)\s*:", re.IGNORECASE)



def one_line(text: str | None, limit: int = MAX_SUBJECT_CHARS) -> str:
    """`text` on one line: control characters (CR, LF, ...) become spaces, runs collapse."""
    if not text:
        return ""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


def long_date(day: date) -> str:
    """A date written like "Tuesday, 24 November"."""
    return f"{WEEKDAYS[day.weekday()]}, {day.day} {MONTHS[day.month - 1]}"


def user_timezone(name: str) -> tzinfo:
    """The configured zone; UTC (with a warning) when the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r; the digest uses UTC", name)
        return timezone.utc


def first_name(address: Address | None, known_name: str = "") -> str:
    """The first name to greet someone by, or "there" ("Hi there,") when unknown.

    Handles "Anna Schmidt", "Schmidt, Anna", "ALLEN, PHILLIP", "Phillip K
    Allen" and quoted names; an address used as a name is not a name. When
    the header holds no name, `known_name` (the name kept knows for the
    address from other messages: `kept.extractors.people.People.name`) is
    used, then a ``first.last@`` address.
    """

    for candidate in (address.name if address else "", known_name):
        found = given_name(one_line(candidate, MAX_NAME_CHARS), address.email if address else "")
        if found:
            return found
    return (first_name_from_address(address.email) if address else "") or "there"


def holding_reply_link(
    to: str,
    subject: str,
    in_reply_to: str | None,
    body: str,
) -> str:
    """A ``mailto:`` URL (RFC 6068) for a reply to `to` with `subject` and `body` prefilled.

    Every part is percent-encoded (`urllib.parse.quote` with nothing left
    unescaped but the ``@`` of the address), so nothing in a hostile subject
    can add a header or end the URL; line breaks in the body become CRLF as
    RFC 6068 asks.
    """
    subject = one_line(subject)
    reply_subject = subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}".rstrip()
    fields = [("subject", reply_subject)]
    if in_reply_to:
        fields.append(("in-reply-to", one_line(in_reply_to)))
    crlf_body = "\r\n".join(body.splitlines())
    fields.append(("body", crlf_body))
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in fields)
    return f"mailto:{quote(one_line(to), safe='@')}?{query}"


def holding_reply_body(template: str, greeting_name: str, answer_by: date, my_name: str) -> str:
    """Fill the configured holding reply; fall back to the default when it is malformed."""
    values = {"first_name": greeting_name, "date": long_date(answer_by), "my_name": my_name}
    try:
        return template.format(**values).strip()
    except (KeyError, IndexError, ValueError) as error:
        logger.warning("digest.holding_reply cannot be filled in (%s); using the default text", error)
        return DEFAULT_HOLDING_REPLY.format(**values).strip()

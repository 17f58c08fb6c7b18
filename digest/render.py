"""Render a `Digest` into the e-mail the user reads every morning.

The message is multipart/alternative: a text/plain part and an HTML part,
both from Jinja2 templates shipped in the package (``templates/``). The
HTML uses inline styles (plus one ``<style>`` block for dark mode, which
inline styles cannot express), no remote images and no JavaScript.

Everything shown comes from other people's mail and is hostile: the HTML
template is autoescaped, the only links are the ``mailto:`` URLs
`kept.digest.build` makes, every value either template shows has its
control and bidi override characters made visible (`_as_data`: the text
part is also what ``kept digest --preview`` prints on a terminal), and
header values are flattened to one line before they reach the `email`
package.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from kept.clock import SNOOZE_DAY_HELP
from kept.digest.build import SECTIONS, Digest
from kept.digest.text import MONTHS, WEEKDAYS, long_date, one_line
from kept.settings import Settings
from kept.terminal import terminal_text

__all__ = [
    "ANSWER_DATES",
    "ANSWER_HELP",
    "digest_data",
    "history_line",
    "more_line",
    "digest_message_id",
    "render_digest",
    "render_html",
    "render_text",
]

ANSWER_HELP = "Reply to this e-mail with lines like: done 3 / snooze 2 friday / not a promise 4 / mute 7"
ANSWER_EXAMPLES = ("done 3", "snooze 2 friday", "not a promise 4", "mute 7")
#: The days a snooze takes: the same grammar as the command line's (`kept.clock.read_day`).
ANSWER_DATES = SNOOZE_DAY_HELP

MESSAGE_ID_DOMAIN = "kept.invalid"


def format_duration(hours: float | None) -> str:
    """A short human duration: "40 min", "5 h", "3 days", "2 weeks"."""
    if hours is None:
        return "–"
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 36:
        return f"{round(hours)} h"
    days = hours / 24
    if days < 14:
        count = round(days)
        return f"{count} day" if count == 1 else f"{count} days"
    weeks = round(days / 7)
    return f"{weeks} weeks"


#: Dates further than this from the digest's day also show their year.
YEAR_AFTER_DAYS = 182


def format_when(moment: date, today: date | None = None) -> str:
    """A date with weekday, e.g. "Mon 16 Nov" (English whatever the process locale).

    More than about six months from `today` the year is added ("Tue 12 Dec
    2000"): a date without a year is a puzzle once it is that old.
    """
    text = f"{WEEKDAYS[moment.weekday()][:3]} {moment.day} {MONTHS[moment.month - 1][:3]}"
    if today is not None:
        day = moment.date() if isinstance(moment, datetime) else moment
        if abs((day - today).days) > YEAR_AFTER_DAYS:
            text += f" {moment.year}"
    return text


@pass_context
def _when_filter(context: Context, moment: date) -> str:
    """The ``when`` filter: `format_when` against the day of the digest being rendered."""
    digest = context.get("digest")
    return format_when(moment, digest.day if isinstance(digest, Digest) else None)


def format_due(days_left: int | None) -> str:
    """How the due date relates to today: "3 days overdue", "due today", "due in 2 days"."""
    if days_left is None:
        return "no due date"
    if days_left < -1:
        return f"{-days_left} days overdue"
    if days_left == -1:
        return "1 day overdue"
    if days_left == 0:
        return "due today"
    if days_left == 1:
        return "due tomorrow"
    return f"due in {days_left} days"


def compare_lag(waited_hours: float, usual_hours: float | None) -> str:
    """How the wait compares with the user's usual reply time to that person."""
    if usual_hours is None:
        return "no reply history with them yet"
    usual = format_duration(usual_hours)
    if waited_hours > usual_hours:
        return f"you usually answer them within {usual}"
    return f"still within your usual {usual}"


def lag_line(digest: Digest) -> str:
    """Section 5 as one sentence."""
    recent, baseline = digest.reply_lag.recent_hours, digest.reply_lag.baseline_hours
    if recent is None and baseline is None:
        return "No replies in the last 5 weeks to measure your reply time."
    if recent is None:
        return f"No replies this week; over the 4 weeks before, your median reply time was {format_duration(baseline)}."
    if baseline is None:
        return f"Your median reply time this week: {format_duration(recent)}."
    if baseline > 0 and recent <= 0.8 * baseline:
        trend = "faster than"
    elif baseline > 0 and recent >= 1.25 * baseline:
        trend = "slower than"
    else:
        trend = "about the same as"
    return (
        f"Your median reply time this week: {format_duration(recent)}, {trend} "
        f"the 4 weeks before ({format_duration(baseline)})."
    )


def _as_data(value: object) -> object:
    """Every ``{{ value }}`` of the templates, before escaping: controls and bidi overrides shown as escapes.

    Line breaks stay (`kept.terminal.terminal_text`); numbers and None are
    left to Jinja2, and HTML a macro made stays HTML.
    """
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, Markup):
        return Markup(terminal_text(value))
    return terminal_text(value)


def _environment() -> Environment:
    env = Environment(
        finalize=_as_data,
        loader=PackageLoader("kept.digest", "templates"),
        # Escape everything except the plain-text template: a new template
        # is safe by default.
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"),
            disabled_extensions=("txt", "txt.j2"),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        duration=format_duration,
        when=_when_filter,
        due=format_due,
        long_date=long_date,
    )
    env.globals.update(compare_lag=compare_lag, answer_help=ANSWER_HELP, answer_examples=ANSWER_EXAMPLES,
                       answer_dates=ANSWER_DATES)
    return env


_ENV = _environment()


def more_line(digest: Digest, section: str) -> str:
    """ "and 37 more — kept threads" under a section the caps cut, else ""."""
    count = digest.more_in(section)
    if not count:
        return ""
    command = next(hint for key, _title, hint in SECTIONS if key == section)
    return f"and {count} more — {command}"


def history_line(digest: Digest) -> str:
    """One line about what the first scan found that is history, or ""."""
    history = digest.history
    parts = []
    if history.promises:
        noun = "promise" if history.promises == 1 else "promises"
        parts.append(f"{history.promises} older open {noun} (kept promises --stale)")
    threads = history.waiting_on_me + history.waiting_on_them
    if threads:
        noun = "conversation" if threads == 1 else "conversations"
        parts.append(f"{threads} older unanswered {noun} (kept threads --stale)")
    if not parts:
        return ""
    return "kept also found " + " and ".join(parts) + "; they stay out of the digest."


def _context(digest: Digest) -> dict[str, object]:
    return {
        "digest": digest,
        "day": long_date(digest.day),
        "lag_line": lag_line(digest),
        "history_line": history_line(digest),
        "more": {key: more_line(digest, key) for key, _title, _hint in SECTIONS},
        "sections": (
            ("Promises due", digest.due),
            ("Promises without a date", digest.undated),
            ("Waiting on you", digest.waiting_on_me),
            ("Waiting on others", digest.waiting_on_them),
        ),
    }


def _plain(value: object) -> object:
    """A record field as JSON data: dates as ISO strings, tuples as lists."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _concerns(item: object) -> datetime:
    """The moment an item is about: when the promise was made, the message arrived, ..."""
    for name in ("made_at", "since", "asked_at", "received_at", "last"):
        value = getattr(item, name, None)
        if isinstance(value, datetime):
            return value
    raise TypeError(f"{type(item).__name__} names no date")


def digest_data(digest: Digest) -> dict[str, object]:
    """The digest as JSON data, for ``kept digest --preview --json`` and for checks by programs.

    Every numbered item carries its number, its section, what it refers to
    (``kind`` and ``id``, as "done N" resolves them), the moment it concerns
    and that moment's age in days, besides its own fields.
    """
    sections = []
    for key, title, command in SECTIONS:
        items = []
        for item in getattr(digest, key):
            kind, ref_id = item.ref
            concerns = _concerns(item)
            fields = {f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(item)}
            items.append({
                **fields,
                "section": key,
                "kind": kind,
                "id": ref_id,
                "concerns": concerns.isoformat(),
                "age_days": (digest.generated_at - concerns).days,
            })
        sections.append({
            "key": key, "title": title, "items": items,
            "more": digest.more_in(key), "more_command": command if digest.more_in(key) else None,
        })
    return {
        "day": digest.day.isoformat(),
        "generated_at": digest.generated_at.isoformat(),
        "timezone": digest.timezone,
        "account": digest.account or None,
        "subject": digest.subject,
        "item_count": digest.item_count,
        "index": [{"number": n, "kind": kind, "id": ref_id} for n, kind, ref_id in digest.index],
        "sections": sections,
        "history": {
            "promises": digest.history.promises,
            "waiting_on_me": digest.history.waiting_on_me,
            "waiting_on_them": digest.history.waiting_on_them,
        },
        "kept_recently": [
            {f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(item)} for item in digest.kept_recently
        ],
        "notes": list(digest.notes),
        "health": list(digest.health),
        "reply_lag": {
            "recent_hours": digest.reply_lag.recent_hours,
            "baseline_hours": digest.reply_lag.baseline_hours,
        },
    }


def render_text(digest: Digest) -> str:
    """The plain-text digest (also what ``kept digest --preview`` prints)."""
    return _ENV.get_template("digest.txt.j2").render(_context(digest))


def render_html(digest: Digest) -> str:
    """The HTML digest, a complete document."""
    return _ENV.get_template("digest.html.j2").render(_context(digest))


def digest_message_id(digest: Digest) -> str:
    """A fresh Message-ID like ``<kept-digest-20261120-3f9a1c2b7d4e@kept.invalid>``.

    The day makes it readable in a mail client's source view; the random
    part keeps a re-sent digest (``kept digest --send``) distinct, so the
    daemon can tell which digest a reply answers.
    """
    return f"<kept-digest-{digest.day:%Y%m%d}-{secrets.token_hex(6)}@{MESSAGE_ID_DOMAIN}>"


def render_digest(digest: Digest, settings: Settings, *, message_id: str | None = None) -> EmailMessage:
    """The complete e-mail: text and HTML alternatives, From and To the user.

    `message_id` (with angle brackets) is used when given, so the daemon can
    record it before sending; otherwise a new one is made.
    """
    address = one_line(settings.digest_to)
    message = EmailMessage()
    message["From"] = f"kept <{address}>" if address else "kept"
    message["To"] = address
    message["Subject"] = one_line(digest.subject, 300)
    message["Date"] = format_datetime(digest.generated_at)
    message["Message-ID"] = one_line(message_id) if message_id else digest_message_id(digest)
    message["X-Kept-Digest"] = digest.day.isoformat()
    # RFC 3834: vacation responders stay quiet, and kept's own scan treats it
    # as machine mail instead of someone waiting on the user.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(render_text(digest))
    message.add_alternative(render_html(digest), subtype="html")
    return message

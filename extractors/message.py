"""Raw mail bytes to `MailMessage` records.

Every message is hostile input: headers may be malformed or forged, charsets
unknown, base64 broken, bodies gigantic and multipart trees absurdly deep.
`parse_message` therefore never raises; what it could not read it records in
`MailMessage.problems` and carries on with what it could.
"""

from __future__ import annotations

import codecs
import email
import email.policy
import email.utils
import functools
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.header import decode_header
from email.message import Message
from email.policy import EmailPolicy
from typing import Any, Literal

from kept.extractors.cleaning import html_to_text, split_fresh, strip_control
from kept.models import Address, MailMessage, RawMessage, Role

__all__ = ["parse_message", "is_automated", "is_bulk_text", "is_forward", "sane_date"]

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: The sane range of a message date. Nothing was e-mailed before 1971, and
#: a date near `datetime.max` overflows the moment a time zone or a due-date
#: horizon is added to it ("Fri, 31 Dec 9999 23:59:59 +0000" stopped every
#: scan); dates outside are a broken clock, not a date.
EARLIEST_DATE = datetime(1971, 1, 1, tzinfo=timezone.utc)
LATEST_DATE = datetime(2200, 1, 1, tzinfo=timezone.utc)
#: A Date header this far past the clock (or the time the message arrived,
#: whichever is later) is a wrong clock in the sender's machine.
FUTURE_SLACK = timedelta(days=2)

# Bounds that keep one pathological message from stalling a scan.
MAX_PARTS = 200
MAX_DEPTH = 30
MAX_HTML_CHARS = 2_000_000
MAX_TEXT_CHARS = 500_000
MAX_HEADER_CHARS = 10_000
MAX_ADDRESSES = 500
MAX_REFERENCES = 100
MAX_LINKS = 50
# Raw-byte limits that keep the stdlib parser's time bounded (see _cap_structure).
MAX_MULTIPART_HEADERS = 100
MAX_BOUNDARY_LINES = 1_000
_MULTIPART_HEADER = re.compile(rb"^content-type:[ \t]*(?:\r?\n[ \t]+)?multipart/", re.MULTILINE | re.IGNORECASE)
_BOUNDARY_LINE = re.compile(rb"^--", re.MULTILINE)

_MSGID = re.compile(r"<([^<>\s]{1,900})>")
_LINK = re.compile(r"\bhttps?://[^\s<>\"'`{}|\\^\[\]]{1,2000}", re.IGNORECASE)
_LINK_TRAILING = ".,;:!?)]}'\""
_WHITESPACE = re.compile(r"\s+")
#: A header of only bare addresses ("a@b.com, c.d@e.org"): RFC 5322 dot-atoms
#: on both sides of the @, nothing else.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_BARE_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})*")
#: Header values up to this long are parsed once per process and remembered
#: (`_HeaderCachingPolicy`); longer ones (address lists, References) rarely
#: repeat and would make the cache large.
HEADER_CACHE_VALUE_CHARS = 300
#: How headers are read: "cached" (kept's way: `_HeaderCachingPolicy` and
#: bare address lists read directly) or "default" (the stdlib's
#: ``policy.default`` parsing every header at every read), which gives the
#: same records and is kept for ``benchmarks/parse_headers.py``.
HeaderParsing = Literal["cached", "default"]
_EMAIL_SHAPE = re.compile(r"^[^\s@<>()\[\],;:\"]{1,200}@[^\s@<>()\[\],;:\"]{1,200}$")

_AUTOMATED_SENDER = re.compile(
    r"(?:^|[-_.+])(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?"
    # Mailbox names that only machines and mailing lists use (measured on the
    # Enron inboxes: "subscriptions@", "anchordesk_daily@", "exclusive_offers@",
    # "enron_update@", "energy_list@").
    r"|newsletters?|subscriptions?|notifications?|alerts?|announce(?:ments?)?|listserv|majordomo|mailman"
    r"|promotions?|marketing|unsubscribe(?:-\w+)?|customer[-_.]?(?:care|service)|webmaster|surveys?)(?:$|[-_.+])"
    # Words that are also surnames ("john.daily@") count only when alone or
    # joined by "_" or "-", as mailing addresses join them.
    r"|(?:^|[-_+])(?:daily|weekly|updates?|offers?|list|info|help)(?:$|[-_+])",
    re.IGNORECASE,
)
# Sender domains whose first label marks a mass mailer ("info.iwon.com",
# "mail02.unitedmarketingstrategies.com", "anchordesk.zdlists.com").
_AUTOMATED_DOMAIN = re.compile(
    # "mail.sprint.com" and "email.msn.com" carry people's mail: only
    # numbered mail hosts count.
    r"^(?:e?mail\d+|info|news(?:letters?)?|lists?|em|e|bounces?|feedback|offers?|promo|mailman|mkt|marketing)\."
    r"|(?:^|\.)[a-z]{0,3}lists?\.[a-z]{2,}$",
    re.IGNORECASE,
)
# Footers and notices that only bulk mail carries: an unsubscribe or opt-out
# line (many newsletters carry no List-* header, only "reply with REMOVE"),
# "you received this e-mail because", "this account is not monitored".
_BULK_BODY = re.compile(
    r"""\b(?:
        unsubscri\w*
      # "opt out" alone is business talk too (direct-access customers "opt out").
      | opt[-\s]?out\s+(?:of\s+(?:receiving|future|these|this\s+(?:list|newsletter|mailing)|our\s+(?:list|mailing|e-?mail))|here|link|below)
      | (?:to\s+be|be|get)\s+removed\s+from\s+(?:our|this|the|future|any)\s+(?:[\w-]+\s+){0,2}(?:list|mailings?|e-?mails?|distribution)\b
      | remove\s+(?:yourself|your\s+(?:name|e-?mail|address))\s+from
      | (?:reply|respond)\s+(?:to\s+this\s+(?:message|e-?mail)\s+)?with\s+["']?(?:remove|unsubscribe|stop)\b
      | stop\s+receiving\s+(?:these|this|e-?mail|our|future)
      | (?:no\s+longer\s+(?:wish|want)\s+to\s+receive)
      | (?:you\s+(?:are\s+receiving|received|have\s+received|receive)\s+this\s+(?:e-?mail|message|newsletter|notice)\s+because)
      | this\s+(?:e-?mail|message)\s+(?:is|was)\s+(?:an\s+)?(?:automated|automatically\s+generated|sent\s+automatically)
      | (?:please\s+)?do\s+not\s+(?:reply|respond)\s+to\s+this\s+(?:e-?mail|message|address)
      | this\s+(?:e-?mail\s+)?(?:account|mailbox|address)\s+is\s+not\s+monitored
      | (?:manage|update)\s+your\s+(?:e-?mail\s+)?(?:subscriptions?|preferences|profile)
      | view\s+(?:it|this\s+(?:e-?mail|message|newsletter))\s+(?:in|on)\s+(?:your|a)\s+(?:web\s+)?browser
      | to\s+(?:change|update)\s+your\s+(?:e-?mail\s+)?(?:address|subscription)
      # Surveys sent to a whole company ("fill out this survey").
      | (?:complete|fill\s+out|take|participate\s+in)\s+(?:this|our|the|a)\s+(?:(?:short|brief|quick|online)\s+)?survey
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# The table of contents or sponsor line of a newsletter, on a line of its own.
_NEWSLETTER_LINE = re.compile(r"^[ \t=*-]{0,40}(?:in[ \t]+this[ \t]+issue|sponsored[ \t]+by)\b[^\n.?!]{0,50}$", re.IGNORECASE | re.MULTILINE)
# A text/plain part that is an HTML page, markup and all.
_HTML_SOURCE = re.compile(r"\s*(?:<!doctype\s+html|<html[\s>])", re.IGNORECASE)
# Marketing HTML flattened to text: image placeholders and "click here".
_MARKETING_MARK = re.compile(r"\[IMAGE\]|\bclick\s+here\b", re.IGNORECASE)
#: A message whose fresh text holds this many distinct links is a mailing
#: (newsletters, shop offers), not a person's note.
BULK_LINKS = 8
# Only the head and tail of a long body are searched: footers sit at the end.
_BULK_SCAN_CHARS = 20_000
_OUT_OF_OFFICE = re.compile(
    r"\b(?:out\s+of\s+(?:the\s+)?office|automatic\s+reply|auto(?:matic)?[-\s]?(?:reply|response)|"
    r"abwesenheitsnotiz|r[ée]ponse\s+automatique|respuesta\s+autom[áa]tica|undeliverable|"
    r"delivery\s+status\s+notification|returned\s+mail|mail\s+delivery\s+(?:failed|failure|subsystem))\b",
    re.IGNORECASE,
)

# Problems that mean part of the message is lost, worth a WARNING; the rest
# ("no Date header") are normal in old archives and logged at DEBUG.
_SERIOUS = ("unparseable", "truncated", "parser fell back", "too many parts", "too deep")

_ENCODING_FALLBACKS = ("utf-8", "cp1252", "latin-1")


@dataclass(slots=True)
class _Body:
    """What a walk over the MIME tree found."""

    plain: str | None = None
    html: str | None = None
    attachment_names: list[str] = field(default_factory=list)
    has_attachment: bool = False
    calendar_invite: bool = False
    attached_message: bool = False


def parse_message(
    raw: RawMessage,
    *,
    account: str,
    role: Role,
    folder: str,
    max_bytes: int = 10_000_000,
    now: datetime | None = None,
    headers: HeaderParsing = "cached",
) -> MailMessage:
    """Parse one raw message into a `MailMessage`; never raises.

    :param raw: the bytes and metadata a mail source handed over.
    :param account: account name, copied to the record.
    :param role: ``"sent"`` or ``"received"``.
    :param folder: folder name, copied to the record.
    :param max_bytes: larger messages are cut to this size before parsing
        (noted in ``problems``).
    :param now: the reader's clock (``--now`` when replaying). A Date header
        more than `FUTURE_SLACK` past it and the arrival time is absurd, and
        a date taken from the arrival time is never later than it.
    :param headers: how headers are read (`HeaderParsing`); the records are
        the same either way.
    """
    data = raw.data if isinstance(raw.data, (bytes, bytearray)) else bytes(raw.data or b"")
    now = sane_date(now)
    fallback_id = f"<{hashlib.sha1(data).hexdigest()}@kept.invalid>"
    problems: list[str] = []
    try:
        record = _parse(
            raw, bytes(data), fallback_id, problems, account=account, role=role, folder=folder,
            max_bytes=max_bytes, now=now, headers=headers,
        )
    except Exception as error:  # noqa: BLE001 - one bad message must never stop a scan
        problems.append(f"unparseable: {type(error).__name__}")
        logger.warning("message %s: could not be parsed (%s)", fallback_id, type(error).__name__, exc_info=logger.isEnabledFor(logging.DEBUG))
        return MailMessage(
            account=account,
            role=role,
            folder=folder,
            message_id=fallback_id,
            date=_arrival_date(raw, now),
            problems=tuple(problems),
            size=len(data),
        )
    if record.problems:
        serious = any(p.startswith(_SERIOUS) for p in record.problems)
        logger.log(
            logging.WARNING if serious else logging.DEBUG,
            "message %s: %s",
            record.message_id,
            "; ".join(record.problems),
        )
    return record


def _parse(
    raw: RawMessage,
    data: bytes,
    fallback_id: str,
    problems: list[str],
    *,
    account: str,
    role: Role,
    folder: str,
    max_bytes: int,
    now: datetime | None,
    headers: HeaderParsing,
) -> MailMessage:
    size = len(data)
    if size > max_bytes:
        data = data[:max_bytes]
        problems.append(f"truncated at {max_bytes} bytes")
    data = _cap_structure(data, problems)
    message = _load(data, problems, headers)

    message_id = _message_id(_header(message, "Message-ID", problems)) or fallback_id
    if message_id == fallback_id:
        problems.append("no Message-ID header")
    in_reply_to_ids = _msgids(_header(message, "In-Reply-To", problems))
    references = tuple(dict.fromkeys(_msgids(_header(message, "References", problems))))[:MAX_REFERENCES]

    from_list = _addresses(message, "From", problems, headers)
    from_addr = from_list[0] if from_list else None
    if from_addr is not None and not from_addr.name:
        # Archive exports (the Enron corpus) leave From a bare address and
        # keep the sender's display name apart, in X-From.
        from_addr = Address(name=_export_sender_name(message), email=from_addr.email)
    if from_addr is None:
        problems.append("no readable From header")
    to = _addresses(message, "To", problems, headers)
    cc = _addresses(message, "Cc", problems, headers)

    date = _date(message, raw, problems, now)
    subject = _one_line(_header(message, "Subject", problems))

    body = _walk(message, problems)
    if body.plain is not None and body.plain.strip() and not _HTML_SOURCE.match(body.plain):
        text = body.plain
    elif body.html is not None or (body.plain is not None and body.plain.strip()):
        # A text/plain part that holds an HTML page (marketing mail, old
        # archives) is read as the HTML it is, not as markup full of
        # "questions".
        html = body.html if body.html is not None else body.plain or ""
        if len(html) > MAX_HTML_CHARS:
            html = html[:MAX_HTML_CHARS]
            problems.append("HTML body truncated")
        text = html_to_text(html)
    else:
        text = body.plain or ""
    text = _repair_lost_line_breaks(text, problems)
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        problems.append("body text truncated")
    body_text, marked_files = split_fresh(text)
    attachment_names = list(body.attachment_names)
    for name in marked_files:
        if name not in attachment_names:
            attachment_names.append(name)

    return MailMessage(
        account=account,
        role=role,
        folder=folder,
        message_id=message_id,
        in_reply_to=in_reply_to_ids[0] if in_reply_to_ids else None,
        references=references,
        from_addr=from_addr,
        to=to,
        cc=cc,
        date=date,
        subject=subject,
        body_text=body_text,
        has_attachment=body.has_attachment or bool(attachment_names),
        attachment_names=tuple(attachment_names),
        links=_links(body_text),
        automated=is_automated(message, from_addr.email if from_addr else "")
        or (role == "received" and is_bulk_text(body_text)),
        calendar_invite=body.calendar_invite,
        problems=tuple(dict.fromkeys(problems)),
        size=size,
        forwarded=body.attached_message or is_forward(subject, text),
    )


def _cap_structure(data: bytes, problems: list[str]) -> bytes:
    """Cut the message before the stdlib parser sees too many parts or nesting levels.

    The parser's time grows faster than the number of MIME parts and their
    depth (a 2,000-deep multipart bomb took over 30 s, 20,000 flat parts
    25 s), so hostile structure is cut off in the raw bytes, where counting
    is cheap; what comes before the cut is read as usual.
    """
    for pattern, limit, what in (
        (_MULTIPART_HEADER, MAX_MULTIPART_HEADERS, "multipart headers"),
        (_BOUNDARY_LINE, MAX_BOUNDARY_LINES, "boundary lines"),
    ):
        for count, match in enumerate(pattern.finditer(data), 1):
            if count > limit:
                data = data[: match.start()]
                problems.append(f"truncated: more than {limit} {what}")
                break
    return data


#: Parsed header values remembered (`_HeaderCachingPolicy`). On the three
#: Enron mailboxes (6,946 messages) 512 entries answered 71,451 reads of
#: 84,326, 2,048 entries 71,598: the same speed for 18 MB less RSS (a
#: parsed header with its token tree is several kilobytes).
HEADER_CACHE_ENTRIES = 512


@functools.lru_cache(maxsize=HEADER_CACHE_ENTRIES)
def _parsed_header(name: str, value: str) -> Any:
    return email.policy.default.header_fetch_parse(name, value)


class _HeaderCachingPolicy(EmailPolicy):
    """``policy.default`` that parses each short header value once per process.

    The stdlib parses a header again at every read: Content-Type alone about
    eight times per message (by the parser, the MIME walk, the charset, the
    file name, the automated-mail check), and the same few Content-Type,
    Precedence or short Subject values recur across a mailbox. The header
    objects are immutable, and the same name and raw value always give the
    same object, so remembering them changes no record
    (``benchmarks/parse_headers.py`` compares every message both ways).
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        """The parsed header, from the cache when the value is short."""
        if hasattr(value, "name") or len(value) > HEADER_CACHE_VALUE_CHARS:
            return super().header_fetch_parse(name, value)
        return _parsed_header(name, value)


_CACHING_POLICY = _HeaderCachingPolicy()


def _load(data: bytes, problems: list[str], headers: HeaderParsing = "cached") -> Message:
    """Parse with the modern policy, falling back to compat32 if that fails."""
    try:
        policy = _CACHING_POLICY if headers == "cached" else email.policy.default
        return email.message_from_bytes(data, policy=policy)
    except Exception as error:  # noqa: BLE001 - the parser is stdlib code fed hostile bytes
        problems.append(f"parser fell back to compat32 ({type(error).__name__})")
        return email.message_from_bytes(data, policy=email.policy.compat32)


# ---------------------------------------------------------------- headers


def _export_sender_name(message: Message) -> str:
    """The plain name in an X-From header ("Allen, Phillip K. </O=ENRON/...>"), or ''."""
    raw = _raw_header(message, "X-From")
    if not raw:
        return ""
    text = _one_line(_decode_rfc2047(raw[:400]))
    text = re.sub(r"<[^<>]{0,300}>", " ", text)
    text = re.sub(r"@[A-Za-z]{1,30}\s*$", "", text.strip()).strip("\"' ")
    return "" if "@" in text or "/" in text else text[:200]


def _raw_header(message: Message, name: str) -> str | None:
    """The undecoded header value, bypassing the policy's header parser."""
    lowered = name.lower()
    for key, value in message.raw_items():
        if key.lower() == lowered:
            return value if isinstance(value, str) else str(value)
    return None


_WINDOWS_CHARSET = re.compile(r"^(?:x-)?(?:win|windows|cp|ms)[-_ ]?(\d{3,4})$", re.IGNORECASE)


def _charset_alias(declared: str) -> str:
    """Map common misspellings ("win-1252", "windows1252") to a codec Python knows."""
    name = declared.strip().strip("\"'")
    match = _WINDOWS_CHARSET.match(name)
    return f"cp{match.group(1)}" if match else name


def _decode_rfc2047(value: str) -> str:
    try:
        parts = []
        for chunk, charset in decode_header(value):
            if isinstance(chunk, str):
                parts.append(chunk)
            else:
                parts.append(_decode_bytes(chunk, charset, []))
        return "".join(parts)
    except Exception:  # noqa: BLE001 - broken encoded-words: keep the raw text
        return value


def _header(message: Message, name: str, problems: list[str]) -> str:
    """A header as decoded text ('' when missing); never raises."""
    try:
        value = message.get(name)
        if value is None:
            return ""
        text = str(value)
        if "\ufffd" in text:
            # The policy could not decode an encoded-word (unknown charset
            # name); decode it ourselves with the usual fallbacks.
            raw = _raw_header(message, name)
            if raw is not None and "=?" in raw:
                text = _decode_rfc2047(raw)
    except Exception:  # noqa: BLE001 - the modern policy chokes on some headers
        raw = _raw_header(message, name)
        if raw is None:
            return ""
        problems.append(f"malformed {name} header")
        text = _decode_rfc2047(raw)
    return _undo_surrogate_escapes(text[:MAX_HEADER_CHARS])


def _undo_surrogate_escapes(text: str) -> str:
    """Decode raw 8-bit bytes the parser left as lone surrogates (unencoded UTF-8 names).

    Lone surrogates cannot be written as UTF-8, so they would break the
    digest; the bytes are UTF-8 in practice, else Windows-1252.
    """
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", strip_control(text)).strip()


def _message_id(value: str) -> str | None:
    value = strip_control(value).strip()
    if not value:
        return None
    match = _MSGID.search(value)
    if match:
        return f"<{match.group(1)}>"
    token = value.split()[0].strip("<>")
    return f"<{token[:900]}>" if token else None


def _msgids(value: str) -> list[str]:
    value = strip_control(value)
    found = [f"<{m}>" for m in _MSGID.findall(value)]
    if not found and value.strip() and "@" in value:
        # Some mailers omit the angle brackets; accept bare id tokens.
        found = [f"<{token.strip('<>')}>" for token in value.split() if "@" in token]
    return found


def _bare_addresses(message: Message, name: str) -> list[tuple[str, str]] | None:
    """The addresses of a header that holds bare addresses only, read without
    the stdlib's full address grammar (which gives the same pairs for these,
    at a tenth of the cost); None for any other header."""
    raw = _raw_header(message, name)
    if raw is None or "@" not in raw:
        return None
    # Unfolded as the stdlib does (only CR and LF; str.splitlines cuts more).
    items = [item.strip() for item in _LINE_BREAKS.sub("", raw).split(",")]
    if not all(_BARE_ADDRESS.fullmatch(item) for item in items):
        return None
    return [("", item) for item in items]


def _addresses(message: Message, name: str, problems: list[str], headers: HeaderParsing = "cached") -> tuple[Address, ...]:
    """Parse an address header into `Address` records, robust to garbage."""
    pairs: list[tuple[str, str]] = []
    try:
        bare = _bare_addresses(message, name) if headers == "cached" else None
        if bare is not None:
            pairs = bare
        else:
            header = message.get(name)
            if header is None:
                return ()
            parsed = getattr(header, "addresses", None)
            if parsed is None:
                raise ValueError("no structured addresses")
            pairs = [(a.display_name or "", a.addr_spec or "") for a in parsed]
            # The modern parser drops what it cannot read; if it found nothing
            # in a non-empty header, try the lenient parser before giving up.
            if not pairs and str(header).strip() and "@" in str(header):
                raise ValueError("nothing parsed")
    except Exception:  # noqa: BLE001
        raw = _raw_header(message, name)
        if raw is None:
            return ()
        try:
            # Split the raw header first and decode each name afterwards: an
            # encoded word must never add addresses or separators of its own.
            pairs = [(_decode_rfc2047(display), addr) for display, addr in email.utils.getaddresses([raw])]
        except Exception:  # noqa: BLE001
            pairs = []
        if not pairs:
            problems.append(f"unreadable {name} header")
    addresses: list[Address] = []
    for display, addr in pairs[:MAX_ADDRESSES]:
        display_name = _one_line(_undo_surrogate_escapes(display)).strip("\"' ")
        address = _clean_email(addr)
        if not address and not display_name:
            continue
        if display_name.lower() == address:
            display_name = ""
        addresses.append(Address(name=display_name[:200], email=address))
    return tuple(addresses)


def _clean_email(value: str) -> str:
    """Lower-cased address, or '' when `value` is not address-shaped.

    A bare local name without a domain ("pallen") is kept: old archives
    such as Enron's hold them, and they still identify a correspondent.
    """
    value = _WHITESPACE.sub("", strip_control(value).strip().strip("<>")).lower()
    if not value or len(value) > 254 or not value.isprintable():
        return ""
    if "@" not in value:
        return value if re.fullmatch(r"[\w.+\-']{1,64}", value) else ""
    return value if _EMAIL_SHAPE.match(value) else ""


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def sane_date(moment: datetime | None) -> datetime | None:
    """`moment` in UTC if it lies in [`EARLIEST_DATE`, `LATEST_DATE`], else None; never raises."""
    if moment is None:
        return None
    try:
        moment = _as_utc(moment)
    except (OverflowError, ValueError):
        return None
    return moment if EARLIEST_DATE <= moment <= LATEST_DATE else None


def _arrival_date(raw: RawMessage, now: datetime | None) -> datetime:
    """The date of a message without a usable Date header: when it arrived.

    That is the source's internal date (IMAP INTERNALDATE, the Maildir
    delivery time, Exchange's received time), but never later than `now`:
    a file copied today must not date a message after a replayed clock.
    Without an internal date, the Unix epoch.
    """
    arrived = sane_date(raw.internal_date)
    if arrived is None:
        return EPOCH
    return min(arrived, now) if now is not None else arrived


def _date(message: Message, raw: RawMessage, problems: list[str], now: datetime | None) -> datetime:
    value = _raw_header(message, "Date")
    if value is None:
        problems.append("no Date header")
        return _arrival_date(raw, now)
    try:
        parsed = email.utils.parsedate_to_datetime(strip_control(value).strip())
        if parsed is None:
            raise ValueError("unparseable")
        moment = _as_utc(parsed)
    except Exception:  # noqa: BLE001 - Python raises several kinds here (OverflowError too)
        problems.append("unreadable Date header")
        return _arrival_date(raw, now)
    known = [t for t in (sane_date(raw.internal_date), now) if t is not None]
    latest = min(max(known), LATEST_DATE) + FUTURE_SLACK if known else LATEST_DATE
    if EARLIEST_DATE <= moment <= latest:
        return moment
    problems.append(f"implausible Date header ({moment:%Y-%m-%d})")
    return _arrival_date(raw, now)


# ---------------------------------------------------------------- bodies


def _walk(message: Message, problems: list[str]) -> _Body:
    """Visit at most `MAX_PARTS` parts, `MAX_DEPTH` deep, iteratively."""
    body = _Body()
    stack: list[tuple[Message, int]] = [(message, 0)]
    visited = 0
    while stack:
        part, depth = stack.pop()
        visited += 1
        if visited > MAX_PARTS:
            problems.append(f"too many parts (read {MAX_PARTS})")
            break
        ctype = _content_type(part)
        if ctype.startswith("multipart/"):
            if depth >= MAX_DEPTH:
                problems.append(f"too deep (stopped at {MAX_DEPTH} levels)")
                continue
            children = part.get_payload()
            if isinstance(children, list):
                # Reversed so the stack pops them in document order.
                stack.extend((child, depth + 1) for child in reversed(children) if isinstance(child, Message))
            continue
        _visit_leaf(part, ctype, body, problems)
    return body


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:  # noqa: BLE001
        return "application/octet-stream"


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - broken RFC 2231 parameters
        return None
    if not name:
        return None
    return _one_line(str(name))[:255] or None


def _visit_leaf(part: Message, ctype: str, body: _Body, problems: list[str]) -> None:
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:  # noqa: BLE001
        disposition = ""
    filename = _filename(part)

    if ctype == "text/calendar" or (filename and filename.lower().endswith(".ics")):
        body.calendar_invite = True
    if ctype.startswith("message/") and ctype != "message/delivery-status":
        body.has_attachment = True
        body.attached_message = True
        body.attachment_names.append(filename or "forwarded message")
        return
    is_text_body = ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename
    if not is_text_body:
        if disposition in ("attachment", "inline") or filename:
            body.has_attachment = True
            if filename:
                body.attachment_names.append(filename)
        return
    if ctype == "text/plain" and body.plain is None:
        body.plain = _decode_text(part, problems)
    elif ctype == "text/html" and body.html is None:
        body.html = _decode_text(part, problems)


def _decode_text(part: Message, problems: list[str]) -> str:
    """Decode a text part's payload, surviving bad transfer encodings and charsets."""
    payload: bytes | None = None
    try:
        decoded = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        problems.append("undecodable transfer encoding")
    else:
        # decode=True yields bytes for a leaf part and None for a container;
        # the stubs cannot tell which, so narrow here.
        if isinstance(decoded, bytes):
            payload = decoded
    if payload is None:
        raw = part.get_payload()
        payload = raw.encode("utf-8", "replace") if isinstance(raw, str) else b""
    defects = getattr(part, "defects", ()) or ()
    if any("Base64" in type(defect).__name__ for defect in defects):
        problems.append("broken base64")
    try:
        declared = part.get_content_charset()
    except Exception:  # noqa: BLE001
        declared = None
    text = _decode_bytes(payload, declared, problems)
    return text.replace("\x00", "")


def _decode_bytes(payload: bytes, declared: str | None, problems: list[str]) -> str:
    """Try the declared charset, then UTF-8, then cp1252, then latin-1."""
    candidates: list[str] = []
    if declared:
        try:
            candidates.append(codecs.lookup(_charset_alias(declared)).name)
        except (LookupError, ValueError):
            problems.append(f"undecodable charset {strip_control(declared)[:40]}")
    for fallback in _ENCODING_FALLBACKS:
        if fallback not in candidates:
            candidates.append(fallback)
    for charset in candidates:
        try:
            return payload.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
    # latin-1 cannot fail, so this is unreachable in practice; stay safe anyway.
    return payload.decode("utf-8", "replace")  # pragma: no cover


_LOST_BREAK = re.compile(r"(?:(?<=\s)|^)\?|\?(?=[^\s\w%&=/.:-])|\?(?=[A-Za-z](?![\w%]*=))", re.MULTILINE)


def _repair_lost_line_breaks(text: str, problems: list[str]) -> str:
    """Undo a conversion that replaced line breaks with "?".

    Part of the Enron archive (bodies labelled ``ANSI_X3.4-1968``) lost the
    line breaks of Lotus Notes mail to "?": "my ?bullet points".  Left
    alone, the quoted header blocks become invisible to `clean_body` and
    every break reads as a question. A real question mark follows a word
    and precedes a space; one that starts a word or follows a space is a
    lost break. Only bodies with several such marks are touched.
    """
    if text.count("?") < 3:
        return text
    breaks = _LOST_BREAK.findall(text[:50_000])
    if len(breaks) < 3 or len(breaks) * 3 < text[:50_000].count("?"):
        return text
    problems.append("line breaks lost to '?' (repaired)")
    return _LOST_BREAK.sub("\n", text)


def _links(text: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for match in _LINK.finditer(text):
        url = match.group(0).rstrip(_LINK_TRAILING)
        if len(url) > len("https://"):
            found.setdefault(url, None)
        if len(found) >= MAX_LINKS:
            break
    return tuple(found)


# ---------------------------------------------------------------- automated mail


# Only the outermost prefix counts: "FW: Re: x" forwards, "Re: FW: x" answers.
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|fw)\s*:", re.IGNORECASE)
# A block the author's mail program opens when forwarding.
_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{3,}\s*Forwarded\s+(?:by\b|message\b)|Begin\s+forwarded\s+message:)", re.IGNORECASE
)
# The start of older mail under a reply or a forward.
_EARLIER_MAIL = re.compile(
    r"^\s*(?:-{2,}\s*Original\s+Message\s*-{2,}|\*?From:\s|>|[^\s].{0,100}@.{0,60}\bon\s+\d{1,2}/\d{1,2}/\d{2,4}\b)",
    re.IGNORECASE,
)
_FORWARD_SCAN_LINES = 3_000
_FORWARD_LINE_MAX = 400


def is_forward(subject: str, text: str) -> bool:
    """True if a message with this subject and whole body text forwards earlier mail.

    Either the first block of older mail is a "Forwarded by" / "Forwarded
    message" block (Lotus Notes and Gmail forward under any subject), or the
    subject starts with Fw:/Fwd: and older mail follows (Outlook forwards
    under "-----Original Message-----", as it replies).
    """
    for line in text.split("\n", _FORWARD_SCAN_LINES)[:_FORWARD_SCAN_LINES]:
        if not line.strip() or len(line) > _FORWARD_LINE_MAX:
            continue
        if _FORWARD_MARKER.match(line):
            return True
        if _EARLIER_MAIL.match(line):
            return bool(_FORWARD_SUBJECT.match(subject))
    return False


def is_automated(message: Message, from_email: str) -> bool:
    """True if `message` was sent by a machine rather than a person.

    Looks at mailing-list and bulk headers (List-Id, List-Unsubscribe,
    Precedence), Auto-Submitted other than ``no``, auto-reply headers,
    delivery-status reports, noreply-style senders and out-of-office
    subjects.
    """

    def get(name: str) -> str:
        try:
            value = message.get(name)
        except Exception:  # noqa: BLE001 - fall back to the raw value
            value = _raw_header(message, name)
        return "" if value is None else str(value).strip().lower()

    if get("List-Id") or get("List-Unsubscribe") or get("List-Post"):
        return True
    if get("Precedence") in ("bulk", "list", "junk", "auto_reply"):
        return True
    auto_submitted = get("Auto-Submitted")
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if get("X-Autoreply") or get("X-Autorespond") or get("X-Auto-Response-Suppress") in ("all", "oof"):
        return True
    try:
        ctype = message.get_content_type().lower()
        report_type = (message.get_param("report-type") or "") if ctype == "multipart/report" else ""
    except Exception:  # noqa: BLE001
        ctype, report_type = "", ""
    if ctype == "message/delivery-status" or (ctype == "multipart/report" and str(report_type).lower() in ("delivery-status", "disposition-notification", "")):
        return True
    local, _, domain = (from_email or "").partition("@")
    if local and _AUTOMATED_SENDER.search(local):
        return True
    if domain and _AUTOMATED_DOMAIN.search(domain):
        return True
    subject = get("Subject")
    return bool(subject and _OUT_OF_OFFICE.search(subject))


def is_bulk_text(text: str) -> bool:
    """True if a received message's text reads like bulk mail rather than a person.

    Headers alone miss most newsletters and notices of old archives (17 of
    886 received Enron messages had a List-* or Precedence header), so the
    body is read too, once, at parse time (bodies are not stored): an
    unsubscribe / opt-out / "reply with REMOVE" footer, "you received this
    e-mail because", "do not reply to this e-mail", a newsletter's "In this
    issue" or "Sponsored by" line, or the look of marketing HTML (many
    links, image placeholders, "click here").
    """
    if not text:
        return False
    head = text[:_BULK_SCAN_CHARS]
    tail = text[-_BULK_SCAN_CHARS:] if len(text) > _BULK_SCAN_CHARS else ""
    if _BULK_BODY.search(head) or (tail and _BULK_BODY.search(tail)):
        return True
    if _NEWSLETTER_LINE.search(head):
        return True
    if len(_MARKETING_MARK.findall(head)) >= 3:
        return True
    return len(set(_LINK.findall(head))) >= BULK_LINKS
